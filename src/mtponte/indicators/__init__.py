"""Causal indicators: value ``i`` depends on inputs ``0..i`` only (tested by truncation).

Every window statistic is a plain sequential sum over the window, oldest first,
divided by its length: no running sums, no compensated summation. That costs a few
more additions but makes the batch value bit-identical to what a streaming
consumer computes bar by bar with :func:`window_mean`.
"""

from mtponte.indicators.core import (
    atr,
    atr_sma,
    atr_wilder,
    mean_prev,
    mean_prev_session,
    sma,
    true_range,
    true_range_step,
    wilder_next,
    window_mean,
)

__all__ = [
    "atr",
    "atr_sma",
    "atr_wilder",
    "mean_prev",
    "mean_prev_session",
    "sma",
    "true_range",
    "true_range_step",
    "wilder_next",
    "window_mean",
]
