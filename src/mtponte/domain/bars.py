"""Bars: one closed candle (:class:`Bar`) and a column store of many (:class:`Bars`).

Inside mtponte every time is timezone-aware UTC. ``Bars.time`` holds bar *open*
times as int64 epoch seconds (UTC); the exchange time zone is kept beside them so
session dates and times of day are always computed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from mtponte.errors import DataError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed bar. ``time`` is the aware bar *open* time."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    tick_volume: float = 0.0
    real_volume: float = 0.0
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise DataError(f"bar time {self.time} has no time zone")
        vals = (self.open, self.high, self.low, self.close)
        if not all(math.isfinite(v) for v in vals):
            raise DataError(f"bar {self.time.isoformat()}: NaN or infinite price")
        if self.high < max(self.open, self.close, self.low) or self.low > min(
            self.open, self.close
        ):
            raise DataError(f"bar {self.time.isoformat()}: high/low do not contain open/close")


@dataclass(frozen=True, eq=False)
class Bars:
    """Columns of bars sorted by strictly increasing open time.

    Attributes
    ----------
    time
        Bar open times, int64 epoch seconds UTC.
    open, high, low, close
        Prices.
    tick_volume, real_volume
        Volumes (MT5 ``tick_volume`` / ``real_volume``); zeros when unknown.
    timezone
        IANA zone of the exchange, used for session dates and times of day.
    spread
        Spread in points as MT5 reports it (zeros when unknown).
    """

    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    tick_volume: F64
    real_volume: F64
    timezone: str = "UTC"
    spread: F64 = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = len(self.time)
        cols = ("open", "high", "low", "close", "tick_volume", "real_volume")
        for name in cols:
            if len(getattr(self, name)) != n:
                raise DataError(f"column {name} has {len(getattr(self, name))} rows, time has {n}")
        if len(self.spread) == 0 and n:
            object.__setattr__(self, "spread", np.zeros(n))
        if n > 1 and not np.all(np.diff(self.time) > 0):
            k = int(np.argmax(np.diff(self.time) <= 0)) + 1
            raise DataError(f"bar {k}: times are not strictly increasing")
        ZoneInfo(self.timezone)  # fail early on an unknown zone

    def __len__(self) -> int:
        return len(self.time)

    def __getitem__(self, key: slice) -> Bars:
        if not isinstance(key, slice):
            raise TypeError("Bars supports slicing only; use bar(i) for one bar")
        return Bars(
            time=self.time[key],
            open=self.open[key],
            high=self.high[key],
            low=self.low[key],
            close=self.close[key],
            tick_volume=self.tick_volume[key],
            real_volume=self.real_volume[key],
            timezone=self.timezone,
            spread=self.spread[key],
        )

    def bar(self, i: int) -> Bar:
        """Bar ``i`` as a :class:`Bar` (aware UTC time)."""
        return Bar(
            time=datetime.fromtimestamp(int(self.time[i]), tz=UTC),
            open=float(self.open[i]),
            high=float(self.high[i]),
            low=float(self.low[i]),
            close=float(self.close[i]),
            tick_volume=float(self.tick_volume[i]),
            real_volume=float(self.real_volume[i]),
            spread=float(self.spread[i]),
        )

    def __iter__(self) -> Iterator[Bar]:
        for i in range(len(self)):
            yield self.bar(i)

    def volume(self, source: str) -> F64:
        """The volume column the strategy asked for: ``real`` or ``tick``."""
        if source == "real":
            return self.real_volume
        if source == "tick":
            return self.tick_volume
        raise ValueError(f"volume source must be 'real' or 'tick', got {source!r}")

    @cached_property
    def _calendar(self) -> tuple[I64, I64]:
        return local_calendar(self.time, self.timezone)

    @property
    def day(self) -> I64:
        """Exchange-local session date of each bar, as days since 1970-01-01."""
        return self._calendar[0]

    @property
    def tod(self) -> I64:
        """Exchange-local time of day of each bar open, in seconds after midnight."""
        return self._calendar[1]


def local_calendar(time: I64, timezone: str) -> tuple[I64, I64]:
    """Local day number and second of day for UTC epoch seconds in ``timezone``.

    The UTC offset is looked up at the start of each distinct UTC day and of the day
    after it (shared between neighbouring days); only on a day where the two differ
    (a daylight-saving change) is it looked up for every bar of that day. A million M5
    bars cost a few thousand ``zoneinfo`` calls.
    """
    tz = ZoneInfo(timezone)
    t = np.asarray(time, dtype=np.int64)
    if len(t) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = t // 86400
    if len(d) > 1 and np.all(d[1:] >= d[:-1]):  # sorted (always, for Bars): no sort needed
        first = np.r_[0, np.flatnonzero(np.diff(d)) + 1]
        uday = d[first]
        inverse = np.repeat(np.arange(len(uday)), np.diff(np.r_[first, len(d)]))
    else:
        uday, inverse = np.unique(d, return_inverse=True)
    memo: dict[int, int] = {}

    def at(day: int) -> int:
        if day not in memo:
            memo[day] = _offset_seconds(day * 86400, tz)
        return memo[day]

    start = np.array([at(int(x)) for x in uday], dtype=np.int64)
    end = np.array([at(int(x) + 1) for x in uday], dtype=np.int64)
    offsets = start[inverse]
    changing = (start != end)[inverse]
    if changing.any():
        idx = np.flatnonzero(changing)
        offsets[idx] = [_offset_seconds(int(x), tz) for x in t[idx]]
    local = t + offsets
    return local // 86400, local % 86400


def local_parts(t: datetime, timezone: str) -> tuple[int, int]:
    """Scalar twin of :func:`local_calendar` for one aware datetime."""
    epoch = int(t.timestamp())
    local = epoch + _offset_seconds(epoch, ZoneInfo(timezone))
    return local // 86400, local % 86400


def _offset_seconds(epoch: int, tz: ZoneInfo) -> int:
    off = datetime.fromtimestamp(epoch, tz=tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0
