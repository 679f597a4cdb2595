"""Polled feeds: a source shows a window of its latest bars; each newly *closed* bar is
yielded once, in order, as a :class:`~mtponte.live.feeds.BarEvent`.

Two sources exist:

* :class:`Mt5Feed`: ``copy_rates_from_pos(symbol, timeframe, 0, n)`` of the
  ``MetaTrader5`` package (or anything shaped like it, e.g.
  :class:`~mtponte.brokers._mt5sim.Mt5Sim`). Row 0 from the end (position 0) is the
  forming bar: never yielded, it gives ``next_time``/``next_open`` of the newest closed
  bar. Bar times are server wall-clock epochs, converted with an explicit
  :class:`~mtponte.brokers.servertime.ServerClock`.
* :class:`BridgeFeed`: the bridge's ``state/bars-<SYMBOL>-<TF>.json`` snapshot (closed
  bars only). The protocol stamps bar times as UTC epochs (the Python executor does);
  the MQL5 EA writes ``MqlRates.time``, i.e. server wall time: give a ``ServerClock``
  for it. The snapshot has no forming bar, so ``next_time`` of the newest closed bar is
  the start of the bar slot (on the bars' grid) holding the snapshot's own ``time``,
  and ``next_open`` is ``None``.

The rules (:class:`ClosedBars`), for both: the first poll only records the window as
bars that closed before the start (:attr:`PolledFeed.history`, for
:meth:`~mtponte.live.runner.Runner.warm_up`), unless ``backfill=True``; a bar seen again
unchanged is skipped; several bars closed since the last poll (a missed poll, a gap)
are all yielded, oldest first; a bar that changes after it was yielded, a bar inserted
before the newest yielded one, or times that go backwards raise
:class:`~mtponte.errors.DataError` (a decision was already taken on the first version).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mtponte.bridge.fileio import read_json
from mtponte.bridge.protocol import BarsState, BarState
from mtponte.brokers.servertime import ServerClock, bars_from_rates
from mtponte.domain.bars import Bar
from mtponte.errors import ConfigError, DataError
from mtponte.live.feeds import BarEvent

log = logging.getLogger(__name__)

_TF = re.compile(r"^(M|H|D|W)(\d+)$")
_UNIT = {"M": 60, "H": 3600, "D": 86_400, "W": 604_800}


def timeframe_seconds(timeframe: str) -> int:
    """Length of an MT5 timeframe name (``M1`` .. ``W1``) in seconds.

    Raises
    ------
    ConfigError
        For an unknown name (``MN1`` has no fixed length and is refused).
    """
    m = _TF.match(timeframe.upper())
    if m is None or int(m.group(2)) == 0:
        raise ConfigError(f"unknown or unsupported timeframe {timeframe!r} (M1..W1)")
    return _UNIT[m.group(1)] * int(m.group(2))


class ClosedBars:
    """Turn successive windows of closed bars into each newly closed bar, once.

    Parameters
    ----------
    backfill
        On the first window, yield its bars too (default: record them as
        :attr:`history` only).
    keep
        How many yielded bars are remembered to check that they do not change.
    """

    def __init__(self, backfill: bool = False, keep: int = 2_000) -> None:
        self.backfill = backfill
        self.keep = keep
        self.history: list[Bar] = []
        self._seen: OrderedDict[datetime, Bar] = OrderedDict()
        self._last: Bar | None = None
        self._started = False

    @property
    def last(self) -> Bar | None:
        """The newest bar accepted so far."""
        return self._last

    @property
    def started(self) -> bool:
        """Whether the first window was seen (what came before it is history)."""
        return self._started

    def seen(self, t: datetime) -> Bar | None:
        """The accepted bar opened at ``t``, if still remembered."""
        return self._seen.get(t)

    def update(
        self, closed: Sequence[Bar], next_time: datetime | None, next_open: float | None
    ) -> list[BarEvent]:
        """Events for the bars of ``closed`` not seen before.

        Parameters
        ----------
        closed
            The source's window of closed bars, oldest first.
        next_time, next_open
            Open time and first price of the bar after the newest of ``closed`` (the
            forming bar), when known.

        Returns
        -------
        list of BarEvent
            The new bars, oldest first, each paired with the open of the next one.

        Raises
        ------
        DataError
            Times not strictly increasing within ``closed``, a window older than the
            newest bar already accepted, or an accepted bar that changed.
        """
        for a, b in pairwise(closed):
            if b.time <= a.time:
                raise DataError(
                    f"bars not in increasing time: {b.time.isoformat()} after {a.time.isoformat()}"
                )
        fresh: list[Bar] = []
        last = self._last
        for bar in closed:
            if last is not None and bar.time <= last.time:
                old = self._seen.get(bar.time)
                if old is None:
                    if self._seen and bar.time > next(iter(self._seen)):
                        raise DataError(
                            f"bar {bar.time.isoformat()} appeared before the already "
                            f"accepted {last.time.isoformat()}"
                        )
                    continue  # older than what is remembered
                if old != bar:
                    raise DataError(f"bar {bar.time.isoformat()} changed after it was accepted")
                continue
            fresh.append(bar)
        if closed and last is not None and closed[-1].time < last.time:
            raise DataError(
                f"time went backwards: newest bar {closed[-1].time.isoformat()} is older than "
                f"the accepted {last.time.isoformat()}"
            )
        if fresh and last is not None and closed[0].time > last.time:
            log.warning(
                "feed window starts at %s, after the last accepted bar %s: bars may be missing",
                closed[0].time.isoformat(),
                last.time.isoformat(),
            )
        for bar in fresh:
            self._seen[bar.time] = bar
        while len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        if fresh:
            self._last = fresh[-1]
        if not self._started:
            self._started = True
            if not self.backfill:
                self.history = fresh
                return []
        out = [BarEvent(a, b.time, b.open) for a, b in pairwise(fresh)]
        if fresh:
            out.append(BarEvent(fresh[-1], next_time, next_open))
        return out


class PolledFeed:
    """Base of the polled feeds: iterate forever (or until ``stop()``), polling every
    ``poll_s`` seconds.

    Parameters
    ----------
    poll_s
        Seconds between polls.
    backfill
        Yield the bars of the first poll too (default: :attr:`history` only).
    stop
        Checked after each poll; iteration ends when it returns ``True``.
    sleep
        Injected sleeper (tests).
    """

    def __init__(
        self,
        poll_s: float = 1.0,
        backfill: bool = False,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if poll_s < 0:
            raise ValueError("poll_s must be >= 0")
        self.poll_s = poll_s
        self.notes = []
        self.tracker = ClosedBars(backfill=backfill)
        self._stop = stop or (lambda: False)
        self._sleep = sleep

    @property
    def history(self) -> list[Bar]:
        """Bars of the first poll, closed before the feed started (unless backfilled)."""
        return self.tracker.history

    notes: list[str]
    """Anomalies a feed found (gaps, duplicates, reopened files), for the journal;
    :func:`~mtponte.live.realtime.run_polled` drains it."""

    def poll(self) -> list[BarEvent]:
        """Read the source once; the events of bars that closed since the last poll."""
        raise NotImplementedError

    def wait(self, stop: threading.Event) -> bool:
        """Wait until the next poll is due; ``True`` when ``stop`` was set."""
        return stop.wait(self.poll_s)

    def close(self) -> None:
        """Release what the feed holds (nothing by default)."""

    def __iter__(self) -> Iterator[BarEvent]:
        while True:
            yield from self.poll()
            if self._stop():
                return
            self._sleep(self.poll_s)


class Mt5Feed(PolledFeed):
    """Closed bars of ``symbol`` from the ``MetaTrader5`` package.

    Parameters
    ----------
    symbol, timeframe
        What to read (``timeframe``: ``M5``, ``H1`` ...).
    clock
        The trade server's clock (bar times are server wall-clock epochs).
    module
        A ``MetaTrader5``-shaped module, already ``initialize``-d (default: the package,
        imported on first use).
    count
        Bars read per poll (the forming one included): more than the bars that can close
        between two polls.
    poll_s, backfill, stop, sleep
        See :class:`PolledFeed`.
    """

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        clock: ServerClock,
        module: Any = None,
        count: int = 64,
        poll_s: float = 1.0,
        backfill: bool = False,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(poll_s, backfill, stop, sleep)
        if count < 2:
            raise ValueError("count must be >= 2 (a closed bar and the forming one)")
        self.symbol = symbol
        self.timeframe = timeframe.upper()
        self.clock = clock
        self.count = count
        self._module = module

    def _mt5(self) -> Any:
        if self._module is None:
            try:
                self._module = importlib.import_module("MetaTrader5")
            except ImportError as exc:
                raise ConfigError(
                    "the mt5 feed needs the MetaTrader5 package (Windows, with a terminal)"
                ) from exc
        return self._module

    def poll(self) -> list[BarEvent]:
        """Read the last ``count`` bars once (see :class:`ClosedBars` for the rules).

        A failed read (``None``) is logged and yields nothing this poll.
        """
        mt5 = self._mt5()
        tf = getattr(mt5, f"TIMEFRAME_{self.timeframe}", None)
        if tf is None:
            raise ConfigError(f"unknown MT5 timeframe {self.timeframe!r}")
        rates = mt5.copy_rates_from_pos(self.symbol, tf, 0, self.count)
        if rates is None:
            log.warning(
                "copy_rates_from_pos(%s, %s) failed: %s",
                self.symbol,
                self.timeframe,
                mt5.last_error(),
            )
            return []
        if len(rates) == 0:
            return []
        bars = bars_from_rates(rates, self.clock)
        forming = bars[-1]
        return self.tracker.update(bars[:-1], forming.time, forming.open)


class BridgeFeed(PolledFeed):
    """Closed bars from the bridge's ``state/bars-<SYMBOL>-<TF>.json`` snapshot.

    Parameters
    ----------
    root
        The bridge folder (holding ``state/``).
    symbol, timeframe
        Which snapshot (as in ``bridge serve --bars SYMBOL:TF`` / the EA's
        ``BarsSubscriptions``).
    clock
        ``None``: bar times are UTC epochs (the protocol; the Python executor). A
        ``ServerClock``: they are server wall-clock epochs (the MQL5 EA).
    poll_s, backfill, stop, sleep
        See :class:`PolledFeed`.
    """

    def __init__(
        self,
        root: Path,
        symbol: str,
        timeframe: str,
        clock: ServerClock | None = None,
        poll_s: float = 0.5,
        backfill: bool = False,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(poll_s, backfill, stop, sleep)
        self.timeframe = timeframe.upper()
        self.step = timedelta(seconds=timeframe_seconds(self.timeframe))
        self.symbol = symbol
        self.path = Path(root) / "state" / f"bars-{symbol}-{self.timeframe}.json"
        self.clock = clock
        self._seq: int | None = None

    def _utc(self, seconds: int) -> datetime:
        if self.clock is None:
            return datetime.fromtimestamp(seconds, tz=UTC)
        return self.clock.to_utc(seconds)

    def _bar(self, b: BarState) -> Bar:
        return Bar(
            self._utc(b.time),
            b.open,
            b.high,
            b.low,
            b.close,
            b.tick_volume,
            b.real_volume,
            b.spread,
        )

    def poll(self) -> list[BarEvent]:
        """Read the snapshot once (see :class:`ClosedBars` for the rules).

        A missing snapshot, or one with the same ``seq`` as the last read, yields
        nothing.

        Raises
        ------
        DataError
            A snapshot that does not parse, or is for another symbol/timeframe.
        """
        try:
            raw = read_json(self.path)
        except ValueError as exc:
            raise DataError(f"{self.path}: not valid JSON: {exc}") from exc
        if raw is None:
            return []
        try:
            snap = BarsState.model_validate(raw)
        except ValidationError as exc:
            raise DataError(f"{self.path}: not a bars snapshot: {exc}") from exc
        if snap.symbol != self.symbol or snap.timeframe.upper() != self.timeframe:
            raise DataError(
                f"{self.path} holds {snap.symbol} {snap.timeframe}, "
                f"not {self.symbol} {self.timeframe}"
            )
        if snap.seq == self._seq:
            return []
        self._seq = snap.seq
        bars = [self._bar(b) for b in snap.bars]
        next_time = None
        if bars:
            now = datetime.fromtimestamp(snap.time / 1000, tz=UTC)
            slots = max(1, int((now - bars[-1].time) / self.step))
            next_time = bars[-1].time + slots * self.step
        return self.tracker.update(bars, next_time, None)
