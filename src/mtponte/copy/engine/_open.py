"""Deciding, once, whether a new master position is copied.

Checks in order; the first that fails is the reason the position is skipped (and it
stays skipped: the decision is never revisited):

1. symbol resolution (:mod:`._symbols`);
2. contract size: the master's contract size of the symbol (when it reports one)
   must equal the follower's within 1e-9 relative, unless ``volumeMode`` is
   ``contract_size``;
3. filters (:mod:`._filters`): blocked symbols, allowed symbols, direction (after
   ``invert``), trading hours;
4. ``maxOpenPositions`` (copies held, counting those opened in this step);
5. ``maxDailyTrades`` (copies opened this trading day);
6. a tripped risk stop;
7. late join: a position already open at the subscription's first step is refused
   (``lateJoin`` ``skip``), or copied as a limit at the master's open price
   (``limit``) or at market within ``maxDeviationPoints`` (``market``);
8. ``maxSignalAgeS``: a position whose ``open_time`` is known and older is refused;
9. the SL/TP rules (:mod:`._sltp`, the no-SL rule);
10. the lot pipeline (:mod:`._lots`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mtponte.copy.engine import _filters, _lots, _sltp, _symbols
from mtponte.copy.engine.model import (
    Copy,
    Decision,
    Entry,
    FollowerFacts,
    MasterFacts,
    MasterPosition,
    RiskState,
    SideName,
)
from mtponte.copy.engine.settings import CopySettings


@dataclass(frozen=True, slots=True)
class Context:
    """What deciding a new copy needs besides the position."""

    settings: CopySettings
    facts: FollowerFacts
    master: MasterFacts
    symbol_map: Mapping[str, str]
    prefix: str
    now: int
    late: bool
    risk: RiskState
    risk_reason: str


def flip(side: SideName) -> SideName:
    """The other side."""
    return "sell" if side == "buy" else "buy"


def follower_side(pos: MasterPosition, settings: CopySettings) -> SideName:
    """The follower's side for ``pos`` (flipped with ``invert``)."""
    return flip(pos.side) if settings.invert else pos.side


def _skip(pos: MasterPosition, reason: str, ctx: Context, factors: list) -> Decision:
    return Decision("skip", pos.ticket, reason, tuple(factors), at=ctx.now)


def decide(
    pos: MasterPosition, n_copies: int, trades_today: int, ctx: Context
) -> tuple[Copy | None, Decision]:
    """Copy ``pos`` or refuse it, with the decision that says why.

    Parameters
    ----------
    pos
        A master position the engine has not decided on yet.
    n_copies
        Copies held now (for ``maxOpenPositions``).
    trades_today
        Copies opened this trading day (for ``maxDailyTrades``).
    ctx
        Settings, facts and step values.

    Returns
    -------
    tuple[Copy | None, Decision]
        The copy (``None`` when refused) and an ``open`` or ``skip`` decision.
    """
    s = ctx.settings
    f: list = [("master_symbol", pos.symbol)]
    symbol, how = _symbols.resolve(pos.symbol, ctx.symbol_map, ctx.facts.symbols.keys())
    if symbol is None:
        return None, _skip(pos, how, ctx, f)
    spec = ctx.facts.symbols[symbol]
    f += [("symbol", symbol), ("symbol_rule", how)]
    master_cs = ctx.master.contract_sizes.get(pos.symbol)
    if master_cs is not None and s.volumeMode != "contract_size":
        scale = max(abs(master_cs), abs(spec.contract_size))
        if abs(master_cs - spec.contract_size) > 1e-9 * scale:
            reason = (
                f"contract size differs ({master_cs:g} vs {spec.contract_size:g}): "
                "use volumeMode contract_size or map another symbol"
            )
            return None, _skip(pos, reason, ctx, f)
    side = follower_side(pos, s)
    f.append(("side", side))
    reason = _filters.check(pos.symbol, symbol, side, ctx.now, s)
    if reason:
        return None, _skip(pos, reason, ctx, f)
    if s.maxOpenPositions > 0 and n_copies >= s.maxOpenPositions:
        reason = f"maxOpenPositions {s.maxOpenPositions} reached ({n_copies} copies held)"
        return None, _skip(pos, reason, ctx, f)
    if s.maxDailyTrades > 0 and trades_today >= s.maxDailyTrades:
        reason = f"maxDailyTrades {s.maxDailyTrades} reached ({trades_today} today)"
        return None, _skip(pos, reason, ctx, f)
    if ctx.risk != "ok":
        reason = f"risk stop {ctx.risk}: no new copies ({ctx.risk_reason})"
        return None, _skip(pos, reason, ctx, f)
    entry: Entry = "market"
    opened = "copied"
    if ctx.late:
        if s.lateJoin == "skip":
            reason = (
                "late join: the master held this position before the first step (lateJoin skip)"
            )
            return None, _skip(pos, reason, ctx, f)
        entry = "limit" if s.lateJoin == "limit" else "market"
        opened = f"late join: {entry} at the master's open price"
    if s.maxSignalAgeS > 0 and pos.open_time > 0 and ctx.now - pos.open_time > s.maxSignalAgeS:
        age = ctx.now - pos.open_time
        reason = f"signal age {age}s exceeds maxSignalAgeS {s.maxSignalAgeS}s"
        return None, _skip(pos, reason, ctx, f)
    sl, tp, reason, sf = _sltp.levels(pos, side, spec, s, opening=True)
    f += sf
    if reason:
        return None, _skip(pos, reason, ctx, f)
    volume, reason, lf = _lots.size(
        pos.volume, pos.symbol, ctx.master, ctx.facts, spec, s, pos.open_price, sl
    )
    f += lf
    if volume is None:
        return None, _skip(pos, reason, ctx, f)
    copy = Copy(
        target_id=f"{ctx.prefix}t{pos.ticket}",
        master_ticket=pos.ticket,
        symbol=symbol,
        side=side,
        volume=volume,
        volume0=volume,
        master_volume0=pos.volume,
        sl=sl,
        tp=tp,
        entry=entry,
        price=spec.round_price(pos.open_price),
        max_deviation_points=s.maxDeviationPoints if entry == "market" else 0,
        decided_at=ctx.now,
        master_side=pos.side,
    )
    f.append(("entry", entry))
    return copy, Decision("open", pos.ticket, opened, tuple(f), at=ctx.now)
