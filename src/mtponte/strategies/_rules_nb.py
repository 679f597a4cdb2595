"""numba twins of :mod:`mtponte.strategies._rules` (compiled from the same functions)."""

from __future__ import annotations

from mtponte._numba import njit
from mtponte.domain.symbols import round_to_tick
from mtponte.strategies._rules import after_flat, elephant_direction, in_window, triggered

_jit = njit
round_to_tick_nb = _jit(round_to_tick)
elephant_direction_nb = _jit(elephant_direction)
in_window_nb = _jit(in_window)
after_flat_nb = _jit(after_flat)
triggered_nb = _jit(triggered)


@_jit
def stop_price_nb(direction: int, h: float, l: float, tick: float) -> float:
    # Twin of ``stop_price`` (calls the compiled ``round_to_tick``).
    return round_to_tick_nb(h + tick if direction > 0 else l - tick, tick)


@_jit
def bracket_nb(
    direction: int, ref: float, sl_dist: float, tp_dist: float, tick: float
) -> tuple[float, float]:
    # Same expressions as ``bracket``; numba cannot compile a call to the Python-level
    # ``round_to_tick`` from inside another jitted function, so it calls the twin.
    sl = round_to_tick_nb(ref - direction * sl_dist, tick)
    tp = round_to_tick_nb(ref + direction * tp_dist, tick)
    return sl, tp
