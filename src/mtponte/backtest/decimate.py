"""Fewer candles for a chart: every bar near a trade, aggregates elsewhere.

A chart of a million bars cannot be drawn (or shipped in one HTML file) bar by bar,
but a trader zooming on a trade wants the exact bars around it. So the bars within
``pad`` bars of a trade are kept one by one and the stretches between trades are
merged into OHLC buckets, sized so that the whole chart stays under a budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Candles:
    """OHLC rows for a chart; row ``k`` covers bars ``first[k]`` to ``last[k]`` inclusive."""

    first: I64
    last: I64
    open: F64
    high: F64
    low: F64
    close: F64

    def __len__(self) -> int:
        return len(self.first)


def decimate(
    open_: F64,
    high: F64,
    low: F64,
    close: F64,
    entry_i: I64,
    exit_i: I64,
    max_candles: int = 20_000,
    pad: int = 30,
) -> Candles:
    """Aggregate the bars away from trades so that the chart has about ``max_candles`` rows.

    Parameters
    ----------
    open_, high, low, close
        Bar prices, oldest first.
    entry_i, exit_i
        Bar index of each trade's entry and exit.
    max_candles
        Budget for the rows. Bars within ``pad`` bars of a trade get up to half of it;
        when they need more, ``pad`` shrinks (to a third, a tenth, 0) and then only the
        entry and exit bars are kept alone. The result has at most
        ``max_candles + 4 * trades + 2`` rows.
    pad
        Bars kept one by one before each entry and after each exit.

    Returns
    -------
    Candles
        Every trade's entry and exit bar is a row of its own.
    """
    n = len(open_)
    if max_candles < 2:
        raise ValueError("max_candles must be at least 2")
    if n == 0:
        z = np.zeros(0, np.int64)
        return Candles(z, z, *(np.zeros(0) for _ in range(4)))
    entry_i = np.asarray(entry_i, np.int64)
    exit_i = np.asarray(exit_i, np.int64)
    keep = np.zeros(n, bool)
    if n <= max_candles:
        keep[:] = True
    else:
        for p in sorted({pad, pad // 3, pad // 10, 0}, reverse=True):
            keep = _windows(n, np.maximum(entry_i - p, 0), np.minimum(exit_i + p, n - 1))
            if keep.sum() <= max_candles // 2:
                break
        else:
            keep = np.zeros(n, bool)
            keep[entry_i] = True
            keep[exit_i] = True
    loose = n - int(keep.sum())
    # Bucket size for the loose bars; the per-run remainders add at most one row per run.
    k = max(1, math.ceil(loose / max(1, max_candles - int(keep.sum()))))
    idx = np.arange(n)
    run_start = np.maximum.accumulate(np.where(np.r_[True, keep[:-1] != keep[1:]], idx, 0))
    start = keep | ((idx - run_start) % k == 0)
    starts = np.flatnonzero(start)
    ends = np.r_[starts[1:], n] - 1
    return Candles(
        first=starts.astype(np.int64),
        last=ends.astype(np.int64),
        open=np.asarray(open_, np.float64)[starts],
        high=np.maximum.reduceat(np.asarray(high, np.float64), starts),
        low=np.minimum.reduceat(np.asarray(low, np.float64), starts),
        close=np.asarray(close, np.float64)[ends],
    )


def _windows(n: int, lo: I64, hi: I64) -> npt.NDArray[np.bool_]:
    """Mask of the union of the closed intervals ``[lo[j], hi[j]]``."""
    d = np.zeros(n + 1, np.int64)
    np.add.at(d, lo, 1)
    np.add.at(d, hi + 1, -1)
    return np.cumsum(d[:n]) > 0
