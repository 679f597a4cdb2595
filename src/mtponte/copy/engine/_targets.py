"""From the copies the engine holds to the positions the follower executes.

- **Hedging** followers: one target per copy, with the copy's fields
  (``master_tickets`` the copy's master ticket).
- **Netting** followers hold one position per symbol, so the copies on one follower
  symbol are netted: signed volume (buy +, sell −) summed and rounded to 1e-8; zero
  → no target; the side is the sign; ``target_id`` is ``prefix + "n" + symbol``; SL
  and TP are the copies' common value when all copies on the symbol agree, else
  none; the entry is ``limit`` at the common price only when every copy is a limit
  at one price, else ``market``; ``max_deviation_points`` is the largest of the
  copies' (0 when any copy has no check); ``master_tickets`` the copies' tickets,
  sorted; ``sources`` the copies' target ids, sorted (a pending copy keeps its target
  id when the master's order fills, so a follower whose own order filled first finds
  it there: that net target holds a copy it opened).

Pending copies (``copy_pending``) are one target each on both account modes (a
pending order is an order, not a position: never netted), with ``order_type`` and
``expiry`` set.

Targets are sorted by ``target_id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from mtponte.copy.engine.model import BookState, Copy, Entry, SideName, Target


def _common(values: Iterable[float | None]) -> float | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _net(prefix: str, symbol: str, copies: list[Copy]) -> Target | None:
    signed = sum(c.volume if c.side == "buy" else -c.volume for c in copies)
    net = round(signed, 8)
    if net == 0:
        return None
    side: SideName = "buy" if net > 0 else "sell"
    entry: Entry = "market"
    price = 0.0
    prices = {c.price for c in copies}
    if all(c.entry == "limit" for c in copies) and len(prices) == 1:
        entry, price = "limit", prices.pop()
    devs = [c.max_deviation_points for c in copies]
    return Target(
        target_id=f"{prefix}n{symbol}",
        symbol=symbol,
        side=side,
        volume=abs(net),
        sl=_common(c.sl for c in copies),
        tp=_common(c.tp for c in copies),
        entry=entry,
        price=price,
        max_deviation_points=0 if 0 in devs else max(devs),
        master_tickets=tuple(sorted(c.master_ticket for c in copies)),
        sources=tuple(sorted(c.target_id for c in copies)),
    )


def _one(c: Copy) -> Target:
    return Target(
        target_id=c.target_id,
        symbol=c.symbol,
        side=c.side,
        volume=c.volume,
        sl=c.sl,
        tp=c.tp,
        entry=c.entry,
        price=c.price,
        max_deviation_points=c.max_deviation_points,
        master_tickets=(c.master_ticket,),
        order_type=c.order_type,
        expiry=c.expiry,
    )


def targets_of(state: BookState, netting: bool) -> tuple[Target, ...]:
    """The follower's targets: one per copy (hedging) or the net per symbol (netting).

    Parameters
    ----------
    state
        The engine's book state.
    netting
        True for a netting account (one position per symbol).

    Returns
    -------
    tuple[Target, ...]
        Sorted by ``target_id``.
    """
    pendings = [_one(c) for c in state.pendings.values()]
    if not netting:
        out = [_one(c) for c in state.copies.values()] + pendings
        return tuple(sorted(out, key=lambda t: t.target_id))
    by_symbol: dict[str, list[Copy]] = defaultdict(list)
    for c in state.copies.values():
        by_symbol[c.symbol].append(c)
    netted = [t for t in (_net(state.prefix, s, cs) for s, cs in by_symbol.items()) if t]
    return tuple(sorted(netted + pendings, key=lambda t: t.target_id))
