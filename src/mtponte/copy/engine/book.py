"""One step of the copy engine: master book + settings + follower facts → target book.

A step, in order (every decision carries ``at = now``):

1. **No follower report yet** (``facts is None``): nothing can be resolved or sized;
   the state is returned unchanged (``started`` stays False) with the hedging
   targets of what is held and, when a master position is undecided, one ``skip``
   decision "waiting for the follower's first report".
2. **Inactive** (``isActive`` false): the book is frozen as it is (nothing opened,
   closed or changed), one ``freeze`` decision.
3. **Stale master** (``master.fresh`` false): frozen likewise; only a sequenced close
   or a fresh snapshot closes a copy. (Frozen at the first step with the master
   holding nothing, the book counts as started: nothing can be a late join.)
4. **Trading day** (``timezone``): on a new day ``trades_today`` restarts at 0. A
   tripped risk stop is *not* cleared by a new day, only by :func:`reset_risk`.
5. **Risk stop** (``enableRiskManagement`` and ``maxDailyLoss`` > 0): when the
   follower's daily P&L is ``<= -maxDailyLoss`` and no stop is tripped, the stop
   trips with ``riskAction`` (a ``risk`` decision): ``disable`` freezes every copy
   (the user manages the account); ``close_only`` opens nothing new but follows the
   master's closes, partial closes and SL/TP changes (a copy never grows);
   ``close_all`` closes every copy. Under any stop, new master positions are skipped
   (and stay skipped after a reset).
6. **Held copies**: a copy whose master position is gone is closed (``close``); a
   master position that changed side (a netting master's reversal) closes its copy
   and is skipped; otherwise the volume follows the master's proportionally
   (``resize``, :func:`._lots.resize`) and SL/TP are recomputed from the master's
   (``modify``). A copy whose follower symbol is missing from the report is held as
   it is (a ``freeze`` decision).
   A master position reported with volume 0 counts as closed.
7. Skipped tickets the master no longer holds are forgotten.
8. **New master positions** (by open time, then ticket) are decided once
   (:mod:`._open`); each open counts in ``trades_today``. Positions present at the
   first step are a *late join*.
9. **Pending orders** (``copy_pending``, :mod:`._pending`): a master position filled
   from an order with a pending copy takes that copy over (same target id, a
   ``fill`` decision, counted in ``trades_today``); held pending copies follow their
   orders or are cancelled; new orders are decided once (``place`` or ``skip``). A
   position filled from a skipped order stays skipped. With ``copy_pending`` off the
   master's orders are ignored and their fills are copied as new positions.
10. ``started`` becomes True; the targets are :func:`targets_of` the new state for the
   follower's account mode.
"""

from __future__ import annotations

from dataclasses import replace

from mtponte.copy.engine import _lots, _open, _pending, _sltp, _symbols
from mtponte.copy.engine._filters import trading_day
from mtponte.copy.engine._targets import targets_of
from mtponte.copy.engine.model import (
    BookState,
    Copy,
    Decision,
    FollowerFacts,
    MasterPosition,
    MasterView,
    RiskState,
    StepResult,
)
from mtponte.copy.engine.settings import CopySettings

__all__ = ["reset_risk", "step", "targets_of"]


def _order(pos: MasterPosition) -> tuple[int, int, str]:
    return pos.open_time, len(pos.ticket), pos.ticket


