"""``mtponte replay``, ``mtponte live`` and ``mtponte config check``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mtponte.cli._common import (
    check_timeframe,
    console,
    err_console,
    load_data,
    progress,
    resolve_symbol,
    run_safely,
)
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from mtponte.brokers.base import Broker
    from mtponte.domain.bars import Bars
    from mtponte.domain.symbols import SymbolSpec
    from mtponte.live.alerting import MonitorAlerts
    from mtponte.live.config import LiveConfig
    from mtponte.live.journal import Journal
    from mtponte.live.pollfeeds import PolledFeed
    from mtponte.live.replay import ReplayRun
    from mtponte.live.tradelog import TradeLog

config_app = typer.Typer(help="Monitor configuration.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Monitor configuration (TOML).", exists=False)
]


def _load(config: Path | None, sets: list[str] | None) -> LiveConfig:
    from mtponte.live.config import load_config, with_strategy_overrides
    from mtponte.strategies.params import parse_assignments

    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} not found")
    return with_strategy_overrides(load_config(config), parse_assignments(sets))


@dataclass
class _Monitor:
    """What a monitor run writes to: journal, seed trade CSV, alerts and a per-bar tick
    (alerts, heartbeat file)."""

    journal: Journal
    trade_log: TradeLog
    alerts: MonitorAlerts
    heartbeat: Path | None

    def tick(self) -> None:
        self.alerts.on_bar()
        if self.heartbeat is not None:
            self.heartbeat.touch()


@contextmanager
def _monitor(
    cfg: LiveConfig, journal_url: str, logs_dir: Path, feed: str, spec: SymbolSpec
) -> Iterator[_Monitor]:
    """Open the journal (a run started), the rotating log, the trade CSV and the alerts;
    close them all, whatever happens."""
    from mtponte.live.alerting import MonitorAlerts
    from mtponte.live.journal import open_journal
    from mtponte.live.tradelog import TradeLog, setup_file_log

    journal = open_journal(journal_url)
    handler = setup_file_log(
        logs_dir / "monitor_live.log", cfg.journal.log_max_bytes, cfg.journal.log_backups
    )
    alerts = MonitorAlerts(cfg, journal, logs_dir)
    hb = cfg.runner.heartbeat_file
    if hb is not None:
        hb.parent.mkdir(parents=True, exist_ok=True)
        hb.touch()
    try:
        journal.start_run(
            cfg.runner.mode, cfg.broker.kind, feed, spec.name, cfg.model_dump(mode="json")
        )
        yield _Monitor(journal, TradeLog(logs_dir / "mt5_trades.csv", spec.timezone), alerts, hb)
    finally:
        alerts.close()
        journal.close()
        logging.getLogger("mtponte").removeHandler(handler)
        handler.close()


def _run(
    cfg: LiveConfig,
    data: Path,
    symbol: str,
    timeframe: str | None,
    journal_url: str,
    logs_dir: Path,
    tz: str | None,
    server_tz: str | None,
    fmt: str,
    dayfirst: bool,
    label: str,
    watch: Path | None = None,
) -> tuple[Bars, SymbolSpec, ReplayRun]:
    from mtponte.live.config import ConfigWatcher
    from mtponte.live.replay import replay_paper

    spec = resolve_symbol(symbol, tz or cfg.timezone, server_tz or cfg.server_timezone)
    bars = load_data(data, spec, fmt, dayfirst)
    check_timeframe(bars, timeframe)
    with _monitor(cfg, journal_url, logs_dir, label, spec) as m, progress() as prog:
        m.journal.config_change(True, {"start": str(data)})
        task = prog.add_task(f"replaying {len(bars):,} bars", total=len(bars))

        def on_event(_ev: object) -> None:
            m.tick()
            prog.advance(task)

        run = replay_paper(
            bars,
            spec,
            cfg,
            m.journal,
            m.trade_log,
            on_event=on_event,
            watcher=ConfigWatcher(watch) if watch is not None else None,
            on_start=m.alerts.on_start,
        )
    return bars, spec, run


def replay(
    data: Annotated[Path, typer.Argument(help="Bars file (MT5 export, copy_rates, CSV).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol preset (WIN, EURUSD).")] = "WIN",
    via: Annotated[
        str,
        typer.Option(
            help="paper: the runner on a paper account; bridge: through the file bridge to "
            "the reference executor as a child process."
        ),
    ] = "paper",
    config: ConfigOpt = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Strategy parameter override name=value (repeatable)."),
    ] = None,
    timeframe: Annotated[str | None, typer.Option(help="M1..H4, D1 (checked).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Exchange time zone.")] = None,
    server_tz: Annotated[str | None, typer.Option("--server-tz", help="MT5 file clock.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, mt5, rates or csv.")] = "auto",
    dayfirst: Annotated[bool, typer.Option("--dayfirst", help="Day-first CSV dates.")] = False,
) -> None:
    """Replay DATA through the live runner (strategy → risk → broker → journal) on a paper
    account (--via paper), or through the file bridge to the reference executor running
    as a child process on a paper account (--via bridge); write the same
    trades.csv/stats.json/report.html as `mtponte backtest`, plus journal.sqlite and
    logs/ in --out. A replay always sends orders, whatever runner.mode says."""

    def body() -> None:
        from mtponte.backtest.from_trades import result_of
        from mtponte.backtest.report import write_outputs

        if via not in ("paper", "bridge"):
            raise ConfigError(f"--via {via}: use paper or bridge")
        cfg = _load(config, set_)
        flag = cfg.guard.flag_file
        cfg = cfg.model_copy(
            update={
                "runner": cfg.runner.model_copy(update={"mode": "trade"}),
                # a replay's guard flag lives in --out, never in the working folder
                "guard": cfg.guard.model_copy(
                    update={"flag_file": None if flag is None else out / flag.name}
                ),
            }
        )
        out.mkdir(parents=True, exist_ok=True)
        if via == "bridge":
            from mtponte.cli._replay_bridge import replay_bridge

            spec = resolve_symbol(symbol, tz or cfg.timezone, server_tz or cfg.server_timezone)
            bars = load_data(data, spec, fmt, dayfirst)
            check_timeframe(bars, timeframe)
            with progress() as prog:
                what = f"replaying {len(bars):,} bars via the bridge"
                task = prog.add_task(what, total=len(bars))
                rb = replay_bridge(bars, spec, cfg, out, lambda: prog.advance(task))
            trades = rb.runner.trades
        else:
            bars, spec, run = _run(
                cfg,
                data,
                symbol,
                timeframe,
                f"sqlite:///{(out / 'journal.sqlite').as_posix()}",
                out / "logs",
                tz,
                server_tz,
                fmt,
                dayfirst,
                "replay",
            )
            trades = run.trades
        result = result_of(bars, spec, cfg.strategy, trades)
        paths = write_outputs(result, out, {"data": str(data), "timeframe": timeframe})
        console.print(f"{len(trades)} trades; net {result.stats['net_money']:.2f}")
        for name, path in paths.items():
            console.print(f"{name}: {path}")

    run_safely(body)


def live(
    config: Annotated[Path, typer.Option("--config", help="Monitor configuration (TOML).")],
    seconds: Annotated[
        float | None,
        typer.Option(min=0, help="Real-time feeds: stop after this long (default: Ctrl-C)."),
    ] = None,
) -> None:
    """Run the monitor from --config. Feeds: replay (a bar file, [feed] path, speed;
    paper broker), bridge (the EA's closed bars in [feed] bridge_dir, in real time, with
    broker.kind = "bridge") or mt5 (the MetaTrader5 package's closed bars, with
    broker.kind = "mt5"); real-time feeds run until Ctrl-C, the account left as it is.
    Starts in log-only mode unless
    runner.mode = "trade".
    Relative paths in the file are taken from the file's folder. Edits to the file are
    picked up while running: risk limits, runner.mode and the heartbeat apply from the
    next bar; other changes, or an invalid file, are refused (journaled, logged) and
    the running values kept."""

    def body() -> None:
        from mtponte.live.config import resolve_paths

        cfg = resolve_paths(_load(config, None), config.parent)
        if cfg.feed.kind == "bridge":
            _live_bridge(cfg, config, seconds)
            return
        if cfg.feed.kind == "mt5":
            _live_mt5(cfg, config, seconds)
            return
        if cfg.feed.kind == "csv_tail":
            _live_csv_tail(cfg, config, seconds)
            return
        if cfg.feed.kind != "replay":
            raise ConfigError(f"feed.kind: {cfg.feed.kind!r} is not run by `live` yet")
        if cfg.feed.path is None:
            raise ConfigError("feed.path: required for the replay feed")
        if cfg.broker.kind != "paper":
            raise ConfigError(f"broker.kind: {cfg.broker.kind!r} is not wired to `live` yet")
        _, _, run = _run(
            cfg,
            cfg.feed.path,
            cfg.symbol,
            None,
            cfg.journal.url,
            cfg.journal.logs_dir,
            None,
            None,
            cfg.feed.format,
            cfg.feed.dayfirst,
            cfg.feed.kind,
            watch=config,
        )
        trades = run.trades
        console.print(f"mode {cfg.runner.mode}: {len(trades)} trades; journal {cfg.journal.url}")

    run_safely(body)


def _live_bridge(cfg: LiveConfig, config: Path, seconds: float | None) -> None:
    """The monitor in real time on the bridge: the EA's bars, orders through the EA."""
    from mtponte.brokers.bridge import BridgeBroker
    from mtponte.live.pollfeeds import BridgeFeed

    f = cfg.feed
    assert f.bridge_dir is not None and f.timeframe is not None  # checked by the config
    if cfg.broker.kind != "bridge" or cfg.broker.bridge_dir is None:
        raise ConfigError(
            "broker.kind: the bridge feed trades through the bridge: set broker.kind = "
            "'bridge' and broker.bridge_dir"
        )
    spec = resolve_symbol(cfg.symbol, cfg.timezone, cfg.server_timezone)
    trade_symbol = cfg.trade_symbol or spec.name
    feed = BridgeFeed(f.bridge_dir, trade_symbol, f.timeframe, poll_s=f.poll_s, backfill=f.backfill)
    broker = BridgeBroker(cfg.broker.bridge_dir, timeout_s=cfg.broker.bridge_timeout_s)
    where = f"through the bridge {f.bridge_dir}"
    _live_polled(cfg, config, seconds, spec, feed, broker, "bridge", where)


