"""``mtponte status``: one screen about the running monitor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mtponte.cli._common import console, run_safely


def _fmt_age(s: float | None, stale: float) -> str:
    if s is None:
        return "[dim]n/a[/]"
    color = "green" if s <= stale else "red"
    return f"[{color}]{s:,.1f} s ago[/]"


def _render(st: dict[str, Any], stale: float) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    m, j = st["monitor"], st["journal"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    run = m.get("run") or {}
    head.add_row(
        "symbol", f"{st['symbol']}  (run {run.get('id', '?')}, mode {run.get('mode', '?')})"
    )
    head.add_row("monitor heartbeat (file)", _fmt_age(m["heartbeat_file_age_s"], stale))
    head.add_row("monitor heartbeat (journal)", _fmt_age(m["journal_heartbeat_age_s"], stale))
    head.add_row(
        "last bar", f"{m.get('last_bar') or 'n/a'}  (seen {_fmt_age(m['feed_lag_s'], stale)})"
    )
    b = st.get("bridge")
    if b is None:
        head.add_row("EA", "[dim]no bridge folder configured[/]")
    elif "error" in b:
        head.add_row("EA", f"[red]{escape(b['error'])}[/]")
    else:
        conn = "connected" if b.get("terminal_connected") else "[red]DISCONNECTED[/]"
        head.add_row("EA heartbeat", f"{_fmt_age(b['ea_heartbeat_age_s'], stale)}, terminal {conn}")
    kill = st["kill_switch"]
    ks = "[bold red]ON[/]" if kill["active"] else "[green]off[/]"
    head.add_row("kill switch", f"{ks}  ({kill['file'] or 'no file configured'})")
    if "error" in j:
        head.add_row("journal", f"[red]{escape(j['error'])}[/]")
    else:
        head.add_row(
            f"day {j['day']}",
            f"{j['trades_today']} trade(s), P&L {j['pnl_today']:,.2f}"
            f"   (all runs: {j['trades_total']} trades, {j['pnl_total']:,.2f})",
        )
    console.print(Panel(head, title="mtponte status", expand=False))

    acct = st.get("account") or {}
    bpos = (b or {}).get("positions") if b and "error" not in b else None
    positions = bpos if bpos is not None else acct.get("positions", [])
    orders = (b or {}).get("orders") if b and "error" not in b else acct.get("orders", [])
    pt = Table(title="positions and pending orders")
    for col in ("what", "ticket", "side", "volume/type", "price", "SL", "TP", "comment"):
        pt.add_column(col)
    for p in positions:
        pt.add_row(
            "position",
            str(p.get("ticket")),
            str(p.get("side")),
            str(p.get("volume")),
            str(p.get("open_price", p.get("price"))),
            str(p.get("sl")),
            str(p.get("tp")),
            escape(str(p.get("comment", ""))),
        )
    for o in orders or []:
        pt.add_row(
            "order",
            str(o.get("ticket")),
            str(o.get("side")),
            str(o.get("type", o.get("order_type"))),
            str(o.get("price")),
            str(o.get("sl", "")),
            str(o.get("tp", "")),
            escape(str(o.get("comment", ""))),
        )
    if not positions and not orders:
        pt.add_row("[dim]none[/]", "", "", "", "", "", "", "")
    console.print(pt)

    lt = Table(title="risk limits")
    for col in ("limit", "value", "now", "used"):
        lt.add_column(col)
    for lim in st["limits"]:
        used = lim["used"]
        shown = (
            ""
            if used is None
            else f"[{'red' if used >= 1 else 'yellow' if used >= 0.7 else 'green'}]{used:.0%}[/]"
        )
        lt.add_row(
            lim["limit"],
            "off" if lim["value"] is None else str(lim["value"]),
            "" if lim["now"] is None else str(lim["now"]),
            shown,
        )
    console.print(lt)
    at = Table(title="last alerts")
    at.add_column("time")
    at.add_column("kind")
    at.add_column("text", overflow="fold")
    for a in st["alerts"]:
        at.add_row(a.get("time", "")[:19], a.get("kind", ""), escape(a.get("text", "")))
    if not st["alerts"]:
        at.add_row("[dim]none[/]", "", "")
    console.print(at)


def status(
    config: Annotated[
        Path | None, typer.Option("--config", help="Monitor configuration (TOML).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
    stale_after: Annotated[
        float, typer.Option(min=0, help="Ages above this many seconds show in red.")
    ] = 600.0,
    last: Annotated[int, typer.Option(min=0, help="How many recent alerts to show.")] = 10,
) -> None:
    """Show the monitor's state from its journal, heartbeat, bridge folder, paper
    account, kill switch and alert history: heartbeat ages, positions and pending orders,
    today's trades and P&L, each risk limit and how much of it is used, last alerts."""

    def body() -> None:
        from mtponte.errors import ConfigError
        from mtponte.live.config import load_config, resolve_paths
        from mtponte.ops.status import collect

        if config is not None and not config.is_file():
            raise ConfigError(f"config file {config} not found")
        cfg = load_config(config)
        if config is not None:
            cfg = resolve_paths(cfg, config.parent)
            bd = cfg.broker.bridge_dir  # resolve_paths leaves this one to the broker
            if bd is not None and not bd.is_absolute():
                broker = cfg.broker.model_copy(update={"bridge_dir": config.parent / bd})
                cfg = cfg.model_copy(update={"broker": broker})
        st = collect(cfg, last_alerts=last)
        if as_json:
            typer.echo(json.dumps(st, indent=2, default=str))
        else:
            _render(st, stale_after)

    run_safely(body)
