"""numba twins of :mod:`mtponte.backtest.fill` (compiled from the same functions)."""

from __future__ import annotations

from mtponte._numba import njit
from mtponte.backtest.fill import bars_held, exit_check, flat_due, slipped, stop_fill, trade_pnl

_jit = njit
stop_fill_nb = _jit(stop_fill)
slipped_nb = _jit(slipped)
exit_check_nb = _jit(exit_check)
flat_due_nb = _jit(flat_due)
trade_pnl_nb = _jit(trade_pnl)
bars_held_nb = _jit(bars_held)
