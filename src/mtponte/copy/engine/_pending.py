"""Pending orders of the master, copied when the subscription's ``copy_pending`` is on.

A pending copy is a :class:`~.model.Copy` with ``order_type`` set, kept in
``BookState.pendings`` by the master order's ticket; its target id is
``prefix + "t" + order ticket``. Rules:

- **New master order**: decided once like a new position (:func:`._open.decide`:
  symbol resolution, contract size, filters, ``maxOpenPositions``,
  ``maxDailyTrades``, risk stop, SL/TP rules, lot pipeline, each skip with its
  reason), with the order's price as the entry. Not a late join (an order is not yet
  a position) and no signal age (the order is not stale while it works). ``invert``
  flips the side and the type (a buy limit becomes a sell stop: both act below the
  market). Placing counts nothing in ``trades_today``: the fill does.
- **Price** on the follower's tick grid, rounded toward the master's intent: a buy
  limit and a sell stop down, a sell limit and a buy stop up (never a better fill or
  an earlier trigger than the master asked for).
- **Held pending copy**: price, SL/TP (``slTpMode``), volume (lot pipeline from the
  master's current volume) and expiry follow the master's order (``modify``); a
  volume the pipeline now refuses cancels the copy (``cancel``, skipped).
- **Gone from the master** without a position: ``cancel`` ("cancelled or expired at
  the master"). ``copy_pending`` turned off cancels every pending copy.
- **Filled at the master** (a position whose ticket or ``from_order`` is the order's
  ticket): :func:`fill` turns the pending copy into the position copy, **same target
  id**, so a follower whose own pending already filled holds the copy already.
- Risk stop ``disable`` freezes pending copies; ``close_only`` and ``close_all``
  cancel them (a pending order opens exposure).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from mtponte.copy.engine import _lots, _open, _sltp
from mtponte.copy.engine.model import (
    Copy,
    Decision,
    FollowerFacts,
    MasterFacts,
    MasterOrder,
    MasterPosition,
    OrderType,
    RiskState,
    SideName,
)
from mtponte.copy.engine.settings import CopySettings
from mtponte.domain.symbols import SymbolSpec


def order_price(side: SideName, order_type: OrderType, price: float, spec: SymbolSpec) -> float:
    """``price`` on the follower's tick grid, rounded toward the master's intent.

    A buy limit and a sell stop round down, a sell limit and a buy stop up: the copy
    never fills at a better price or triggers earlier than the master's order.
    """
    up = (side == "sell") == (order_type == "limit")
    ticks = price / spec.tick_size
    n = math.ceil(ticks - 1e-9) if up else math.floor(ticks + 1e-9)
    return round(n * spec.tick_size, max(spec.digits, 0) + 2)


def as_position(o: MasterOrder) -> MasterPosition:
    """The order as the position it would open (for the checks positions go through)."""
    return MasterPosition(o.ticket, o.symbol, o.side, o.volume, o.price, o.sl, o.tp, 0)


def _flipped(o: MasterOrder, settings: CopySettings) -> OrderType:
    if not settings.invert:
        return o.order_type
    return "stop" if o.order_type == "limit" else "limit"


def decide(
    o: MasterOrder, n_copies: int, trades_today: int, ctx: _open.Context
) -> tuple[Copy | None, Decision]:
    """Copy a new master pending order or refuse it (the decision says why)."""
    copy, d = _open.decide(as_position(o), n_copies, trades_today, replace(ctx, late=False))
    if copy is None:
        return None, replace(d, reason=f"pending {o.order_type}: {d.reason}")
    spec = ctx.facts.symbols[copy.symbol]
    otype = _flipped(o, ctx.settings)
    price = order_price(copy.side, otype, o.price, spec)
    copy = replace(
        copy,
        order_type=otype,
        expiry=o.expiry,
        price=price,
        entry="market",
        max_deviation_points=0,
    )
    factors = (*d.factors, ("order_type", otype), ("price", price), ("expiry", o.expiry))
    reason = f"pending {otype} copied"
    return copy, Decision("place", o.ticket, reason, factors, at=ctx.now)


def follow(
    c: Copy,
    o: MasterOrder,
    settings: CopySettings,
    facts: FollowerFacts,
    master_facts: MasterFacts,
    now: int,
    out: list[Decision],
) -> Copy | None:
    """Bring a held pending copy in line with its master order (``None``: cancel it)."""
    spec = facts.symbols.get(c.symbol)
    if spec is None:
        reason = f"follower symbol {c.symbol} missing from the follower's report: order held"
        out.append(Decision("freeze", o.ticket, reason, at=now))
        return c
    assert c.order_type is not None
    price = order_price(c.side, c.order_type, o.price, spec)
    sl, tp, _, sf = _sltp.levels(as_position(o), c.side, spec, settings, opening=False)
    volume = c.volume
    if o.volume != c.master_volume0:
        sized, why, lf = _lots.size(
            o.volume, o.symbol, master_facts, facts, spec, settings, o.price, sl
        )
        if sized is None:
            out.append(Decision("cancel", o.ticket, f"pending volume: {why}", tuple(lf), at=now))
            return None
        volume = sized
    new = replace(
        c,
        price=price,
        sl=sl,
        tp=tp,
        volume=volume,
        volume0=volume,
        master_volume0=o.volume,
        expiry=o.expiry,
    )
    if new != c:
        factors = (
            ("from_price", c.price),
            ("price", price),
            ("from_volume", c.volume),
            ("volume", volume),
            ("expiry", o.expiry),
            *sf,
        )
        out.append(Decision("modify", o.ticket, "master pending order changed", factors, at=now))
    return new


def step_orders(
    held: Mapping[str, Copy],
    orders: Mapping[str, MasterOrder],
    filled: set[str],
    risk: RiskState,
    risk_reason: str,
    settings: CopySettings,
    facts: FollowerFacts,
    master_facts: MasterFacts,
    now: int,
    out: list[Decision],
    skipped: dict[str, str],
) -> dict[str, Copy]:
    """The held pending copies after this step (new orders are decided by the caller).

    ``filled`` are the order tickets the master's positions filled from: those copies
    are turned into position copies by :func:`fill`, not handled here.
    """
    kept: dict[str, Copy] = {}
    for ticket in sorted(held, key=lambda t: (len(t), t)):
        c = held[ticket]
        if ticket in filled:
            continue
        o = orders.get(ticket)
        if risk == "disable":
            kept[ticket] = c
        elif not settings.copy_pending:
            out.append(_cancel(c, "copy_pending turned off", now))
        elif o is None:
            out.append(_cancel(c, "cancelled or expired at the master", now))
        elif risk != "ok":
            reason = f"risk stop {risk}: pending copy cancelled ({risk_reason})"
            out.append(_cancel(c, reason, now))
            skipped[ticket] = reason
        elif c.master_side is not None and o.side != c.master_side:
            out.append(_cancel(c, "master order changed side", now))
            skipped[ticket] = "master order changed side"
        else:
            new = follow(c, o, settings, facts, master_facts, now, out)
            if new is None:
                skipped[ticket] = "pending volume refused by the lot pipeline"
            else:
                kept[ticket] = new
    return kept


def _cancel(c: Copy, reason: str, now: int) -> Decision:
    factors = (("symbol", c.symbol), ("order_type", c.order_type), ("price", c.price))
    return Decision("cancel", c.master_ticket, reason, factors, at=now)


def fill(c: Copy, pos: MasterPosition, spec: SymbolSpec | None, now: int) -> tuple[Copy, Decision]:
    """The position copy a master fill makes of pending copy ``c`` (same target id)."""
    price = spec.round_price(pos.open_price) if spec is not None else pos.open_price
    new = replace(
        c,
        master_ticket=pos.ticket,
        order_type=None,
        expiry=0,
        entry="market",
        price=price,
        max_deviation_points=0,
        master_side=pos.side,
    )
    reason = "master pending order filled: its pending copy is now the position copy"
    factors = (("order", c.master_ticket), ("position", pos.ticket), ("target_id", c.target_id))
    return new, Decision("fill", pos.ticket, reason, factors, at=now)
