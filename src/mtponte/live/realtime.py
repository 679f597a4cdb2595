"""The monitor in real time: closed bars from a polled feed (the bridge's snapshot or the
MetaTrader5 package) through the same runner as replay, against any broker.

One code path with :func:`mtponte.live.replay.replay_paper`: the strategy first re-reads
the bars that closed before the start (:meth:`Runner.warm_up`), the runner reconciles with
the broker (:meth:`Runner.start`), then each closed bar goes to :meth:`Runner.on_event`.
Stopping leaves the account as it is (no end-of-data flattening: live has no end).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtponte.brokers.base import Broker
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError
from mtponte.live.config import ConfigWatcher, LiveConfig
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import Journal
from mtponte.live.pollfeeds import PolledFeed
from mtponte.live.runner import Runner
from mtponte.live.tradelog import TradeLog

log = logging.getLogger("mtponte.live")


MT5_MODULE_ENV = "MTPONTE_MT5_MODULE"


def mt5_module() -> Any:
    """The ``MetaTrader5``-shaped module named by ``MTPONTE_MT5_MODULE``, or ``None``.

    **Test-only**: ``MTPONTE_MT5_MODULE=package.module:factory`` makes ``mtponte live``
    trade ``factory()`` (e.g. :func:`mtponte.brokers._mt5simmarket.from_env`, a
    simulated terminal) instead of the ``MetaTrader5`` package, which is imported
    lazily when the variable is unset (the default, and the only production use).

    Raises
    ------
    ConfigError
        The variable is not ``module:factory`` or does not resolve.
    """
    target = os.environ.get(MT5_MODULE_ENV)
    if not target:
        return None
    name, _, attr = target.partition(":")
    if not name or not attr:
        raise ConfigError(f"{MT5_MODULE_ENV}={target!r}: expected 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{MT5_MODULE_ENV}={target!r}: {exc}") from None
    log.warning("%s=%s: trading a stand-in for MetaTrader5 (test only)", MT5_MODULE_ENV, target)
    return factory()


@dataclass
class RealtimeRun:
    """What a real-time run did (the runner holds its trades and stats)."""

    runner: Runner
    bars: int


def run_polled(
    feed: PolledFeed,
    spec: SymbolSpec,
    cfg: LiveConfig,
    broker: Broker,
    timeframe_s: int,
    stop: threading.Event,
    journal: Journal | None = None,
    trade_log: TradeLog | None = None,
    on_event: Callable[[BarEvent], None] | None = None,
    on_start: Callable[[Runner], None] | None = None,
    watcher: ConfigWatcher | None = None,
    clock: Callable[[], datetime] | None = None,
) -> RealtimeRun:
    """Run the monitor on ``feed`` until ``stop`` is set.

    Parameters
    ----------
    feed
        A polled feed (:class:`~mtponte.live.pollfeeds.BridgeFeed` or
        :class:`~mtponte.live.pollfeeds.Mt5Feed`); polled every ``feed.poll_s``.
    spec, cfg, broker, timeframe_s
        The symbol, the configuration, the account and the bar length in seconds.
    stop
        Set to stop after the bar being handled.
    journal, trade_log, on_event, on_start, watcher
        As for :func:`~mtponte.live.replay.replay_paper`.
    clock
        "Now" (aware UTC) for the risk gate's signal age; the wall clock by default
        (tests in simulated time pass the market's).

    Returns
    -------
    RealtimeRun
    """
    runner = Runner(
        cfg, spec, broker, timeframe_s, journal=journal, clock=clock, trade_log=trade_log
    )
    first = feed.poll()  # fills feed.history: the bars closed before the start
    warmed = runner.warm_up(feed.history)
    log.info("warmed up on %d closed bars", warmed)
    runner.start()
    if on_start is not None:
        on_start(runner)
    seen = 0
    pending = first
    while True:
        _journal_notes(feed, journal, seen)
        for ev in pending:
            runner.on_event(ev)
            seen += 1
            if watcher is not None and (new := watcher.poll()) is not None:
                runner.apply_config(new)
            if on_event is not None:
                on_event(ev)
        if feed.wait(stop):
            break
        pending = feed.poll()
        if not pending:
            runner.idle()
    return RealtimeRun(runner, seen)


def _journal_notes(feed: PolledFeed, journal: Journal | None, seen: int) -> None:
    """The feed's anomalies (gaps, duplicates, a reopened file) as journal heartbeats."""
    while feed.notes:
        note = feed.notes.pop(0)
        if journal is not None:
            journal.heartbeat(seen, f"feed: {note}"[:200])