def _live_csv_tail(cfg: LiveConfig, config: Path, seconds: float | None) -> None:
    """The monitor in real time on a bar file that grows, trading through the bridge or
    a MetaTrader5 terminal (a paper account has no market moving in real time)."""
    from mtponte.live.csvtail import CsvTailFeed

    f = cfg.feed
    assert f.path is not None and f.timeframe is not None  # checked by the config
    spec = resolve_symbol(cfg.symbol, cfg.timezone, cfg.server_timezone)
    feed = CsvTailFeed(
        f.path,
        f.timeframe,
        spec.timezone,
        spec.server_timezone,
        fmt=f.format,
        dayfirst=f.dayfirst,
        poll_s=f.poll_s,
        backfill=f.backfill,
        watch=f.watch,
        force_polling=f.force_polling,
    )
    try:
        if cfg.broker.kind == "mt5":
            _live_mt5(cfg, config, seconds, feed)
        elif cfg.broker.kind == "bridge" and cfg.broker.bridge_dir is not None:
            from mtponte.brokers.bridge import BridgeBroker

            broker = BridgeBroker(cfg.broker.bridge_dir, timeout_s=cfg.broker.bridge_timeout_s)
            _live_polled(cfg, config, seconds, spec, feed, broker, "csv_tail", f"from {f.path}")
        else:
            raise ConfigError(
                "broker.kind: the csv_tail feed trades through 'bridge' or 'mt5' (a paper "
                "account has no market moving in real time; replay a file with kind = 'replay')"
            )
    finally:
        feed.close()


