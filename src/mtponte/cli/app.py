"""The ``mtponte`` Typer application."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mtponte.cli._common import (
    check_timeframe,
    console,
    err_console,
    load_data,
    progress,
    resolve_symbol,
    run_safely,
)
from mtponte.cli.bridge import bridge_app, kill
from mtponte.cli.compare import compare, guard
from mtponte.cli.follow import follow
from mtponte.cli.live import config_app, live, replay
from mtponte.cli.publish import publish
from mtponte.cli.server import admin_app, server
from mtponte.cli.status import status
from mtponte.cli.supervise import supervise
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from mtponte.domain.bars import Bars

app = typer.Typer(
    help="mtponte: backtested Python strategies live on MetaTrader 5.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Market data tools.", no_args_is_help=True)
app.add_typer(data_app, name="data")

app.add_typer(bridge_app, name="bridge")
app.command("kill")(kill)
app.add_typer(admin_app, name="admin")
app.command("server")(server)
app.add_typer(config_app, name="config")
app.command("replay")(replay)
app.command("live")(live)
app.command("publish")(publish)
app.command("follow")(follow)
app.command("compare")(compare)
app.command("guard")(guard)
app.command("supervise")(supervise)
app.command("status")(status)

SymbolOpt = Annotated[str, typer.Option("--symbol", help="Symbol preset (WIN, EURUSD).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Strategy parameter override name=value (repeatable)."),
]
TzOpt = Annotated[str | None, typer.Option("--tz", help="Exchange time zone (default: symbol's).")]
ServerTzOpt = Annotated[
    str | None,
    typer.Option("--server-tz", help="Broker server clock zone for MT5 files (default: symbol's)."),
]
FmtOpt = Annotated[str, typer.Option("--format", help="auto, mt5, rates or csv.")]
DayFirstOpt = Annotated[bool, typer.Option("--dayfirst", help="Generic CSV dates are day-first.")]


def main() -> None:
    """Console-script entry point."""
    app()


def _summary(stats: dict[str, object], title: str) -> Table:
    table = Table(title=title, show_header=False)
    for k, v in stats.items():
        table.add_row(k, f"{v:,.4f}" if isinstance(v, float) else str(v))
    return table


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-out"),
    days: Annotated[int, typer.Option(min=30, help="Synthetic sessions.")] = 250,
    seed: Annotated[int, typer.Option(help="Synthetic data seed.")] = 7,
    copy_days: Annotated[
        int,
        typer.Option(min=0, help="Last sessions the live monitor trades with copiers (0: none)."),
    ] = 15,
    bridge_days: Annotated[
        int,
        typer.Option(
            min=0, help="Sessions the monitor trades over the file bridge (0: skip that part)."
        ),
    ] = 8,
) -> None:
    """Backtest the elephant-bar strategy on bundled synthetic WIN M5 data, replay the
    same bars through the streaming engine, and check both give identical trades. Then
    the real system trades the last sessions: the monitor through the file bridge to the
    reference executor in a separate process (a paper account, simulated time), with a
    live dashboard, the kill switch pulled and released mid-run, and a table of trades,
    identity with the backtest and latencies (demo-out/bridge). Then the live monitor
    trades the last sessions on a netting paper account that is
    published as a master to a copy server on 127.0.0.1, and three followers copy it: a
    standard account at a '.pro' broker, a cent account and a netting one with a fixed
    lot."""

    def body() -> None:
        from mtponte.backtest import StreamingBacktest, run_backtest
        from mtponte.backtest.report import write_outputs
        from mtponte.cli._demo_bridge import BridgeDemo, bridge_demo
        from mtponte.data import save_bars_csv, synth_win
        from mtponte.domain import WIN
        from mtponte.strategies import ElephantParams

        p = ElephantParams()
        with progress() as prog:
            task = prog.add_task("generating synthetic WIN M5", total=None)
            bars = synth_win(days=days, seed=seed)
            prog.update(task, total=1, completed=1)
            # the executor process starts now and loads while the backtest runs
            bridge = BridgeDemo(out, bars, WIN, bridge_days) if bridge_days else None
            t0 = time.perf_counter()
            result = run_backtest(bars, WIN, p)
            t_batch = time.perf_counter() - t0
            replay = StreamingBacktest(WIN, p)
            task = prog.add_task("streaming replay", total=len(bars))
            for i, bar in enumerate(bars):
                replay.on_bar(bar)
                if i % 2000 == 0:
                    prog.update(task, completed=i)
            replay.finish()
        out.mkdir(parents=True, exist_ok=True)
        save_bars_csv(bars, out / "bars.csv")
        paths = write_outputs(result, out, {"data": "synthetic WIN M5", "seed": seed})
        same = replay.trades == result.trades()
        console.print(
            _summary(result.stats, f"Elephant bar on synthetic WIN M5 ({len(bars):,} bars)")
        )
        console.print(
            f"batch backtest: {t_batch * 1000:.1f} ms "
            "(the first call in a process also loads or compiles the numba kernels)"
        )
        console.print(
            (
                "[green]streaming replay == batch backtest[/]"
                if same
                else "[red]streaming replay DIFFERS from batch backtest[/]"
            )
            + f" ({len(replay.trades)} trades)"
        )
        for name, path in paths.items():
            console.print(f"{name}: {path}")
        if not same:
            raise typer.Exit(1)
        if bridge is not None and not bridge_demo(bridge, console):
            raise typer.Exit(1)
        if copy_days:
            _copy_demo(out, bars, copy_days)

    run_safely(body)


def _copy_demo(out: Path, bars: Bars, sessions: int) -> None:
    import numpy as np

    from mtponte.cli._demo_copy import FOLLOWERS, run_copy_demo
    from mtponte.domain import WIN

    days = bars.day  # local session day of each bar, increasing
    start = int(np.searchsorted(days, np.unique(days)[-min(sessions, len(np.unique(days)))]))
    tail = bars[start:]
    with progress() as prog:
        task = prog.add_task(
            f"live monitor on {sessions} sessions, published, 3 followers copying",
            total=len(tail),
        )
        summary = run_copy_demo(out, tail, WIN, on_bar=lambda: prog.advance(task))
    table = Table(
        title="Copy trading: master = the live monitor "
        f"({summary['master_trades']} trades, WIN, netting)"
    )
    for col in ("follower", "symbol", "copies", "lots", "ok", "skip", "fail", "p50/p99 ms", "end"):
        table.add_column(col, overflow="fold")
    ok = True
    for f, row in zip(FOLLOWERS, summary["followers"], strict=True):
        p50, p99 = row["latency_p50_ms"], row["latency_p99_ms"]
        lat = "-" if p50 is None else f"{p50:.0f}/{p99:.0f}"
        want = _expected_net(summary["master_positions"], f.settings, f.cent)
        ok &= abs(row["positions"] - want) < 1e-9
        # Every published master position copied once, at the follower's own size.
        ok &= row["copies"] == summary["published_opens"] and row["failed"] == 0
        ok &= not row["lots"] or row["lots"] == [_expected_net(1.0, f.settings, f.cent)]
        table.add_row(
            f.label,
            row["symbol"],
            str(row["copies"]),
            ", ".join(f"{v:g}" for v in row["lots"]),
            str(row["copied"]),
            str(row["skipped"]),
            str(row["failed"]),
            lat,
            f"{row['positions']:g}",
        )
    console.print(table)
    unseen = summary["master_trades"] - summary["published_opens"]
    console.print(
        f"{summary['published_opens']} master positions published"
        + (
            f"; {unseen} trade(s) opened and closed inside one bar were never held between "
            "two polls, so there was nothing to copy"
            if unseen > 0
            else ""
        )
        + ". ok = executions, latency = master event → follower fill.",
        highlight=False,
    )
    console.print(
        "[green]every follower holds what the master holds, sized by its rules[/]"
        if ok
        else "[red]a follower is out of step with the master[/]"
    )
    (out / "copy" / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    console.print(f"copy server database, follower state, summary.json: {out / 'copy'}")
    if not ok:
        raise typer.Exit(1)


def _expected_net(master: float, settings: dict[str, object], cent: bool) -> float:
    if master == 0:
        return 0.0
    if settings.get("volumeMode") == "fixed":
        import numpy as np

        return float(np.sign(master)) * float(settings["volumeFixed"])  # type: ignore[arg-type]
    return master * (100 if cent else 1)


@app.command()
def backtest(
    data: Annotated[
        Path, typer.Argument(help="Bars file (MT5 export, copy_rates CSV/Parquet, CSV).")
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    symbol: SymbolOpt = "WIN",
    timeframe: Annotated[
        str | None, typer.Option(help="M1..H4, D1 (checked against the data).")
    ] = None,
    set_: SetOpt = None,
    tz: TzOpt = None,
    server_tz: ServerTzOpt = None,
    fmt: FmtOpt = "auto",
    dayfirst: DayFirstOpt = False,
) -> None:
    """Backtest DATA; write trades.csv, stats.json and report.html to --out."""

    def body() -> None:
        from mtponte.backtest import run_backtest
        from mtponte.backtest.report import write_outputs
        from mtponte.strategies.params import ElephantParams, parse_assignments

        params = ElephantParams.from_overrides(parse_assignments(set_))
        spec = resolve_symbol(symbol, tz, server_tz)
        bars = load_data(data, spec, fmt, dayfirst)
        check_timeframe(bars, timeframe)
        with progress() as prog:
            task = prog.add_task(f"backtesting {len(bars):,} bars", total=None)
            result = run_backtest(bars, spec, params)
            prog.update(task, total=1, completed=1)
        paths = write_outputs(result, out, {"data": str(data), "timeframe": timeframe})
        console.print(_summary(result.stats, f"{spec.name}: {data.name}"))
        for name, path in paths.items():
            console.print(f"{name}: {path}")

    run_safely(body)


@app.command()
def optimize(
    data: Annotated[Path, typer.Argument(help="Bars file.")],
    out: Annotated[
        Path,
        typer.Option(help="Output folder (optimize.csv/.json or walkforward.csv/.json)."),
    ],
    grid: Annotated[
        list[str],
        typer.Option("--grid", help="name=v1,v2,... (repeatable); the sweep is their product."),
    ],
    symbol: SymbolOpt = "WIN",
    set_: SetOpt = None,
    rank_by: Annotated[str, typer.Option(help="Metric to rank by (descending).")] = "sharpe",
    min_trades: Annotated[int, typer.Option(help="Rank sets with fewer trades last.")] = 1,
    forward: Annotated[
        str | None,
        typer.Option(
            help="Forward period, as in MT5's tester: a fraction of the sessions at the end "
            "(1/3) or a start date (2025-06-01). Sets are ranked on the in-sample part only."
        ),
    ] = None,
    walk_forward: Annotated[
        int | None,
        typer.Option(
            help="N rolling windows: pick the best set in sample, measure it on the next "
            "out-of-sample block."
        ),
    ] = None,
    is_ratio: Annotated[
        int, typer.Option(help="Walk-forward in-sample length, in out-of-sample lengths.")
    ] = 3,
    heatmap: Annotated[
        str | None,
        typer.Option(help="p1,p2: write heatmap.html of --rank-by over two grid parameters."),
    ] = None,
    tz: TzOpt = None,
    server_tz: ServerTzOpt = None,
    fmt: FmtOpt = "auto",
    dayfirst: DayFirstOpt = False,
) -> None:
    """Sweep a parameter grid on all cores; write a ranked optimize.csv. With --forward
    or --walk-forward, rank in sample and report out-of-sample metrics side by side."""

    def body() -> None:
        from mtponte.cli._optimize import run_optimize

        run_optimize(
            data=data,
            out=out,
            grid=grid,
            symbol=symbol,
            set_=set_,
            rank_by=rank_by,
            min_trades=min_trades,
            tz=tz,
            server_tz=server_tz,
            fmt=fmt,
            dayfirst=dayfirst,
            forward=forward,
            walk_forward=walk_forward,
            is_ratio=is_ratio,
            heatmap=heatmap,
        )

    run_safely(body)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Output CSV.")],
    symbol: SymbolOpt = "WIN",
    days: Annotated[int, typer.Option(min=1, help="Business days.")] = 250,
    seed: Annotated[int, typer.Option(help="RNG seed.")] = 7,
) -> None:
    """Write seeded synthetic M5 sessions (09:00–18:25, tick-rounded) as CSV."""

    def body() -> None:
        from mtponte.data import save_bars_csv, synth_win
        from mtponte.domain.symbols import get_symbol

        spec = get_symbol(symbol)
        if spec.tick_size != 5.0:
            raise ConfigError("the synthetic generator models WIN only (use --symbol WIN)")
        bars = synth_win(days=days, seed=seed, spec=spec)
        save_bars_csv(bars, out)
        err_console.print(f"wrote {len(bars):,} bars to {out}")

    run_safely(body)
