"""The runner's view of what it owns on the broker, and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mtponte.domain.bars import local_parts
from mtponte.domain.orders import Position, Signal
from mtponte.errors import MtponteError


class LiveError(MtponteError):
    """The monitor refuses to start or to go on."""


@dataclass
class Working:
    """Our one-bar pending stop order."""

    tag: str
    ticket: str
    signal: Signal
    bar_time: datetime  # the bar it is valid for


@dataclass(frozen=True, slots=True)
class LateEntry:
    """A market entry whose answer never came: what it was sent for, so that when it
    is found executed it is recorded as the entry it was (its bar's time, its levels;
    ``dist``: the signal's SL/TP distances when the levels go to the fill price)."""

    side: int
    time: datetime
    day: int
    sl: float | None
    tp: float | None
    dist: tuple[float, float] | None


@dataclass
class Held:
    """Our open position."""

    tag: str
    ticket: str
    side: int
    entry_time: datetime
    entry_day: int
    entry_price: float
    sl: float
    tp: float


@dataclass
class RunnerStats:
    """Counters and per-event latencies (seconds) of one run."""

    bars: int = 0
    signals: int = 0
    latencies: list[float] = field(default_factory=list)  # closed bar in → order placed
    totals: list[float] = field(default_factory=list)  # ... → journal heartbeat flushed
    order_bars: list[int] = field(default_factory=list)  # events on which an entry was sent


def held_from(timezone: str, p: Position) -> Held:
    """A broker position taken over (adopted at start, or found by its tag)."""
    return Held(
        p.comment,
        p.ticket,
        int(p.side),
        p.open_time,
        local_parts(p.open_time, timezone)[0],
        p.open_price,
        p.sl if p.sl is not None else float("nan"),
        p.tp if p.tp is not None else float("nan"),
    )