def _live_mt5(
    cfg: LiveConfig, config: Path, seconds: float | None, feed: PolledFeed | None = None
) -> None:
    """The monitor in real time on a MetaTrader5 terminal: its closed bars
    (``copy_rates_from_pos``, unless another ``feed`` is given), orders through
    ``order_send``."""
    import os

    from mtponte.brokers.mt5 import Mt5Broker
    from mtponte.live.pollfeeds import Mt5Feed
    from mtponte.live.realtime import mt5_module

    f, b = cfg.feed, cfg.broker
    assert f.timeframe is not None and cfg.server_timezone is not None  # checked by the config
    if b.kind != "mt5":
        raise ConfigError("broker.kind: the mt5 feed trades through the terminal: set 'mt5'")
    label = "mt5" if feed is None else cfg.feed.kind
    spec = resolve_symbol(cfg.symbol, cfg.timezone, cfg.server_timezone)
    trade_symbol = cfg.trade_symbol or spec.name
    module = mt5_module()  # None: the MetaTrader5 package, imported on connect
    clock = getattr(module, "market_clock", None)  # a simulated terminal's market time
    broker = Mt5Broker(
        server_timezone=cfg.server_timezone,
        symbols=[trade_symbol],
        module=module,
        path=b.mt5_path,
        login=b.mt5_login,
        password=os.environ.get("MTPONTE_MT5_PASSWORD"),
        server=b.mt5_server,
        timeout_ms=b.mt5_timeout_ms,
        magic=cfg.runner.magic,
        exchange_timezone=spec.timezone,
        now=clock,
    )
    broker.connect()  # before the feed's first read: the terminal must be initialized
    try:
        if feed is None:
            feed = Mt5Feed(
                trade_symbol,
                f.timeframe,
                broker.clock,
                module=module,
                count=f.count,
                poll_s=f.poll_s,
                backfill=f.backfill,
            )
        _live_polled(cfg, config, seconds, spec, feed, broker, label, "on MetaTrader5", clock)
    finally:
        broker.close()


