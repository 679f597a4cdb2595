"""Values of the copy engine: what it reads, what it keeps, what it decides.

Pure data (frozen dataclasses, no I/O). A follower's *book state* is everything the
engine remembers about one subscription between two steps; it round-trips through
JSON (:meth:`BookState.to_json` / :meth:`BookState.from_json`) so the server can keep
it in its database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from mtponte.domain.symbols import SymbolSpec

SideName = Literal["buy", "sell"]
Entry = Literal["market", "limit"]
RiskState = Literal["ok", "disable", "close_only", "close_all"]
OrderType = Literal["limit", "stop"]


def _side(value: Any) -> SideName:
    if value not in ("buy", "sell"):
        raise ValueError(f"unknown side {value!r}")
    return cast(SideName, value)


def _order_type(value: Any) -> OrderType | None:
    if value is None:
        return None
    if value not in ("limit", "stop"):
        raise ValueError(f"unknown order type {value!r}")
    return cast(OrderType, value)


def _pending_json(order_type: OrderType | None, expiry: int) -> dict[str, Any]:
    # Only pending copies carry these keys: position targets keep their exact JSON (and
    # so their versions and ETags) whether or not the subscription copies pendings.
    return {} if order_type is None else {"order_type": order_type, "expiry": expiry}


def _entry(value: Any) -> Entry:
    if value not in ("market", "limit"):
        raise ValueError(f"unknown entry {value!r}")
    return cast(Entry, value)


@dataclass(frozen=True, slots=True)
class MasterPosition:
    """One open position of the master, as its broker names it.

    ``open_time`` is epoch seconds (UTC); 0 when unknown.
    """

    ticket: str
    symbol: str
    side: SideName
    volume: float
    open_price: float
    sl: float | None = None
    tp: float | None = None
    open_time: int = 0
    from_order: str = ""  # the master pending order this position filled from ("" none)


@dataclass(frozen=True, slots=True)
class MasterOrder:
    """One working pending order of the master (``order_type`` limit or stop).

    ``expiry`` is epoch seconds (UTC), 0 for good-till-cancelled.
    """

    ticket: str
    symbol: str
    side: SideName
    order_type: OrderType
    volume: float
    price: float
    sl: float | None = None
    tp: float | None = None
    expiry: int = 0


@dataclass(frozen=True, slots=True)
class MasterFacts:
    """What the master's publisher reports about its account (all optional)."""

    balance: float | None = None
    equity: float | None = None
    cent: bool = False  # a cent account: its lots are 1/100 of a standard lot
    contract_sizes: Mapping[str, float] = field(default_factory=dict)  # by master symbol


@dataclass(frozen=True, slots=True)
class MasterView:
    """The master as the server knows it at one step.

    ``fresh`` is False when the master has not been heard from within its stale time:
    the engine then freezes the follower's book (nothing opened, nothing closed).
    """

    positions: tuple[MasterPosition, ...]
    fresh: bool = True
    facts: MasterFacts = field(default_factory=MasterFacts)
    orders: tuple[MasterOrder, ...] = ()


@dataclass(frozen=True, slots=True)
class FollowerFacts:
    """What a follower reports about its account in its heartbeat.

    ``daily_pnl`` is today's realised plus floating P&L in account money (a loss is
    negative). ``symbols`` is the follower broker's symbol list with specs.
    """

    symbols: Mapping[str, SymbolSpec]
    netting: bool = False
    balance: float | None = None
    equity: float | None = None
    daily_pnl: float = 0.0
    cent: bool = False


