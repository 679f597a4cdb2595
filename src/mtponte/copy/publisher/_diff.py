"""The pure part of the publisher: a master's position set, and the events that turn
one position set into the next.

Rules (see ``docs/publisher.md``):

- a new ticket is an ``open``; a ticket that is gone is a ``close``;
- a smaller volume is a ``partial_close`` of the closed part;
- a larger volume (a netting account adding to its position) has no event in the
  server's API: the diff reports it as ``resized`` and the publisher posts a snapshot
  as soon as the events before it are delivered, so followers resize from the book;
- a changed SL or TP is a ``modify`` carrying both current levels (the ones set); a
  level removed (SL or TP back to none) cannot be said by a ``modify`` either, so it
  also asks for a snapshot (and gives no event when both levels are now gone);
- a ticket whose symbol or side changed (a netting reversal) is a ``close`` then an
  ``open``.

Pending orders (``PublisherSettings.pending``) are entries of the same set, keyed by
their ticket, with ``order_type`` set (``open_price`` is the order price):

- a new order is a ``pending_place``; a changed price, volume, SL, TP or expiry a
  ``pending_modify`` carrying the whole order; a changed side or type a
  ``pending_cancel`` then a ``pending_place``;
- an order that is gone is a ``pending_cancel``, unless a position filled from it:
  then the position's ``open`` carries ``from_order`` (its ticket) and no cancel is
  sent. MT5 (hedging) gives the position the order's ticket, so the same ticket going
  from order to position is a fill; the paper broker gives the position a new ticket,
  and the publisher finds the order in the position's ``in`` deal
  (:func:`link_fills`).

Within one diff the events go out reductions first (closes, partial closes), then
modifies, then opens, each group in ticket order: a follower frees exposure before it
adds any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from mtponte.domain.orders import Deal, PendingOrder, Position
from mtponte.domain.side import Side

EventKind = Literal[
    "open", "close", "modify", "partial_close", "pending_place", "pending_modify", "pending_cancel"
]
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Pos:
    """One master position as the publisher publishes it.

    Attributes
    ----------
    ticket
        Canonical decimal ticket.
    symbol, side
        As the master's broker names them (``side`` ``"buy"`` or ``"sell"``).
    volume, open_price
        Lots and average open price.
    sl, tp
        Levels, ``None`` when not set.
    open_time
        Epoch seconds (UTC).
    """

    ticket: str
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    open_price: float
    sl: float | None = None
    tp: float | None = None
    open_time: int = 0
    order_type: Literal["limit", "stop"] | None = None  # a pending order
    expiry: int = 0  # a pending order's expiry, epoch s; 0 none
    from_order: str = ""  # a position filled from this pending order

    @property
    def pending(self) -> bool:
        return self.order_type is not None

    def as_json(self) -> dict[str, Any]:
        """The snapshot (``PositionIn``) form; unset levels are left out."""
        out: dict[str, Any] = {
            "ticket": self.ticket,
            "symbol": self.symbol,
            "side": self.side,
            "volume": self.volume,
            "open_price": self.open_price,
            "open_time": self.open_time,
        }
        if self.sl is not None:
            out["sl"] = self.sl
        if self.tp is not None:
            out["tp"] = self.tp
        if self.order_type is not None:
            out["order_type"] = self.order_type
            out["expiry"] = self.expiry
        if self.from_order:
            out["from_order"] = self.from_order
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Pos:
        """Inverse of :meth:`as_json`."""
        return cls(
            ticket=str(obj["ticket"]),
            symbol=str(obj["symbol"]),
            side="buy" if obj["side"] == "buy" else "sell",
            volume=float(obj["volume"]),
            open_price=float(obj["open_price"]),
            sl=None if obj.get("sl") is None else float(obj["sl"]),
            tp=None if obj.get("tp") is None else float(obj["tp"]),
            open_time=int(obj.get("open_time", 0)),
            order_type=obj.get("order_type"),
            expiry=int(obj.get("expiry", 0)),
            from_order=str(obj.get("from_order", "")),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One event to publish, without its key and time (the outbox adds them)."""

    kind: EventKind
    ticket: str
    symbol: str
    side: Literal["buy", "sell"] | None = None
    volume: float | None = None
    price: float | None = None
    sl: float | None = None
    tp: float | None = None
    order_type: str | None = None
    expiry: int | None = None
    from_order: str | None = None

    def body(self) -> dict[str, Any]:
        """The ``EventCreate`` fields of this change (``None`` values left out)."""
        out: dict[str, Any] = {"kind": self.kind, "ticket": self.ticket, "symbol": self.symbol}
        for name in ("side", "volume", "price", "sl", "tp", "order_type", "expiry", "from_order"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed between two position sets.

    Attributes
    ----------
    changes
        Events to publish, in the order to publish them.
    snapshot_needed
        A change events cannot carry (a volume increase, a removed SL/TP): post a
        snapshot once these events are delivered.
    """

    changes: tuple[Change, ...] = ()
    snapshot_needed: bool = False

    @property
    def empty(self) -> bool:
        return not self.changes and not self.snapshot_needed


def _level(value: float | None) -> float | None:
    """A broker's ``0.0`` level means "none"."""
    return None if value is None or value <= 0 else float(value)


def to_pos(p: Position) -> Pos:
    """A broker :class:`~mtponte.domain.orders.Position` as the publisher sees it."""
    return Pos(
        ticket=str(int(p.ticket)),
        symbol=p.symbol,
        side="buy" if p.side is Side.BUY else "sell",
        volume=round(float(p.volume), 8),
        open_price=float(p.open_price),
        sl=_level(p.sl),
        tp=_level(p.tp),
        open_time=max(0, int(p.open_time.timestamp())),
    )


def to_order(o: PendingOrder) -> Pos:
    """A broker :class:`~mtponte.domain.orders.PendingOrder` as the publisher sees it."""
    return Pos(
        ticket=str(int(o.ticket)),
        symbol=o.symbol,
        side="buy" if o.side is Side.BUY else "sell",
        volume=round(float(o.volume), 8),
        open_price=float(o.price),
        sl=_level(o.sl),
        tp=_level(o.tp),
        order_type="stop" if o.order_type == "stop" else "limit",
        expiry=0 if o.expiry is None else max(0, int(o.expiry.timestamp())),
    )


def select_orders(
    orders: Iterable[PendingOrder],
    magics: Iterable[int] | None = None,
    symbols: Iterable[str] | None = None,
) -> dict[str, Pos]:
    """The pending orders the publisher publishes, by ticket (same filters as
    :func:`select`; stop-limit and other types are not published)."""
    m = None if magics is None else set(magics)
    s = None if symbols is None else set(symbols)
    return {
        str(int(o.ticket)): to_order(o)
        for o in orders
        if o.order_type in ("limit", "stop")
        and (m is None or o.magic in m)
        and (s is None or o.symbol in s)
    }


def link_fills(
    previous: Mapping[str, Pos], current: dict[str, Pos], deals: Iterable[Deal] | None
) -> None:
    """Set ``from_order`` on the positions of ``current`` that filled from an order of
    ``previous`` (same ticket, or the order of the position's ``in`` deal), and keep it
    on positions that had it. ``deals`` is read only when an order is gone."""
    orders = {t for t, p in previous.items() if p.pending}
    by_position: dict[str, str] = {}
    if deals is not None:
        for d in deals:
            if d.entry in ("in", "inout") and str(d.order) in orders:
                by_position[str(int(d.position))] = str(int(d.order))
    for t, p in list(current.items()):
        if p.pending:
            continue
        before = previous.get(t)
        if before is not None and not before.pending:
            if before.from_order and not p.from_order:
                current[t] = replace(p, from_order=before.from_order)
            continue
        if before is not None and before.pending:
            current[t] = replace(p, from_order=t)
        elif t in by_position and by_position[t] not in current:
            current[t] = replace(p, from_order=by_position[t])


def select(
    positions: Iterable[Position],
    magics: Iterable[int] | None = None,
    symbols: Iterable[str] | None = None,
) -> dict[str, Pos]:
    """The positions the publisher publishes, by ticket.

    Parameters
    ----------
    positions
        The master account's positions.
    magics
        Only positions with one of these magic numbers (``None``: any).
    symbols
        Only positions on one of these symbols, exact names (``None``: any).

    Returns
    -------
    dict of str to Pos
    """
    m = None if magics is None else set(magics)
    s = None if symbols is None else set(symbols)
    out: dict[str, Pos] = {}
    for p in positions:
        if (m is None or p.magic in m) and (s is None or p.symbol in s):
            pos = to_pos(p)
            out[pos.ticket] = pos
    return out


def _levels_changed(a: Pos, b: Pos) -> tuple[bool, bool]:
    """``(changed, removed)`` for the SL/TP of ``a`` → ``b``."""
    changed = removed = False
    for old, new in ((a.sl, b.sl), (a.tp, b.tp)):
        if old != new:
            changed = True
            removed = removed or new is None
    return changed, removed


def _open(p: Pos) -> Change:
    if p.pending:
        return Change(
            "pending_place",
            p.ticket,
            p.symbol,
            p.side,
            p.volume,
            p.open_price,
            p.sl,
            p.tp,
            p.order_type,
            p.expiry,
        )
    return Change(
        "open",
        p.ticket,
        p.symbol,
        p.side,
        p.volume,
        p.open_price,
        p.sl,
        p.tp,
        from_order=p.from_order or None,
    )


def _order_changed(a: Pos, b: Pos) -> bool:
    return (a.open_price, a.volume, a.sl, a.tp, a.expiry) != (
        b.open_price,
        b.volume,
        b.sl,
        b.tp,
        b.expiry,
    )


def _close(p: Pos) -> Change:
    if p.pending:
        return Change("pending_cancel", p.ticket, p.symbol)
    return Change("close", p.ticket, p.symbol, p.side)


def diff(previous: Mapping[str, Pos], current: Mapping[str, Pos]) -> Diff:
    """The events that take ``previous`` to ``current`` (see the module docstring).

    Parameters
    ----------
    previous
        Position set already published, by ticket.
    current
        Position set now, by ticket.

    Returns
    -------
    Diff
    """
    reduce: list[Change] = []
    modify: list[Change] = []
    opens: list[Change] = []
    snapshot = False
    filled = {p.from_order for p in current.values() if p.from_order}
    for ticket in sorted(set(previous) | set(current), key=int):
        a, b = previous.get(ticket), current.get(ticket)
        if a is None and b is not None:
            opens.append(_open(b))
            continue
        if b is None and a is not None:
            if not (a.pending and ticket in filled):  # a fill: the open says it
                reduce.append(_close(a))
            continue
        assert a is not None and b is not None
        if a.pending or b.pending:
            if a.pending and not b.pending:
                opens.append(_open(b))  # MT5: the position took the order's ticket
            elif (a.symbol, a.side, a.order_type) != (b.symbol, b.side, b.order_type):
                reduce.append(_close(a))
                opens.append(_open(b))
            elif _order_changed(a, b):
                c = _open(b)
                modify.append(replace(c, kind="pending_modify"))
            continue
        if (a.symbol, a.side) != (b.symbol, b.side):
            reduce.append(_close(a))
            opens.append(_open(b))
            continue
        if b.volume < a.volume - _EPS:
            closed = round(a.volume - b.volume, 8)
            reduce.append(Change("partial_close", ticket, b.symbol, b.side, closed))
        elif b.volume > a.volume + _EPS:
            snapshot = True
        changed, removed = _levels_changed(a, b)
        if changed:
            snapshot = snapshot or removed
            if b.sl is not None or b.tp is not None:
                modify.append(Change("modify", ticket, b.symbol, b.side, sl=b.sl, tp=b.tp))
    return Diff(tuple(reduce + modify + opens), snapshot)
