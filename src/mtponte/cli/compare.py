"""``mtponte compare``: a live run against the backtest of the same bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mtponte.cli._common import console, load_data, resolve_symbol, run_safely
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from mtponte.live.config import LiveConfig
    from mtponte.reports.records import LiveRecord


def _config(config: Path | None, rec: LiveRecord, sets: list[str] | None) -> LiveConfig:
    from mtponte.live.config import load_config, with_strategy_overrides
    from mtponte.strategies.params import parse_assignments

    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config file {config} not found")
        cfg = load_config(config)
    elif rec.config:  # the run's own validated configuration, from the journal
        cfg = load_config(None, dict(rec.config))
    else:
        cfg = load_config(None)
    return with_strategy_overrides(cfg, parse_assignments(sets))


def compare(
    live: Annotated[
        str,
        typer.Option(
            "--live",
            help="Journal (URL, .sqlite file), trades.csv, or a folder holding journal.sqlite"
            " or trades.csv (a replay's --out).",
        ),
    ],
    data: Annotated[Path, typer.Option("--data", help="The bars file the run traded.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Monitor configuration (default: the run's, journaled)."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Strategy override name=value.")
    ] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Journal run id (latest).")] = None,
    time_tol: Annotated[float, typer.Option(help="Entry-time tolerance of a pair, s.")] = 60.0,
    price_tol_ticks: Annotated[float, typer.Option(help="Price tolerance, ticks.")] = 1.0,
    tz: Annotated[str | None, typer.Option("--tz", help="Exchange time zone.")] = None,
    server_tz: Annotated[str | None, typer.Option("--server-tz", help="MT5 file clock.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, mt5, rates or csv.")] = "auto",
    dayfirst: Annotated[bool, typer.Option("--dayfirst", help="Day-first CSV dates.")] = False,
) -> None:
    """Compare a live run with the backtest of the same bars: pair the trades, name the
    cause of every difference, compute the seed's metrics (identity, slippage, latency,
    uptime, Sharpe) with pass/fail. Writes compare.json, compare.html and
    equity.png in --out."""

    def body() -> None:
        from mtponte.live.journal.reader import read_live
        from mtponte.reports._png import equity_png
        from mtponte.reports.compare import CompareSettings, compare_runs
        from mtponte.reports.html import doc_curves, render_compare_html

        rec = read_live(live, run_id)
        cfg = _config(config, rec, set_)
        spec = resolve_symbol(cfg.symbol, tz or cfg.timezone, server_tz or cfg.server_timezone)
        bars = load_data(data, spec, fmt, dayfirst)
        settings = CompareSettings(time_tol_s=time_tol, price_tol_ticks=price_tol_ticks)
        report = compare_runs(rec, bars, spec, cfg.strategy, settings)
        out.mkdir(parents=True, exist_ok=True)
        doc = report.to_dict()
        (out / "compare.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        (out / "compare.html").write_text(render_compare_html(report), encoding="utf-8")
        (out / "equity.png").write_bytes(equity_png(doc_curves(report)))
        counts = ", ".join(f"{k} {v}" for k, v in doc["counts"].items())
        table = Table(title=f"live vs backtest: {counts}")
        for col in ("metric", "value", "target", ""):
            table.add_column(col)
        for k, c in doc["checks"].items():
            v = c["value"]
            shown = f"{v:,.4g}" if isinstance(v, float) else str(v)
            mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "n/a"}[c["pass"]]
            table.add_row(k, shown, c["target"], mark)
        console.print(table)
        for p in report.unmatched()[:20]:
            console.print(f"{p.status}: {p.cause}", highlight=False, markup=False)
        for name in ("compare.json", "compare.html", "equity.png"):
            console.print(f"{name}: {out / name}")

    run_safely(body)


def guard(
    config: Annotated[Path, typer.Option("--config", help="Monitor configuration (TOML).")],
    reset: Annotated[
        bool, typer.Option("--reset", help="Remove the flag: new entries allowed again.")
    ] = False,
) -> None:
    """Show the daily guard's state (exit 1 while tripped), or --reset it. A tripped
    guard keeps the monitor close-only (no new entries, exits managed) until reset."""

    def body() -> None:
        from mtponte.live.config import load_config, resolve_paths

        if not config.is_file():
            raise ConfigError(f"config file {config} not found")
        flag = resolve_paths(load_config(config), config.parent).guard.flag_file
        if flag is None:
            raise ConfigError("guard.flag_file is not set: the guard resets when the run restarts")
        if reset:
            existed = flag.exists()
            flag.unlink(missing_ok=True)
            console.print(f"guard reset ({flag} removed)" if existed else "guard was not tripped")
            return
        if not flag.exists():
            console.print(f"guard not tripped ({flag} absent)")
            return
        console.print(f"[bold red]GUARD TRIPPED[/] ({flag}): {flag.read_text(encoding='utf-8')}")
        raise typer.Exit(1)

    run_safely(body)
