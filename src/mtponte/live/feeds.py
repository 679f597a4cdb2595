"""Feeds: sources of *closed* bars, in order, one :class:`BarEvent` at a time.

A live feed learns that bar ``i`` closed when bar ``i+1`` starts forming, so every
event carries the closed bar and, when known, the open time (and first price) of the
bar that has just started: that is when the runner acts on the closed bar.

Feeds available here:

* :class:`ReplayFeed`: a bar file (or any :class:`~mtponte.domain.bars.Bars`), as fast
  as possible or at a speed factor of the bars' own clock.

The polled sources (the ``MetaTrader5`` package, the bridge's ``state/bars-*.json``)
are in :mod:`mtponte.live.pollfeeds`; a CSV file MT5 appends to is not written yet. Any
iterable of bars can be made a feed with :func:`in_order`, which handles duplicates and
out-of-order bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mtponte.domain.bars import Bar, Bars
from mtponte.errors import DataError

log = logging.getLogger(__name__)

DuplicatePolicy = Literal["skip", "error"]


@dataclass(frozen=True, slots=True)
class BarEvent:
    """Bar ``bar`` closed; the next bar opened at ``next_time`` (``None``: not known yet
    or end of data) with first price ``next_open``."""

    bar: Bar
    next_time: datetime | None
    next_open: float | None


def in_order(bars: Iterable[Bar], duplicates: DuplicatePolicy = "skip") -> Iterator[Bar]:
    """Yield ``bars`` in strictly increasing time, handling repeats explicitly.

    Parameters
    ----------
    bars
        Closed bars as a source delivers them.
    duplicates
        ``skip``: a bar with the time of the last one and the same prices is dropped
        (logged); ``error``: it raises. A repeated time with *different* prices, or a
        bar older than the last one, always raises :class:`DataError`: a decision was
        already taken on the first version and cannot be taken back.

    Yields
    ------
    Bar
        Bars with strictly increasing times.
    """
    last: Bar | None = None
    for bar in bars:
        if last is not None and bar.time <= last.time:
            if bar == last and duplicates == "skip":
                log.warning("duplicate bar %s skipped", bar.time.isoformat())
                continue
            what = "duplicate" if bar.time == last.time else "out-of-order"
            raise DataError(
                f"{what} bar {bar.time.isoformat()} after {last.time.isoformat()}"
                + (" with different prices" if bar.time == last.time and bar != last else "")
            )
        last = bar
        yield bar


def events(bars: Iterable[Bar]) -> Iterator[BarEvent]:
    """Pair each bar with the open of the one after it (the last gets ``None``)."""
    prev: Bar | None = None
    for bar in bars:
        if prev is not None:
            yield BarEvent(prev, bar.time, bar.open)
        prev = bar
    if prev is not None:
        yield BarEvent(prev, None, None)


class ReplayFeed:
    """Replay ``bars`` as closed-bar events.

    Parameters
    ----------
    bars
        The bars (a loaded file).
    speed
        ``0``: as fast as possible; ``k > 0``: ``k`` times the bars' own pace (an M5
        bar every 300/k seconds).
    sleep
        Injected sleeper (tests).
    """

    def __init__(
        self, bars: Bars, speed: float = 0.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.bars = bars
        self.speed = speed
        self._sleep = sleep

    def __len__(self) -> int:
        return len(self.bars)

    def __iter__(self) -> Iterator[BarEvent]:
        seq = (self.bars.bar(i) for i in range(len(self.bars)))
        prev: datetime | None = None
        for ev in events(in_order(seq)):
            if self.speed > 0 and prev is not None:
                gap = (ev.bar.time - prev).total_seconds()
                self._sleep(max(gap, 0.0) / self.speed)
            prev = ev.bar.time
            yield ev
