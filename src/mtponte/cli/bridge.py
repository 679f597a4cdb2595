"""``mtponte bridge ...`` and ``mtponte kill``: run and talk to the file bridge."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mtponte.cli._common import console, err_console, run_safely
from mtponte.errors import ConfigError

bridge_app = typer.Typer(help="The Python ⇄ MT5 file bridge.", no_args_is_help=True)
DirOpt = Annotated[Path, typer.Option("--dir", help="Bridge folder (inbox/, outbox/, state/).")]


def _quotes(items: list[str] | None) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items or []:
        sym, sep, prices = item.partition("=")
        try:
            parts = [float(x) for x in prices.split(",")]
        except ValueError:
            parts = []
        if not sep or not sym or len(parts) not in (1, 2):
            raise ConfigError(f"--quote expects SYMBOL=BID[,ASK], got {item!r}")
        out[sym] = (parts[0], parts[-1])
    return out


@bridge_app.command("serve")
def serve(
    dir_: DirOpt,
    paper_db: Annotated[
        Path | None, typer.Option(help="Paper account SQLite file (default: <dir>/paper.sqlite).")
    ] = None,
    quote: Annotated[
        list[str] | None, typer.Option(help="SYMBOL=BID[,ASK] for the paper broker (repeatable).")
    ] = None,
    polling: Annotated[bool, typer.Option(help="Poll the inbox instead of file events.")] = False,
    poll_ms: Annotated[int, typer.Option(min=1, help="Polling interval.")] = 25,
    log_only: Annotated[bool, typer.Option(help="Validate and journal, send nothing.")] = False,
    max_volume: Annotated[float, typer.Option(help="Largest order volume.")] = 10.0,
    max_positions: Annotated[int, typer.Option(help="Largest number of open positions.")] = 1,
    dead_man_ms: Annotated[
        int, typer.Option(help="Refuse entries when Python's heartbeat is older (0 disables).")
    ] = 30_000,
    require_sl: Annotated[bool, typer.Option(help="Entries must carry a stop loss.")] = True,
    daily_loss_limit: Annotated[float | None, typer.Option(help="Money.")] = None,
    bars: Annotated[
        list[str] | None,
        typer.Option(help="SYMBOL:TF to publish as state/bars-SYMBOL-TF.json (repeatable)."),
    ] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
) -> None:
    """Run the reference executor (the EA's Python twin) against a paper account."""

    def body() -> None:
        from mtponte.bridge import Executor, ExecutorLimits
        from mtponte.brokers.paper import PaperBroker

        logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(message)s")
        limits = ExecutorLimits(
            log_only=log_only,
            max_volume=max_volume,
            max_positions=max_positions,
            dead_man_ms=dead_man_ms,
            require_sl=require_sl,
            daily_loss_limit=daily_loss_limit,
        )
        dir_.mkdir(parents=True, exist_ok=True)
        broker = PaperBroker(paper_db or dir_ / "paper.sqlite")
        for sym, (bid, ask) in _quotes(quote).items():
            broker.set_quote(sym, bid, ask)
        ex = Executor(dir_, broker, limits)
        subs = []
        for item in bars or []:
            sym, sep, tf = item.partition(":")
            if not sep or not sym or not tf:
                raise ConfigError(f"--bars expects SYMBOL:TF, got {item!r}")
            subs.append((sym, tf.upper()))
        ex.bar_subscriptions = tuple(subs)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if seconds is not None:
            threading.Timer(seconds, stop.set).start()
        err_console.print(
            f"executor on {dir_} ({'polling' if polling else 'file events'}); Ctrl-C stops"
        )
        ex.run(stop, polling=polling, poll_ms=poll_ms)
        ex.close()

    run_safely(body)


@bridge_app.command("send")
def send(
    dir_: DirOpt,
    kind: Annotated[
        str, typer.Argument(help="open, place, cancel, close, modify, close_all, ping")
    ],
    symbol: Annotated[str | None, typer.Option()] = None,
    side: Annotated[str | None, typer.Option(help="buy or sell")] = None,
    volume: Annotated[float | None, typer.Option()] = None,
    price: Annotated[float | None, typer.Option()] = None,
    sl: Annotated[float | None, typer.Option()] = None,
    tp: Annotated[float | None, typer.Option()] = None,
    ticket: Annotated[str | None, typer.Option()] = None,
    order_type: Annotated[str | None, typer.Option(help="stop or limit (place)")] = None,
    expiry_s: Annotated[float | None, typer.Option(help="place: seconds until expiry")] = None,
    ttl_ms: Annotated[int, typer.Option()] = 10_000,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the result.")] = 10.0,
) -> None:
    """Send one command and print its final result as JSON."""

    def body() -> None:
        from pydantic import ValidationError

        from mtponte.bridge import BridgeClient
        from mtponte.bridge.fileio import now_ms

        fields: dict[str, Any] = {
            k: v
            for k, v in dict(
                symbol=symbol,
                side=side,
                volume=volume,
                price=price,
                sl=sl,
                tp=tp,
                ticket=ticket,
                order_type=order_type,
            ).items()
            if v is not None
        }
        if expiry_s is not None:
            fields["expiry"] = now_ms() + int(expiry_s * 1000)
        client = BridgeClient(dir_)
        client.recover()
        client.heartbeat()
        try:
            cmd = client.command(kind, ttl_ms=ttl_ms, **fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(
                f"invalid command: {'.'.join(map(str, err['loc']))}: {err['msg']}"
            ) from None
        client.send(cmd)
        res = client.wait(cmd.id, timeout)
        console.print_json(res.model_dump_json(exclude_none=True))
        client.close()

    run_safely(body)


@bridge_app.command("status")
def status(dir_: DirOpt) -> None:
    """Heartbeat age, pending commands and positions of a bridge folder."""

    def body() -> None:
        from mtponte.bridge.fileio import BridgeDir, list_messages, now_ms, read_json

        d = BridgeDir(dir_)
        if not d.root.is_dir():
            raise ConfigError(f"{dir_} is not a bridge folder")
        t = Table(show_header=False, title=f"bridge {dir_}")
        for name in ("heartbeat.json", "python-heartbeat.json"):
            try:
                hb = read_json(d.state / name)
            except ValueError:
                hb = None
            age = f"{(now_ms() - hb['time']) / 1000:.1f}s ago" if hb and "time" in hb else "never"
            t.add_row(name.replace(".json", ""), age)
        t.add_row("kill switch", "ACTIVE" if d.kill_switch.exists() else "off")
        t.add_row("pending commands", str(len(list_messages(d.inbox))))
        try:
            pos = read_json(d.state / "positions.json") or {}
        except ValueError:
            pos = {}
        t.add_row("positions", str(len(pos.get("positions", []))))
        console.print(t)
        for p in pos.get("positions", []):
            console.print(json.dumps(p))

    run_safely(body)


@bridge_app.command("schema")
def schema(
    out: Annotated[Path, typer.Option(help="mql5 folder of the repository.")] = Path("mql5"),
) -> None:
    """Regenerate ``bridge-protocol.schema.json`` and the EA's ``Protocol.mqh``."""

    def body() -> None:
        from mtponte.bridge.mql5gen import write_generated

        for path in write_generated(out):
            err_console.print(f"wrote {path}")

    run_safely(body)


def kill(
    dir_: DirOpt,
    off: Annotated[bool, typer.Option("--off", help="Remove the kill switch.")] = False,
) -> None:
    """Activate the kill switch: the executor closes every position and refuses commands."""

    def body() -> None:
        from mtponte.bridge.fileio import BridgeDir, atomic_write_bytes

        d = BridgeDir(dir_)
        if not d.root.is_dir():
            raise ConfigError(f"{dir_} is not a bridge folder")
        if off:
            d.kill_switch.unlink(missing_ok=True)
            console.print("kill switch removed")
        else:
            atomic_write_bytes(d.kill_switch, time.strftime("%Y-%m-%dT%H:%M:%S").encode(), True)
            console.print(f"[bold red]KILL SWITCH ACTIVE[/] ({d.kill_switch})")

    run_safely(body)


@bridge_app.command("market")
def market(
    dir_: DirOpt,
    bars_file: Annotated[
        Path, typer.Option(help="Bars the simulated market trades (.npz from the demo, or CSV).")
    ],
    warm: Annotated[int, typer.Option(min=1, help="Bars traded before the first step.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol preset.")] = "WIN",
    timeframe: Annotated[str, typer.Option(help="Closed-bar subscription to publish.")] = "M5",
) -> None:
    """Run the reference executor on a paper account whose market replays BARS_FILE one
    bar per step: a conductor writes the bars traded so far to <dir>/market/step
    ('stop' ends). Simulated time: the monitor must use the market's clock. For demos and
    tests (`mtponte demo` runs it as its terminal)."""

    def body() -> None:
        from mtponte.cli._common import load_data, resolve_symbol
        from mtponte.cli._demo_market import load_market, serve_market

        logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(message)s")
        spec = resolve_symbol(symbol, None, None)
        if bars_file.suffix == ".npz":
            bars = load_market(bars_file)
        else:
            bars = load_data(bars_file, spec, "auto", False)
        done = serve_market(dir_, bars, spec, warm, timeframe.upper())
        err_console.print(f"market stopped after {done} bars")

    run_safely(body)
