"""The monitor in real time against a simulated market, one bar at a time (shared by the
bridge and csv_tail lockstep tests).

:class:`Market` is a paper account and its clock walking through ``bars``: warmed on
the first ``warm`` bars, then :meth:`Market.trade` trades bar ``j``, closes it and
opens the next one. :class:`Monitor` runs :func:`~mtponte.live.realtime.run_polled`
in a thread and counts the bars it has handled, so a test can wait for each one
(serving the executor's inbox meanwhile when the monitor trades through the bridge).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from mtponte.brokers.base import Broker
from mtponte.brokers.paper import PaperBroker
from mtponte.domain import WIN, Bars
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import Journal
from mtponte.live.pollfeeds import PolledFeed
from mtponte.live.realtime import RealtimeRun, run_polled
from mtponte.live.replay import ReplayClock
from mtponte.live.runner import Runner

STEP = timedelta(minutes=5)


def trading(entry_mode: str = "stop", kill_switch_file: Path | None = None) -> LiveConfig:
    """A monitor that trades (``runner.mode = "trade"``) with the given entry mode."""
    return LiveConfig(
        runner=RunnerSection(mode="trade"),
        risk=RiskSection(kill_switch_file=kill_switch_file),
        strategy={"entry_mode": entry_mode},  # type: ignore[arg-type]
    )


def key(t: Any) -> tuple[Any, ...]:
    """What makes two trades the same trade."""
    return (t.entry_time, int(t.side), t.entry_price, t.exit_time, t.exit_price, t.exit_reason)


class Market:
    """A netting paper account on WIN, its clock, and ``bars[:warm]`` already traded
    (closed before the monitor starts: it only warms up on them)."""

    def __init__(self, bars: Bars, warm: int = 40) -> None:
        self.bars, self.warm = bars, warm
        self.clock = ReplayClock(bars.bar(0).time)
        self.paper = PaperBroker(symbols=[WIN], clock=self.clock, account_mode="netting")
        for i in range(warm):
            self.clock.t = bars.bar(i).time
            self.paper.on_bar("WIN", bars.bar(i))
        self.clock.t = bars.bar(warm - 1).time + STEP
        self.paper.set_quote("WIN", bars.bar(warm).open)

    def ms(self) -> int:
        """The market's clock in epoch ms (the terminal's and the bridge client's)."""
        return int(self.clock().timestamp() * 1000)

    def trade(self, j: int) -> None:
        """The market trades bar ``j``; then ``j`` has closed and ``j + 1`` opens."""
        bar = self.bars.bar(j)
        self.clock.t = bar.time
        self.paper.on_bar("WIN", bar)
        self.clock.t = bar.time + STEP
        if j + 1 < len(self.bars):
            self.paper.set_quote("WIN", self.bars.bar(j + 1).open)


class Monitor:
    """``run_polled`` in a thread; :meth:`wait_bar` waits until it has handled a bar."""

    def __init__(
        self,
        feed: PolledFeed,
        cfg: LiveConfig,
        broker: Broker,
        market: Market,
        journal: Journal | None = None,
    ) -> None:
        self.warm = market.warm
        self.handled = 0
        self.cond = threading.Condition()
        self.stop_event = threading.Event()
        self.runners: list[Runner] = []
        self.out: list[RealtimeRun] = []

        def on_event(_ev: BarEvent) -> None:
            with self.cond:
                self.handled += 1
                self.cond.notify_all()

        def run() -> None:
            self.out.append(
                run_polled(
                    feed,
                    WIN,
                    cfg,
                    broker,
                    300,
                    self.stop_event,
                    journal,
                    on_event=on_event,
                    on_start=self.runners.append,
                    clock=market.clock,
                )
            )

        self.thread = threading.Thread(target=run, daemon=True)

    def start(self) -> Runner:
        """Start; return once the monitor has read the history (its first poll): a bar
        that closed before that is warm-up, never acted on."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.runners:
            assert time.monotonic() < deadline and self.thread.is_alive(), "no start"
            time.sleep(0.001)
        return self.runners[0]

    def wait_bar(self, j: int, serve: Callable[[], None] | None = None) -> None:
        """Until bar ``j`` is handled, calling ``serve`` (the executor's inbox) meanwhile."""
        deadline = time.monotonic() + 20
        while True:
            if serve is not None:
                serve()
            with self.cond:
                if self.handled >= j - self.warm + 1:
                    return
                self.cond.wait(0.001)
            assert time.monotonic() < deadline, f"bar {j} not handled"
            assert self.thread.is_alive() or self.out, "the monitor stopped"

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)

    def result(self) -> RealtimeRun:
        (run,) = self.out
        return run