@dataclass(frozen=True, slots=True)
class Copy:
    """The engine's decision to copy one master position, as it stands.

    ``volume0`` is the sized volume when the copy was decided and ``master_volume0``
    the master's volume then: a partial close keeps ``volume0 × master now /
    master_volume0`` (floored to the lot step, never under the lot minimum while the
    master still holds the position).
    """

    target_id: str
    master_ticket: str
    symbol: str  # as the follower's broker names it
    side: SideName
    volume: float
    volume0: float
    master_volume0: float
    sl: float | None
    tp: float | None
    entry: Entry = "market"
    price: float = 0.0  # the master's open price (limit price for a limit entry)
    max_deviation_points: int = 0  # market entries: 0 = no check
    decided_at: int = 0  # epoch seconds
    master_side: SideName | None = None  # the master's side when decided (reversal check)
    order_type: OrderType | None = None  # a pending copy (``price`` is its order price)
    expiry: int = 0  # a pending copy's expiry, epoch seconds; 0: good-till-cancelled

    def to_json(self) -> dict[str, Any]:
        """The copy as JSON-ready data (read back by :meth:`from_json`)."""
        return {
            "target_id": self.target_id,
            "master_ticket": self.master_ticket,
            "symbol": self.symbol,
            "side": self.side,
            "volume": self.volume,
            "volume0": self.volume0,
            "master_volume0": self.master_volume0,
            "sl": self.sl,
            "tp": self.tp,
            "entry": self.entry,
            "price": self.price,
            "max_deviation_points": self.max_deviation_points,
            "decided_at": self.decided_at,
            "master_side": self.master_side,
            **_pending_json(self.order_type, self.expiry),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Copy:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            target_id=str(d["target_id"]),
            master_ticket=str(d["master_ticket"]),
            symbol=str(d["symbol"]),
            side=_side(d["side"]),
            volume=float(d["volume"]),
            volume0=float(d["volume0"]),
            master_volume0=float(d["master_volume0"]),
            sl=None if d.get("sl") is None else float(d["sl"]),
            tp=None if d.get("tp") is None else float(d["tp"]),
            entry=_entry(d.get("entry", "market")),
            price=float(d.get("price", 0.0)),
            max_deviation_points=int(d.get("max_deviation_points", 0)),
            decided_at=int(d.get("decided_at", 0)),
            master_side=None if d.get("master_side") is None else _side(d["master_side"]),
            order_type=_order_type(d.get("order_type")),
            expiry=int(d.get("expiry", 0)),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One position the follower should hold (what the follower executes).

    Hedging followers get one target per copy. Netting followers get one target per
    symbol (``target_id`` ``"<prefix>n<symbol>"``) whose volume is the net of the
    copies on that symbol; ``master_tickets`` lists them and ``sources`` their target
    ids (sorted; ``()`` for a target that is one copy, whose own id names it). A
    follower reads ``sources`` to know that a net target holds a pending copy whose
    order already filled on its account (that copy keeps its target id).
    """

    target_id: str
    symbol: str
    side: SideName
    volume: float
    sl: float | None
    tp: float | None
    entry: Entry = "market"
    price: float = 0.0
    max_deviation_points: int = 0
    master_tickets: tuple[str, ...] = ()
    order_type: OrderType | None = None  # a pending order target (never netted)
    expiry: int = 0  # epoch seconds; 0: good-till-cancelled
    sources: tuple[str, ...] = ()  # a net target's copies (target ids); () for one copy

    @property
    def pending(self) -> bool:
        """True for a pending order target (place an order, not a position)."""
        return self.order_type is not None

    def to_json(self) -> dict[str, Any]:
        """The target as JSON-ready data (read back by :meth:`from_json`)."""
        return {
            "target_id": self.target_id,
            "symbol": self.symbol,
            "side": self.side,
            "volume": self.volume,
            "sl": self.sl,
            "tp": self.tp,
            "entry": self.entry,
            "price": self.price,
            "max_deviation_points": self.max_deviation_points,
            "master_tickets": list(self.master_tickets),
            **_pending_json(self.order_type, self.expiry),
            # Only net targets carry the key: a copy's own target keeps its exact JSON.
            **({"sources": list(self.sources)} if self.sources else {}),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Target:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            target_id=str(d["target_id"]),
            symbol=str(d["symbol"]),
            side=_side(d["side"]),
            volume=float(d["volume"]),
            sl=None if d.get("sl") is None else float(d["sl"]),
            tp=None if d.get("tp") is None else float(d["tp"]),
            entry=_entry(d.get("entry", "market")),
            price=float(d.get("price", 0.0)),
            max_deviation_points=int(d.get("max_deviation_points", 0)),
            master_tickets=tuple(str(t) for t in d.get("master_tickets", ())),
            order_type=_order_type(d.get("order_type")),
            expiry=int(d.get("expiry", 0)),
            sources=tuple(str(t) for t in d.get("sources", ())),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing the engine decided, with why.

    ``action`` is ``open``, ``resize``, ``modify``, ``close``, ``skip``, ``freeze``,
    ``risk`` or ``reset``; ``factors`` lists every step of a computation as
    ``(name, value)`` (the lot pipeline records each factor it applied).
    """

    action: str
    master_ticket: str
    reason: str
    factors: tuple[tuple[str, Any], ...] = ()
    at: int = 0  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        """The decision as JSON-ready data (factors as ``[name, value]`` pairs)."""
        return {
            "action": self.action,
            "master_ticket": self.master_ticket,
            "reason": self.reason,
            "factors": [[k, v] for k, v in self.factors],
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class BookState:
    """Everything the engine remembers about one subscription.

    ``copies`` by master ticket; ``skipped`` master tickets decided against, with the
    reason (sticky: a position skipped once is never opened later); ``started`` is
    False until the first step (master positions present then are a *late join*);
    ``day`` is the trading day (``YYYY-MM-DD`` in the settings' zone) that
    ``trades_today`` counts; ``risk`` is a tripped daily-loss stop, which stays until
    :func:`~mtponte.copy.engine.reset_risk`.
    """

    prefix: str = ""  # target ids are prefix + "t" + master ticket
    copies: Mapping[str, Copy] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    started: bool = False
    day: str = ""
    trades_today: int = 0
    risk: RiskState = "ok"
    risk_reason: str = ""
    pendings: Mapping[str, Copy] = field(default_factory=dict)  # by master order ticket

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data (read back by :meth:`from_json`)."""
        return {
            "pendings": {t: c.to_json() for t, c in self.pendings.items()},
            "prefix": self.prefix,
            "copies": {t: c.to_json() for t, c in self.copies.items()},
            "skipped": dict(self.skipped),
            "started": self.started,
            "day": self.day,
            "trades_today": self.trades_today,
            "risk": self.risk,
            "risk_reason": self.risk_reason,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BookState:
        """Read back what :meth:`to_json` wrote (missing keys take their defaults)."""
        risk = str(d.get("risk", "ok"))
        if risk not in ("ok", "disable", "close_only", "close_all"):
            raise ValueError(f"BookState: unknown risk state {risk!r}")
        return cls(
            prefix=str(d.get("prefix", "")),
            copies={str(t): Copy.from_json(c) for t, c in dict(d.get("copies", {})).items()},
            skipped={str(t): str(r) for t, r in dict(d.get("skipped", {})).items()},
            started=bool(d.get("started", False)),
            day=str(d.get("day", "")),
            trades_today=int(d.get("trades_today", 0)),
            risk=cast(RiskState, risk),
            risk_reason=str(d.get("risk_reason", "")),
            pendings={str(t): Copy.from_json(c) for t, c in dict(d.get("pendings", {})).items()},
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """A step's new state, the follower's targets, and what was decided."""

    state: BookState
    targets: tuple[Target, ...]
    decisions: tuple[Decision, ...]
