"""The elephant-bar rules as scalar functions, written once.

Each function is plain Python, called as-is by the streaming path, the paper broker
and live; :mod:`mtponte.strategies._rules_nb` compiles these very functions with numba
for the batch path, so both evaluate the same floating-point expressions in the same
order. (This module does not import numba: live processes start fast.)
"""

from __future__ import annotations

from mtponte.domain.symbols import round_to_tick

EPS = 1e-9  # a value within EPS of its threshold passes


def elephant_direction(
    o: float,
    h: float,
    l: float,
    c: float,
    v: float,
    mean_range: float,
    mean_volume: float,
    tick: float,
    min_range_mult: float,
    min_volume_mult: float,
    max_wick_pct: float,
) -> int:
    """+1 / −1 when the bar is a bull / bear elephant, else 0.

    ``mean_range`` and ``mean_volume`` are means over *previous* bars; NaN (a
    lookback not yet full) never qualifies, nor does a zero mean volume while the
    volume rule is on (a feed without volume must disable it explicitly).
    """
    if mean_range != mean_range or mean_volume != mean_volume:
        return 0
    rng = h - l
    if rng < min_range_mult * mean_range - EPS:
        return 0
    if min_volume_mult > 0.0 and (mean_volume <= 0.0 or v < min_volume_mult * mean_volume - EPS):
        return 0  # no volume information: the rule cannot pass
    body = abs(c - o)
    if body < (1.0 - max_wick_pct) * rng - EPS:
        return 0
    if body < tick - EPS:
        return 0
    return 1 if c > o else -1


def in_window(tod: int, start: int, end: int) -> bool:
    """Open time of day (seconds) inside [start, end], inclusive."""
    return start <= tod <= end


def after_flat(tod: int, flat_tod: int) -> bool:
    """At or after the flat time of day (``flat_tod`` < 0 disables flat time)."""
    return flat_tod >= 0 and tod >= flat_tod


def stop_price(direction: int, h: float, l: float, tick: float) -> float:
    """Entry stop one tick beyond the setup bar: ``H + tick`` long, ``L − tick`` short,
    on the tick grid (the order price a broker accepts)."""
    return round_to_tick(h + tick if direction > 0 else l - tick, tick)


def triggered(direction: int, h: float, l: float, stop: float) -> bool:
    """Did a bar with high ``h`` / low ``l`` reach ``stop``?"""
    if direction > 0:
        return h >= stop - EPS
    return l <= stop + EPS


def bracket(
    direction: int, ref: float, sl_dist: float, tp_dist: float, tick: float
) -> tuple[float, float]:
    """SL and TP around ``ref``, rounded to the nearest tick (half tick up)."""
    sl = round_to_tick(ref - direction * sl_dist, tick)
    tp = round_to_tick(ref + direction * tp_dist, tick)
    return sl, tp