def _live_polled(
    cfg: LiveConfig,
    config: Path,
    seconds: float | None,
    spec: SymbolSpec,
    feed: PolledFeed,
    broker: Broker,
    label: str,
    where: str,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Run a polled feed through :func:`run_polled` until Ctrl-C/SIGTERM or ``seconds``."""
    from mtponte.cli._common import stop_on_signals
    from mtponte.live.config import ConfigWatcher
    from mtponte.live.pollfeeds import timeframe_seconds
    from mtponte.live.realtime import run_polled

    assert cfg.feed.timeframe is not None
    with _monitor(cfg, cfg.journal.url, cfg.journal.logs_dir, label, spec) as m:
        err_console.print(
            f"monitor on {spec.name} {cfg.feed.timeframe} {where} "
            f"(mode {cfg.runner.mode}); Ctrl-C stops, the account is left as it is",
            highlight=False,
        )
        with stop_on_signals(seconds) as stop:
            run = run_polled(
                feed,
                spec,
                cfg,
                broker,
                timeframe_seconds(cfg.feed.timeframe),
                stop,
                m.journal,
                m.trade_log,
                on_event=lambda _ev: m.tick(),
                on_start=m.alerts.on_start,
                watcher=ConfigWatcher(config),
                clock=clock,
            )
    console.print(
        f"stopped after {run.bars} bars: {len(run.runner.trades)} trades; journal {cfg.journal.url}"
    )


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="Configuration file (TOML).")],
) -> None:
    """Validate a monitor configuration: one line per problem, with its key (exit 2)."""
    from mtponte.live.config import config_problems

    problems = config_problems(path)
    for line in problems:
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)
    console.print(f"{path}: ok")