def _follow(
    c: Copy,
    pos: MasterPosition,
    settings: CopySettings,
    facts: FollowerFacts,
    risk: RiskState,
    now: int,
    out: list[Decision],
) -> Copy:
    """Bring a held copy in line with its master position (volume, SL, TP)."""
    spec = facts.symbols.get(c.symbol)
    if spec is None:
        reason = f"follower symbol {c.symbol} missing from the follower's report: copy held as is"
        out.append(Decision("freeze", c.master_ticket, reason, at=now))
        return c
    volume, lf, note = _lots.resize(
        c.volume, c.volume0, c.master_volume0, pos.volume, spec, can_grow=risk != "close_only"
    )
    if volume != c.volume:
        reason = note or f"master volume {c.master_volume0:g} → {pos.volume:g}: proportional"
        lf = [("from", c.volume), *lf]
        out.append(Decision("resize", c.master_ticket, reason, tuple(lf), at=now))
    sl, tp, _, sf = _sltp.levels(pos, c.side, spec, settings, opening=False)
    if (sl, tp) != (c.sl, c.tp):
        sf = [("from_sl", c.sl), ("from_tp", c.tp), *sf]
        out.append(Decision("modify", c.master_ticket, "master SL/TP changed", tuple(sf), at=now))
    if volume == c.volume and (sl, tp) == (c.sl, c.tp):
        return c
    return replace(c, volume=volume, sl=sl, tp=tp)


def _close(c: Copy, reason: str, now: int) -> Decision:
    factors = (("symbol", c.symbol), ("side", c.side), ("volume", c.volume))
    return Decision("close", c.master_ticket, reason, factors, at=now)


def _frozen(
    state: BookState, master: MasterView, facts: FollowerFacts, reason: str, now: int
) -> StepResult:
    if not state.started and not master.positions:
        # Nothing held by the master at the follower's start: nothing can be a late
        # join, so what the master opens from now on is copied as it happens.
        state = replace(state, started=True)
    return StepResult(
        state, targets_of(state, facts.netting), (Decision("freeze", "", reason, at=now),)
    )


