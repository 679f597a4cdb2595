"""The follower's reconcile plan: from its targets and its account to the actions that
make the account hold exactly the targets. Pure (no I/O).

Hedging: every target is held by the positions whose comment carries its tag
(``mtp:<target id>``), or that the ledger maps to it when a broker rewrote the comment.
Netting: one position per symbol; the target is the net volume, reached with deals.
Only positions with the follower's magic are ever touched.

Pending targets (``Target.order_type`` set, ``copy_pending``) are orders on both
account modes: a working order carrying the tag is kept while it matches the target
(side, type, price within half a tick, volume, SL, TP, expiry), else cancelled and
placed again at the next reconcile (the broker port has no order modify; never both
in one pass, so a cancel that fails because the order just filled cannot be followed
by a second order). An order of ours that already filled **is** the copy:

- hedging: the position carrying the pending target's tag holds the target; when the
  master's order fills, the target becomes a position target with the same id and
  that position holds it (no second open);
- netting: a pending target in ``filled`` (the follower found an ``in`` deal with its
  tag) counts in the symbol's wanted net volume until the master's order fills too.
  Then the symbol's net target lists the pending target's id in its ``sources``:
  :func:`adopt_fills` records the net target as opened by this follower, so a
  position closed by hand (before or after the master's fill) is not opened again
  (unless ``reopen_closed``), as on hedging where the target keeps its id.

A position target whose own order of ours is still working while the master's has
filled (entry ``market``): the order is cancelled, and the position opened at the
next reconcile if the order did not fill meanwhile.

A pending order of ours that is gone without filling and without the follower
cancelling it was removed by the user (or the broker): the ledger's ``placed`` holds
the pending target ids whose order we placed and have not cancelled ourselves, so
such a target is skipped ("pending order cancelled outside the follower") while it
remains, changed or not, unless ``reopen_closed``, and not opened at market when
the master's order fills (see :func:`track_placed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from mtponte.copy.engine.model import Target
from mtponte.domain.orders import PendingOrder, Position
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec

TAG = "mtp:"
_EPS = 1e-9
# An order of ours gone this close to its target's expiry expired at the broker (whose
# clock may run ahead of ours): never placed again, even with ``reopen_closed``.
EXPIRY_GRACE_S = 60
CANCELLED_OUTSIDE = "pending order cancelled outside the follower"


def tag_of(target_id: str) -> str:
    """The comment that marks every order and position opened for ``target_id``."""
    return TAG + target_id


def target_of(comment: str) -> str | None:
    return comment[len(TAG) :] if comment.startswith(TAG) and len(comment) > len(TAG) else None


@dataclass(frozen=True, slots=True)
class Action:
    """One broker call the follower should make.

    ``kind``: ``open`` (market), ``limit`` (pending), ``place`` (a pending target's
    order, ``order_type`` and ``expiry`` set), ``close`` (whole position),
    ``reduce`` (partial close of ``volume``), ``modify`` (SL/TP), ``cancel`` (order),
    ``wait`` (nothing now, with a reason), ``skip`` (never, with a reason).
    """

    kind: str
    target_id: str
    symbol: str
    side: Side | None = None
    volume: float = 0.0
    price: float | None = None
    sl: float | None = None
    tp: float | None = None
    ticket: str | None = None
    reason: str = ""
    order_type: str | None = None  # ``place``: limit | stop
    expiry: int = 0  # ``place``: epoch seconds, 0 none


@dataclass
class Ledger:
    """What the follower remembers across restarts: target ids it opened (a copy gone
    while its target remains was closed outside the follower: by hand, SL or TP), the
    position tickets it holds per target (for brokers that rewrite comments) and the
    target ids whose order or position of ours filled here (``fills``: pending targets,
    kept while a target names them, so a net target that nets one is ours) and the
    pending target ids whose order we placed and did not cancel ourselves (``placed``:
    such an order gone without a fill was cancelled outside the follower)."""

    opened: set[str] = field(default_factory=set)
    tickets: dict[str, set[str]] = field(default_factory=dict)
    fills: set[str] = field(default_factory=set)
    placed: set[str] = field(default_factory=set)


def track_placed(
    targets: Iterable[Target], orders: Iterable[PendingOrder], magic: int, ledger: Ledger
) -> bool:
    """Keep ``ledger.placed`` to the pending targets of the book: a working order of ours
    carrying a pending target's tag is recorded (an order placed just before a crash,
    or one whose cancel failed), ids of targets no longer pending are forgotten.

    An id forgotten because the master's order filled while no order of ours works
    for it is a copy gone by hand (cancelled, or filled here and closed): it goes to
    ``opened`` if a target has its id (hedging), to ``fills`` if a target's ``sources``
    name it (netting, adopted by :func:`adopt_fills`), so it is not opened at market.

    The follower adds an id when its ``place`` succeeds and removes it *before* it
    sends its own cancel (a replace, a target gone or filled at the master): a crash
    between the two leaves the order working, and it is recorded again here. A cancel
    that fails puts the id back, so an order whose fate is unknown is never placed a
    second time: if it is gone without a fill, it counts as cancelled outside.

    Parameters
    ----------
    targets
        The book's targets.
    orders
        The account's working orders.
    magic
        The follower's magic.
    ledger
        Updated in place (``placed``; ``opened`` and ``fills`` as above).

    Returns
    -------
    bool
        True when ``ledger.placed`` changed (save it; ``opened`` and ``fills`` change
        only with it).
    """
    targets = list(targets)
    pending = {t.target_id for t in targets if t.pending}
    working = {
        tid for o in orders if o.magic == magic and (tid := target_of(o.comment)) is not None
    }
    new = (ledger.placed | (working & pending)) & pending
    if new == ledger.placed:
        return False
    # Ours still working: dropped (the follower cancels it itself, then opens).
    gone = ledger.placed - new - working
    ids = {t.target_id for t in targets if not t.pending}
    sources = {s for t in targets for s in t.sources}
    ledger.opened |= gone & ids
    ledger.fills |= gone & sources
    ledger.placed = new
    return True


def adopt_fills(targets: Iterable[Target], ledger: Ledger) -> bool:
    """Record as opened every target whose ``sources`` hold a fill of ours.

    A netting follower whose pending order filled before the master's holds the copy
    already when the symbol's net target appears (it nets the pending copy, whose id
    it lists in ``sources``): that target counts as opened by this follower, so the
    rule "closed outside the follower" covers a position closed by hand before or
    after the master's fill.

    Parameters
    ----------
    targets
        The book's targets.
    ledger
        Updated in place (``opened``).

    Returns
    -------
    bool
        True when ``ledger.opened`` changed (save it).
    """
    new = {t.target_id for t in targets if not ledger.fills.isdisjoint(t.sources)}
    new -= ledger.opened
    ledger.opened |= new
    return bool(new)


def _differs(a: float | None, b: float | None, tick: float) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > tick / 2


def order_matches(o: PendingOrder, t: Target, spec: SymbolSpec) -> bool:
    """Whether a working order holds pending target ``t`` as it is now."""
    side = Side.BUY if t.side == "buy" else Side.SELL
    expiry = 0 if o.expiry is None else int(o.expiry.timestamp())
    return (
        o.side is side
        and o.order_type == t.order_type
        and not _differs(o.price, t.price, spec.tick_size)
        and abs(o.volume - t.volume) <= _EPS
        and not _differs(o.sl, t.sl, spec.tick_size)
        and not _differs(o.tp, t.tp, spec.tick_size)
        and expiry == t.expiry
    )


def _place(t: Target) -> Action:
    side = Side.BUY if t.side == "buy" else Side.SELL
    return Action(
        "place",
        t.target_id,
        t.symbol,
        side,
        t.volume,
        t.price,
        t.sl,
        t.tp,
        order_type=t.order_type,
        expiry=t.expiry,
    )


def plan_pending(
    t: Target,
    order: PendingOrder | None,
    held: bool,
    spec: SymbolSpec | None,
    filled: set[str],
    now: float | None = None,
    placed: AbstractSet[str] = frozenset(),
    reopen_closed: bool = False,
) -> list[Action]:
    """Actions for one pending target: keep, replace (cancel now, place next pass) or
    place its order; nothing while a position of ours holds it (filled here), no new
    order once its expiry has passed (``now``, epoch s; an order of ours gone within
    :data:`EXPIRY_GRACE_S` of it expired), nor once an order of ours (``placed``) was
    cancelled outside the follower, unless ``reopen_closed``."""
    tid = t.target_id
    if spec is None:
        return [Action("skip", tid, t.symbol, reason=f"{t.symbol} is not tradable here")]
    if held:
        return [] if order is None else [Action("cancel", tid, t.symbol, ticket=order.ticket)]
    if order is not None:
        if order_matches(order, t, spec):
            return []
        return [Action("cancel", tid, t.symbol, ticket=order.ticket, reason="order changed")]
    if tid in filled:
        return [Action("skip", tid, t.symbol, reason="pending order filled here and closed since")]
    grace = EXPIRY_GRACE_S if tid in placed else 0
    if t.expiry and now is not None and now >= t.expiry - grace:
        return [Action("skip", tid, t.symbol, reason="pending order expired")]
    if tid in placed and not reopen_closed:
        return [Action("skip", tid, t.symbol, reason=CANCELLED_OUTSIDE)]
    return [_place(t)]


def owned(
    positions: Iterable[Position], magic: int, ledger: Ledger
) -> tuple[dict[str, list[Position]], list[Position]]:
    """Positions of ours grouped by target id, and ours whose target is unknown."""
    by_ticket = {t: tid for tid, ts in ledger.tickets.items() for t in ts}
    mine: dict[str, list[Position]] = {}
    unknown: list[Position] = []
    for p in positions:
        if p.magic != magic:
            continue
        tid = target_of(p.comment) or by_ticket.get(p.ticket)
        if tid is None:
            unknown.append(p)
        else:
            mine.setdefault(tid, []).append(p)
    return mine, unknown


def plan_hedging(
    targets: Iterable[Target],
    positions: Iterable[Position],
    orders: Iterable[PendingOrder],
    specs: Mapping[str, SymbolSpec],
    quotes: Mapping[str, tuple[float, float] | None],
    ledger: Ledger,
    magic: int,
    reopen_closed: bool = False,
    filled: set[str] | None = None,
    now: float | None = None,
) -> list[Action]:
    """Actions that make a hedging account hold exactly ``targets`` (``filled``: target
    ids whose pending order of ours filled, see the module docstring; ``now``: epoch
    seconds, for pending expiries)."""
    filled = filled or set()
    mine, _ = owned(positions, magic, ledger)
    pending = {
        tid: o for o in orders if o.magic == magic and (tid := target_of(o.comment)) is not None
    }
    out: list[Action] = []
    wanted = {t.target_id: t for t in targets}
    for tid, held in sorted(mine.items()):  # extra copies first: frees margin
        if tid not in wanted:
            out += [Action("close", tid, p.symbol, ticket=p.ticket) for p in held]
    for tid, o in sorted(pending.items()):
        t = wanted.get(tid)
        late_limit = t is not None and not t.pending and t.entry == "limit"
        if t is None or (not t.pending and (mine.get(tid) or not late_limit)):
            # Gone, held, or the master's order filled before ours: a market open
            # follows at the next pass if ours did not fill meanwhile.
            out.append(Action("cancel", tid, o.symbol, ticket=o.ticket))
    for tid, t in sorted(wanted.items()):
        if t.pending:
            out += plan_pending(
                t,
                pending.get(tid),
                bool(mine.get(tid)),
                specs.get(t.symbol),
                filled,
                now,
                ledger.placed,
                reopen_closed,
            )
            continue
        spec = specs.get(t.symbol)
        if spec is None:
            out.append(Action("skip", tid, t.symbol, reason=f"{t.symbol} is not tradable here"))
            continue
        side = Side.BUY if t.side == "buy" else Side.SELL
        held = sorted(mine.get(tid, []), key=lambda p: p.open_time)
        vol = sum(p.volume for p in held)
        if not held:
            if tid in pending:
                continue  # the limit order is working (or being cancelled)
            if (tid in ledger.opened or tid in filled) and not reopen_closed:
                out.append(
                    Action(
                        "skip",
                        tid,
                        t.symbol,
                        reason="closed outside the follower (by hand, SL or TP)",
                    )
                )
                continue
        if any(p.side != side for p in held):  # master side changed: cannot be, but safe
            out += [Action("close", tid, p.symbol, ticket=p.ticket) for p in held if p.side != side]
            held = [p for p in held if p.side == side]
            vol = sum(p.volume for p in held)
        closing: set[str] = set()
        if vol > t.volume + _EPS:
            excess = round(vol - t.volume, 8)
            for p in reversed(held):  # newest first
                if excess <= _EPS:
                    break
                if p.volume <= excess + _EPS:
                    out.append(Action("close", tid, p.symbol, ticket=p.ticket))
                    closing.add(p.ticket)
                    excess = round(excess - p.volume, 8)
                else:
                    out.append(Action("reduce", tid, p.symbol, volume=excess, ticket=p.ticket))
                    excess = 0.0
        elif vol < t.volume - _EPS:
            out.append(_entry(t, side, round(t.volume - vol, 8), spec, quotes.get(t.symbol)))
        for p in held:
            if p.ticket in closing:
                continue  # closed above: a modify would fail on a ticket that is gone
            if _differs(p.sl, t.sl, spec.tick_size) or _differs(p.tp, t.tp, spec.tick_size):
                out.append(_modify(tid, p, t))
    return out


def _modify(tid: str, p: Position, t: Target) -> Action:
    """Set the position's levels to the target's; a level the target has not is
    removed (0: the broker port's "remove")."""
    return Action(
        "modify",
        tid,
        p.symbol,
        sl=t.sl if t.sl is not None else 0.0,
        tp=t.tp if t.tp is not None else 0.0,
        ticket=p.ticket,
    )


def _entry(
    t: Target, side: Side, volume: float, spec: SymbolSpec, quote: tuple[float, float] | None
) -> Action:
    if t.entry == "limit":
        return Action("limit", t.target_id, t.symbol, side, volume, t.price, t.sl, t.tp)
    if t.max_deviation_points > 0:
        if quote is None:
            return Action("wait", t.target_id, t.symbol, reason=f"no quote for {t.symbol}")
        px = quote[1] if side is Side.BUY else quote[0]
        away = abs(px - t.price) / 10.0 ** (-spec.digits)
        if away > t.max_deviation_points + _EPS:
            return Action(
                "wait",
                t.target_id,
                t.symbol,
                reason=f"price {px} is {away:.0f} points from the master's {t.price} "
                f"(max {t.max_deviation_points})",
            )
    return Action("open", t.target_id, t.symbol, side, volume, t.price, t.sl, t.tp)


def plan_netting(
    targets: Iterable[Target],
    positions: Iterable[Position],
    orders: Iterable[PendingOrder],
    specs: Mapping[str, SymbolSpec],
    quotes: Mapping[str, tuple[float, float] | None],
    ledger: Ledger,
    magic: int,
    reopen_closed: bool = False,
    filled: set[str] | None = None,
    now: float | None = None,
) -> list[Action]:
    """Actions that make a netting account hold the net volume of each target
    (``filled``: pending target ids whose order of ours filled; ``now``: epoch seconds,
    for pending expiries)."""
    filled = filled or set()
    by_symbol = {p.symbol: p for p in positions}
    orders = list(orders)
    pend_targets = {t.target_id: t for t in targets if t.pending}
    targets = [t for t in targets if not t.pending]
    wanted = {t.symbol: t for t in targets}
    out: list[Action] = []
    working: dict[str, PendingOrder] = {}
    for o in orders:
        tid = target_of(o.comment) if o.magic == magic else None
        if tid is not None and tid in pend_targets:
            working[tid] = o
    extra: dict[str, float] = {}  # filled here, not yet at the master: in the net already
    for tid, pt in sorted(pend_targets.items()):
        pspec = specs.get(pt.symbol)
        if working.get(tid) is None and tid in filled and pspec is not None:
            sign = 1 if pt.side == "buy" else -1
            extra[pt.symbol] = extra.get(pt.symbol, 0.0) + sign * pt.volume
            continue
        out += plan_pending(
            pt, working.get(tid), False, pspec, filled, now, ledger.placed, reopen_closed
        )
    pending: dict[str, PendingOrder] = {}
    cancelling: set[str] = set()
    for o in orders:
        tid = target_of(o.comment) if o.magic == magic else None
        if tid is None or tid in pend_targets:
            continue
        t = wanted.get(o.symbol)
        if t is None or t.target_id != tid or o.symbol in by_symbol:
            out.append(Action("cancel", tid, o.symbol, ticket=o.ticket))
            cancelling.add(o.symbol)
        else:
            pending[o.symbol] = o
    for sym in sorted(set(by_symbol) | set(wanted) | set(extra)):
        t = wanted.get(sym)
        p = by_symbol.get(sym)
        tid = t.target_id if t is not None else (target_of(p.comment) if p else None) or ""
        if p is not None and p.magic != magic:
            if t is not None:
                out.append(
                    Action(
                        "skip",
                        tid,
                        sym,
                        reason=f"the account holds a {sym} position the "
                        "follower did not open (netting: one position per symbol)",
                    )
                )
            continue
        spec = specs.get(sym)
        if t is not None and spec is None:
            out.append(Action("skip", tid, sym, reason=f"{sym} is not tradable here"))
            continue
        have = 0.0 if p is None else p.volume * int(p.side)
        want = 0.0 if t is None else t.volume * (1 if t.side == "buy" else -1)
        want = round(want + extra.get(sym, 0.0), 8)
        if t is not None and p is None and tid in ledger.opened and not reopen_closed:
            out.append(
                Action("skip", tid, sym, reason="closed outside the follower (by hand, SL or TP)")
            )
            continue
        delta = round(want - have, 8)
        if p is not None and abs(want) <= _EPS:
            out.append(Action("close", tid, sym, ticket=p.ticket))
            continue
        if abs(delta) > _EPS:
            if sym in cancelling:
                continue  # deal once the cancel is done (the order may have filled)
            if t is None:
                continue  # only a pending fill of ours: the master's follows
            assert spec is not None
            if sym in pending:
                continue  # the limit order is working
            side = Side.BUY if delta > 0 else Side.SELL
            flips = p is not None and have * want < 0
            reduces = p is not None and not flips and abs(want) < abs(have)
            if reduces:
                # Reducing risk never waits for a price. An opposite deal that only
                # reduces keeps the position's SL/TP (MT5); levels on it would be on
                # the wrong side. The modify below fixes them.
                out.append(Action("open", tid, sym, side, abs(delta), t.price))
            else:
                a = _entry(t, side, abs(delta), spec, quotes.get(sym))
                # A deal that opens, adds or reverses sets the position's SL/TP (MT5:
                # the last order's levels replace the position's).
                out.append(a)
                continue
        if (
            t is not None
            and p is not None
            and spec is not None
            and (_differs(p.sl, t.sl, spec.tick_size) or _differs(p.tp, t.tp, spec.tick_size))
        ):
            out.append(_modify(tid, p, t))
    return out
