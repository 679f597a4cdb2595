"""numba twins of :mod:`mtponte.backtest.fill` (compiled from the same functions)."""

from __future__ import annotations

from mtponte._numba import njit
from mtponte.backtest.fill import bars_held, exit_check, flat_due, slipped, stop_fill, trade_pnl
from mtponte.strategies._rules_nb import round_to_tick_nb

_jit = njit
stop_fill_nb = _jit(stop_fill)
slipped_nb = _jit(slipped)
exit_check_nb = _jit(exit_check)
flat_due_nb = _jit(flat_due)
trade_pnl_nb = _jit(trade_pnl)
bars_held_nb = _jit(bars_held)


@_jit
def trail_sl_nb(direction: int, sl: float, low: float, high: float, tick: float) -> float:
    # Same expressions as ``fill.trail_sl``; numba cannot call the Python-level
    # ``round_to_tick`` from a jitted function, so it calls the twin.
    level = round_to_tick_nb(low if direction > 0 else high, tick)
    if sl != sl:
        return level
    return max(sl, level) if direction > 0 else min(sl, level)
