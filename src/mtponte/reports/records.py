"""What the live side left behind, as plain frozen records (read by
:mod:`mtponte.live.journal.reader`; built by hand in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mtponte.domain.bars import Bar
from mtponte.domain.orders import Trade


@dataclass(frozen=True, slots=True)
class SignalRec:
    """A journaled signal and what became of it (``sent``, ``refused: <rule>`` ...)."""

    bar_time: datetime
    side: str
    kind: str
    outcome: str
    created_at: datetime
    refusal: str = ""  # the refusing rule's reason, when refused


@dataclass(frozen=True, slots=True)
class CommandRec:
    """A journaled command and its result."""

    tag: str
    kind: str
    side: str | None
    state: str
    retcode: int | None
    message: str
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class FillRec:
    """An execution of one of our tags."""

    tag: str
    entry: str
    price: float
    bar_time: datetime


@dataclass(frozen=True)
class LiveRecord:
    """One live (or replayed) run.

    Attributes
    ----------
    trades
        Closed round trips.
    bars
        Bars the monitor handed to the strategy (empty when only a ``trades.csv`` is known).
    seen_at
        Wall-clock time each of ``bars`` was seen.
    signals, commands, fills
        The journal's records (empty for a ``trades.csv``).
    heartbeats
        Wall-clock times of the heartbeats.
    config
        The run's validated configuration (JSON dict; empty when unknown).
    source
        Where it came from (shown in reports).
    """

    trades: list[Trade]
    bars: list[Bar] = field(default_factory=list)
    seen_at: list[datetime] = field(default_factory=list)
    signals: list[SignalRec] = field(default_factory=list)
    commands: list[CommandRec] = field(default_factory=list)
    fills: list[FillRec] = field(default_factory=list)
    heartbeats: list[datetime] = field(default_factory=list)
    config: dict[str, object] = field(default_factory=dict)
    source: str = ""
