"""The pre-trade rules. Pure functions of a :class:`RiskContext`; no I/O, no clock.

A rule returns a :class:`Decision` (``allowed``, rule name, human reason). The live
runner builds one context per entry it is about to send, journals every decision
and sends the order only when all rules allow it. Limits left at ``None`` disable
their rule (it still answers, with the reason "disabled"), so a default
configuration never refuses what the backtest would take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from mtponte.domain.orders import EntryKind, Signal

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule's answer."""

    allowed: bool
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Configured limits (``None``: rule disabled).

    Attributes
    ----------
    max_signal_age_s
        Refuse a signal whose bar closed longer ago than this.
    max_sl_atr
        Refuse a stop loss farther than this many ATRs from the entry reference.
    window_start, window_end
        Exchange-local times between which entries may act (inclusive).
    daily_loss_limit
        Positive money: refuse entries once realised + open P&L of the day ≤ −limit.
    max_trades_per_day
        Entries allowed per session date.
    """

    max_signal_age_s: float | None = 60.0
    max_sl_atr: float | None = 5.0
    window_start: time | None = None
    window_end: time | None = None
    daily_loss_limit: float | None = None
    max_trades_per_day: int | None = None


@dataclass(frozen=True, slots=True)
class RiskContext:
    """Everything the rules may look at, as plain values.

    Attributes
    ----------
    signal
        The strategy's signal.
    signal_close
        Aware time at which the signal's bar closed (its open + timeframe).
    now
        Aware time of the decision.
    entry_tod_s
        Exchange-local seconds after midnight of the bar the order will act on.
    tick_size
        Price increment of the symbol.
    positions, pending_orders
        Our open positions and working orders on the symbol.
    unacknowledged
        Commands sent whose outcome is not known yet.
    day_pnl
        Realised + open P&L of the session date, in account currency.
    trades_today
        Entries already made on the session date.
    kill_switch
        Whether the kill switch is engaged.
    limits
        The configured limits.
    market_phase
        The exchange's phase at the entry bar's open (``open``, ``pre_open``,
        ``closing_call``, ``closed``, ``holiday``); ``None``: no session calendar.
    """

    signal: Signal
    signal_close: datetime
    now: datetime
    entry_tod_s: int
    tick_size: float
    positions: int
    pending_orders: int
    unacknowledged: int
    day_pnl: float
    trades_today: int
    kill_switch: bool
    limits: RiskLimits
    market_phase: str | None = None


Rule = Callable[[RiskContext], Decision]


def _ok(rule: str, reason: str) -> Decision:
    return Decision(True, rule, reason)


def _no(rule: str, reason: str) -> Decision:
    return Decision(False, rule, reason)


def signal_validity(ctx: RiskContext) -> Decision:
    """Not from the future, not stale, SL/TP on the right side and within ``max_sl_atr``."""
    name, s, lim = "signal", ctx.signal, ctx.limits
    if ctx.signal_close > ctx.now:
        return _no(name, f"signal bar closes at {ctx.signal_close.isoformat()}, after now")
    age = (ctx.now - ctx.signal_close).total_seconds()
    if lim.max_signal_age_s is not None and age > lim.max_signal_age_s + EPS:
        return _no(name, f"signal is {age:.0f}s old (max {lim.max_signal_age_s:g}s)")
    if not s.atr > 0:
        return _no(name, f"ATR {s.atr} is not positive")
    d = int(s.side)
    if s.kind is EntryKind.STOP:
        if s.price is None or s.sl is None or s.tp is None:
            return _no(name, "stop signal without price, SL and TP")
        if (s.sl - s.price) * d >= 0 or (s.tp - s.price) * d <= 0:
            return _no(name, f"SL {s.sl} / TP {s.tp} on the wrong side of stop {s.price}")
        sl_dist = abs(s.price - s.sl)
    else:
        if s.sl_distance is None or s.tp_distance is None:
            return _no(name, "next_open signal without SL/TP distances")
        if s.sl_distance <= 0 or s.tp_distance <= 0:
            return _no(name, f"SL/TP distances {s.sl_distance}/{s.tp_distance} not positive")
        sl_dist = s.sl_distance
    if lim.max_sl_atr is not None:
        # SL levels are rounded to the tick: allow half a tick beyond the limit.
        cap = lim.max_sl_atr * s.atr + ctx.tick_size / 2
        if sl_dist > cap + EPS:
            return _no(name, f"SL {sl_dist:g} away is more than {lim.max_sl_atr:g} × ATR {s.atr:g}")
    return _ok(name, f"age {age:.0f}s, SL {sl_dist:g} away")


def trading_window(ctx: RiskContext) -> Decision:
    """The entry bar opens inside the configured window."""
    lim = ctx.limits
    if lim.window_start is None and lim.window_end is None:
        return _ok("window", "disabled")
    tod = ctx.entry_tod_s
    start = _secs(lim.window_start) if lim.window_start is not None else 0
    end = _secs(lim.window_end) if lim.window_end is not None else 86_399
    shown = f"{tod // 3600:02d}:{tod % 3600 // 60:02d}"
    if start <= tod <= end:
        return _ok("window", f"{shown} inside the window")
    return _no("window", f"{shown} outside {lim.window_start}–{lim.window_end}")


def one_position(ctx: RiskContext) -> Decision:
    """No open position and no working order of ours."""
    if ctx.positions or ctx.pending_orders:
        return _no(
            "one_position",
            f"{ctx.positions} position(s) and {ctx.pending_orders} order(s) already open",
        )
    return _ok("one_position", "flat")


def command_pending(ctx: RiskContext) -> Decision:
    """No command whose outcome is still unknown."""
    if ctx.unacknowledged:
        return _no("command_pending", f"{ctx.unacknowledged} command(s) not acknowledged yet")
    return _ok("command_pending", "no command in flight")


def daily_loss(ctx: RiskContext) -> Decision:
    """Realised + open P&L of the day above ``−daily_loss_limit``."""
    limit = ctx.limits.daily_loss_limit
    if limit is None:
        return _ok("daily_loss", "disabled")
    if ctx.day_pnl <= -limit + EPS:
        return _no("daily_loss", f"day P&L {ctx.day_pnl:.2f} reached the limit −{limit:.2f}")
    return _ok("daily_loss", f"day P&L {ctx.day_pnl:.2f} > −{limit:.2f}")


def max_trades_per_day(ctx: RiskContext) -> Decision:
    """Fewer entries today than ``max_trades_per_day``."""
    cap = ctx.limits.max_trades_per_day
    if cap is None:
        return _ok("max_trades", "disabled")
    if ctx.trades_today >= cap:
        return _no("max_trades", f"{ctx.trades_today} trade(s) today (max {cap})")
    return _ok("max_trades", f"{ctx.trades_today} of {cap} trade(s) today")


def kill_switch(ctx: RiskContext) -> Decision:
    """The kill switch is not engaged."""
    if ctx.kill_switch:
        return _no("kill_switch", "kill switch engaged")
    return _ok("kill_switch", "off")


def market_phase(ctx: RiskContext) -> Decision:
    """The exchange is in its regular session when the entry acts (no entry in an
    auction phase: pre-opening, closing call; none when closed or on a holiday)."""
    if ctx.market_phase is None:
        return _ok("market_phase", "no session calendar")
    if ctx.market_phase == "open":
        return _ok("market_phase", "regular session")
    return _no("market_phase", f"market phase {ctx.market_phase} at the entry bar's open")


DEFAULT_RULES: tuple[Rule, ...] = (
    kill_switch,
    command_pending,
    signal_validity,
    market_phase,
    trading_window,
    one_position,
    daily_loss,
    max_trades_per_day,
)


def evaluate(ctx: RiskContext, rules: Sequence[Rule] = DEFAULT_RULES) -> list[Decision]:
    """Every rule's decision, in order.

    Parameters
    ----------
    ctx
        The context of the entry being considered.
    rules
        Rules to run (default :data:`DEFAULT_RULES`).

    Returns
    -------
    list of Decision
        One per rule; the entry may go only if all are allowed.
    """
    return [rule(ctx) for rule in rules]


def first_refusal(decisions: Sequence[Decision]) -> Decision | None:
    """The first refusing decision, or ``None`` when all allow."""
    for d in decisions:
        if not d.allowed:
            return d
    return None


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second
