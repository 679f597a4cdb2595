"""Replays: drive the :class:`~mtponte.live.runner.Runner` over a bar file.

With the paper broker the market is simulated here, bar by bar, in the order a live
account sees it: bar ``j`` trades (the broker triggers stop orders and SL/TP with the
backtester's fill model, :meth:`PaperBroker.on_bar`), bar ``j`` closes, bar ``j+1``
opens (the quote moves to its open) and the runner acts. The runner's clock reads the
close of bar ``j`` while it decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from mtponte.brokers.paper import PaperBroker
from mtponte.domain.bars import Bars
from mtponte.domain.orders import Trade
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError
from mtponte.live._market import Market
from mtponte.live.config import ConfigWatcher, LiveConfig
from mtponte.live.feeds import BarEvent, ReplayFeed
from mtponte.live.journal import Journal
from mtponte.live.runner import Runner
from mtponte.live.state import LiveError
from mtponte.live.tradelog import TradeLog

log = logging.getLogger("mtponte.live")


class ReplayClock:
    """A settable clock (aware UTC)."""

    def __init__(self, t: datetime | None = None) -> None:
        self.t = t or datetime.fromtimestamp(0, tz=UTC)

    def __call__(self) -> datetime:
        return self.t


def timeframe_of(bars: Bars) -> int:
    """Bar length in seconds: the most common gap between consecutive bars."""
    if len(bars) < 2:
        raise ConfigError("need at least two bars to know the timeframe")
    gaps, counts = np.unique(np.diff(bars.time), return_counts=True)
    return int(gaps[np.argmax(counts)])


@dataclass
class ReplayRun:
    """What a replay produced."""

    runner: Runner
    broker: PaperBroker
    trades: list[Trade]


def replay_paper(
    bars: Bars,
    spec: SymbolSpec,
    cfg: LiveConfig,
    journal: Journal | None = None,
    trade_log: TradeLog | None = None,
    on_event: Callable[[BarEvent], None] | None = None,
    broker: PaperBroker | None = None,
    clock: ReplayClock | None = None,
    watcher: ConfigWatcher | None = None,
    command_ttl_s: float = 30.0,
    on_start: Callable[[Runner], None] | None = None,
) -> ReplayRun:
    """Replay ``bars`` through the runner against a simulated (paper) account.

    Parameters
    ----------
    bars
        The bars, in the symbol's exchange time zone.
    spec
        Symbol traded.
    cfg
        Configuration (``runner.mode`` decides whether orders are sent).
    journal, trade_log
        Optional records.
    on_event
        Called after each event (progress displays, tests).
    broker, clock
        A paper account and its clock to use (default: a new in-memory account, as
        ``cfg.broker`` describes it).
    watcher
        Checked after every bar: a changed configuration file is applied from the next
        bar, or refused (:meth:`Runner.apply_config`).
    on_start
        Called with the runner once it has reconciled, before the first bar (the
        alerts' Telegram commands, :class:`mtponte.live.alerting.MonitorAlerts`).

    Returns
    -------
    ReplayRun
    """
    tf = timeframe_of(bars)
    clock = clock or ReplayClock()
    # Under a roll rule the market of every contract traded is the bar file's (the
    # continuous series stands in for each front contract in turn).
    # An explicit trade_symbol is that market too.
    traded = [cfg.trade_symbol] if cfg.trade_symbol else []
    names = [spec.name, *traded, *rolled_contracts(bars, cfg)] if broker is None else [spec.name]
    broker = broker or PaperBroker(
        cfg.broker.paper_state,
        symbols=[replace(spec, name=n) for n in names],
        balance=cfg.broker.paper_balance,
        slippage_ticks=cfg.strategy.slippage_ticks,
        currency=spec.currency,
        clock=clock,
    )
    runner = Runner(
        cfg,
        spec,
        broker,
        tf,
        journal=journal,
        clock=clock,
        trade_log=trade_log,
        command_ttl_s=command_ttl_s,
    )
    start = resume_point(bars, broker, spec.name)
    if start:
        # A persisted paper account that already traded bars[:start+1] (a restart after
        # a crash): the strategy re-reads the bars before bar `start` without acting, the
        # runner then reconciles and acts from bar `start`, which the market already
        # traded and does not trade again.
        runner.warm_up(bars.bar(i) for i in range(start))
        log.warning("resuming at bar %s (%d bars re-read)", bars.bar(start).time, start)
        clock.t = bars.bar(start).time
    runner.start()
    if on_start is not None:
        on_start(runner)
    step = timedelta(seconds=tf)
    for k, ev in enumerate(ReplayFeed(bars[start:], cfg.feed.speed)):
        if not (start and k == 0):
            clock.t = ev.bar.time
            for n in names:
                broker.on_bar(n, ev.bar)  # the market trades bar j
        clock.t = ev.bar.time + step  # bar j has closed
        if ev.next_open is not None:
            for n in names:
                broker.set_quote(n, ev.next_open)  # bar j+1 opens
        runner.on_event(ev)
        if watcher is not None and (new := watcher.poll()) is not None:
            runner.apply_config(new)
        if on_event is not None:
            on_event(ev)
    runner.finish()
    return ReplayRun(runner, broker, runner.trades)


def rolled_contracts(bars: Bars, cfg: LiveConfig) -> list[str]:
    """The dated contracts ``session.roll = "rule"`` trades over ``bars`` (none when
    there is no roll rule), in order."""
    if cfg.session.roll == "off" or len(bars) == 0:
        return []
    market = Market(cfg.session, "")
    days = np.unique((bars.time // 86_400).astype(np.int64))
    out: list[str] = []
    for d in days:  # UTC dates; the front is asked at local noon of each
        t = datetime.fromtimestamp(int(d) * 86_400 + 15 * 3600, tz=UTC)
        front = market.front(t)
        if front is not None and front.code not in out:
            out.append(front.code)
    return out


def resume_point(bars: Bars, broker: PaperBroker, symbol: str) -> int:
    """Index of the last bar ``broker``'s market already traded (0: a fresh account).

    Raises
    ------
    LiveError
        The account traded a bar that is not in ``bars``.
    """
    done = broker.bars(symbol, "", 1)
    if not done:
        return 0
    last = int(done[-1].time.timestamp())
    j = int(np.searchsorted(bars.time, last))
    if j >= len(bars) or int(bars.time[j]) != last:
        raise LiveError(
            f"the paper account has traded up to {done[-1].time.isoformat()}, "
            "which is not a bar of this file (use a fresh broker.paper_state)"
        )
    return j