def step(
    state: BookState,
    master: MasterView,
    settings: CopySettings,
    facts: FollowerFacts | None,
    now: int,
) -> StepResult:
    """Bring one subscription's book up to date with the master as it is now.

    Parameters
    ----------
    state
        What the engine decided before (``BookState(prefix=...)`` for a new
        subscription).
    master
        The master's current positions (snapshot with every later event applied),
        whether it is fresh, and its account facts.
    settings
        The subscription's copy settings.
    facts
        The follower's last reported account facts, or ``None`` before its first
        report (nothing can be sized or resolved then: the book stays as it is).
    now
        Epoch seconds (UTC).

    Returns
    -------
    StepResult
        The new state, the follower's targets and the decisions taken in this step.
    """
    if facts is None:
        waiting = any(
            p.ticket not in state.copies and p.ticket not in state.skipped for p in master.positions
        )
        reason = "waiting for the follower's first report"
        ds = (Decision("skip", "", reason, at=now),) if waiting else ()
        return StepResult(state, targets_of(state, False), ds)
    if not settings.isActive:
        reason = "subscription inactive (isActive false): book frozen"
        return _frozen(state, master, facts, reason, now)
    if not master.fresh:
        reason = (
            "master stale: book frozen; only a sequenced close or a fresh snapshot closes a copy"
        )
        return _frozen(state, master, facts, reason, now)

    out: list[Decision] = []
    day = trading_day(now, settings.timezone)
    trades = state.trades_today if state.day == day else 0
    risk, risk_reason = state.risk, state.risk_reason
    limit = settings.maxDailyLoss
    if settings.enableRiskManagement and limit > 0 and facts.daily_pnl <= -limit and risk == "ok":
        risk = settings.riskAction
        risk_reason = f"daily P&L {facts.daily_pnl:g} reached maxDailyLoss {limit:g}: {risk}"
        factors = (("daily_pnl", facts.daily_pnl), ("maxDailyLoss", limit), ("riskAction", risk))
        out.append(Decision("risk", "", risk_reason, factors, at=now))

    positions = {p.ticket: p for p in master.positions if p.volume > 0}  # 0 lots: closed
    orders = {o.ticket: o for o in master.orders if o.volume > 0} if settings.copy_pending else {}
    # A position filled from an order, by that order's ticket (MT5 hedging: the
    # position takes the order's ticket; the paper broker gives it a new one).
    from_order = {p.from_order or p.ticket: p for p in positions.values()}
    copies: dict[str, Copy] = {}
    skipped = {t: r for t, r in state.skipped.items() if t in positions or t in orders}
    for ticket, fp in from_order.items():
        if ticket in state.skipped and fp.ticket not in state.copies:
            skipped.setdefault(fp.ticket, state.skipped[ticket])  # a skipped order's fill
    for ticket in sorted(state.copies, key=lambda t: (len(t), t)):
        c = state.copies[ticket]
        pos = positions.get(ticket)
        if risk == "disable":
            copies[ticket] = c
        elif pos is None:
            out.append(_close(c, "closed by the master", now))
        elif risk == "close_all":
            out.append(_close(c, f"risk stop close_all: {risk_reason}", now))
            skipped[ticket] = f"closed by risk stop close_all ({risk_reason})"
        elif c.master_side is not None and pos.side != c.master_side:
            reason = f"master position reversed {c.master_side} → {pos.side}: copy closed"
            out.append(_close(c, reason, now))
            skipped[ticket] = reason
        else:
            copies[ticket] = _follow(c, pos, settings, facts, risk, now, out)

    filled: set[str] = set()
    for ticket in sorted(state.pendings, key=lambda t: (len(t), t)):
        filler = from_order.get(ticket)
        if filler is None or filler.ticket in state.copies or risk == "disable":
            continue
        c, decision = _pending.fill(
            state.pendings[ticket], filler, facts.symbols.get(filler.symbol), now
        )
        out.append(decision)
        filled.add(ticket)
        trades += 1
        if risk == "close_all":
            out.append(_close(c, f"risk stop close_all: {risk_reason}", now))
            skipped[filler.ticket] = f"closed by risk stop close_all ({risk_reason})"
            continue
        copies[filler.ticket] = _follow(c, filler, settings, facts, risk, now, out)
    pendings = _pending.step_orders(
        state.pendings,
        orders,
        filled,
        risk,
        risk_reason,
        settings,
        facts,
        master.facts,
        now,
        out,
        skipped,
    )

    ctx = _open.Context(
        settings=settings,
        facts=facts,
        master=master.facts,
        symbol_map=_symbols.parse_map(settings.symbolMap),
        prefix=state.prefix,
        now=now,
        late=not state.started,
        risk=risk,
        risk_reason=risk_reason,
    )
    for pos in sorted(positions.values(), key=_order):
        if pos.ticket in copies or pos.ticket in skipped or pos.ticket in state.copies:
            continue
        copy, decision = _open.decide(pos, len(copies), trades, ctx)
        out.append(decision)
        if copy is None:
            skipped[pos.ticket] = decision.reason
        else:
            copies[pos.ticket] = copy
            trades += 1
    for o in sorted(orders.values(), key=lambda o: (len(o.ticket), o.ticket)):
        if o.ticket in pendings or o.ticket in skipped or o.ticket in state.pendings:
            continue
        if o.ticket in filled:
            continue
        copy, decision = _pending.decide(o, len(copies), trades, ctx)
        out.append(decision)
        if copy is None:
            skipped[o.ticket] = decision.reason
        else:
            pendings[o.ticket] = copy

    new = BookState(
        prefix=state.prefix,
        copies=copies,
        skipped=skipped,
        started=True,
        day=day,
        trades_today=trades,
        risk=risk,
        risk_reason=risk_reason,
        pendings=pendings,
    )
    return StepResult(new, targets_of(new, facts.netting), tuple(out))


def reset_risk(state: BookState) -> BookState:
    """Clear a tripped daily-loss stop (the explicit reset).

    Positions skipped while the stop was tripped stay skipped; only master positions
    opened after the reset are copied. Recording a ``reset`` decision is the caller's.

    Parameters
    ----------
    state
        The book state.

    Returns
    -------
    BookState
        The state with ``risk`` ``"ok"`` and no risk reason.
    """
    return replace(state, risk="ok", risk_reason="")
