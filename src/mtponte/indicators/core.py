"""Indicator kernels (numba) and their scalar, streaming twins (plain Python)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mtponte._numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def window_mean(values: Sequence[float]) -> float:
    """Mean of ``values`` summed oldest first: the streaming twin of every kernel here."""
    s = 0.0
    for v in values:
        s += v
    return s / len(values)


def wilder_next(prev: float, tr: float, n: int) -> float:
    """One Wilder smoothing step: ``(prev·(n−1) + tr) / n``."""
    return (prev * (n - 1) + tr) / n


def true_range_step(high: float, low: float, prev_close: float) -> float:
    """True range of one bar; ``prev_close`` NaN (first bar) gives ``high − low``."""
    tr = high - low
    if prev_close == prev_close:  # not NaN
        a = abs(high - prev_close)
        b = abs(low - prev_close)
        if a > tr:
            tr = a
        if b > tr:
            tr = b
    return tr


_tr_step = njit(true_range_step)
_wilder = njit(wilder_next)


@njit
def _true_range(high: F64, low: F64, close: F64) -> F64:
    n = len(high)
    out = np.empty(n)
    for i in range(n):
        out[i] = _tr_step(high[i], low[i], close[i - 1] if i > 0 else np.nan)
    return out


@njit
def _sma(x: F64, n: int) -> F64:
    m = len(x)
    out = np.full(m, np.nan)
    for i in range(n - 1, m):
        s = 0.0
        for k in range(i - n + 1, i + 1):
            s += x[k]
        out[i] = s / n
    return out


@njit
def _mean_prev(x: F64, n: int) -> F64:
    m = len(x)
    out = np.full(m, np.nan)
    for i in range(n, m):
        s = 0.0
        for k in range(i - n, i):
            s += x[k]
        out[i] = s / n
    return out


@njit
def _mean_prev_session(x: F64, n: int, day: I64) -> F64:
    m = len(x)
    out = np.full(m, np.nan)
    start = 0  # first index of the current session
    for i in range(m):
        if i > 0 and day[i] != day[i - 1]:
            start = i
        if i - start >= n:
            s = 0.0
            for k in range(i - n, i):
                s += x[k]
            out[i] = s / n
    return out


@njit
def _atr_wilder(tr: F64, n: int) -> F64:
    m = len(tr)
    out = np.full(m, np.nan)
    if m < n:
        return out
    s = 0.0
    for k in range(n):
        s += tr[k]
    out[n - 1] = s / n
    for i in range(n, m):
        out[i] = _wilder(out[i - 1], tr[i], n)
    return out


def _f64(x: npt.ArrayLike) -> F64:
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_period(n: int) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"period must be a positive integer, got {n}")


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> F64:
    """True range: ``max(H−L, |H−C[i−1]|, |L−C[i−1]|)``; bar 0 is ``H−L``.

    Parameters
    ----------
    high, low, close
        Price arrays of equal length.

    Returns
    -------
    numpy.ndarray
        True range per bar.
    """
    return _true_range(_f64(high), _f64(low), _f64(close))


def sma(x: npt.ArrayLike, n: int) -> F64:
    """Simple moving average including bar ``i``; NaN for the first ``n−1`` bars."""
    _check_period(n)
    return _sma(_f64(x), int(n))


def mean_prev(x: npt.ArrayLike, n: int) -> F64:
    """Mean of the ``n`` bars *before* ``i`` (never ``i`` itself); NaN for ``i < n``."""
    _check_period(n)
    return _mean_prev(_f64(x), int(n))


def mean_prev_session(x: npt.ArrayLike, n: int, day: npt.ArrayLike) -> F64:
    """Like :func:`mean_prev` but only over bars of the same session ``day``.

    NaN until the session has ``n`` earlier bars.
    """
    _check_period(n)
    return _mean_prev_session(_f64(x), int(n), np.ascontiguousarray(day, dtype=np.int64))


def atr_sma(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int) -> F64:
    """ATR as the simple mean of the last ``n`` true ranges (including bar ``i``)."""
    return sma(true_range(high, low, close), n)


def atr_wilder(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int) -> F64:
    """Wilder's ATR: seeded with the mean of the first ``n`` true ranges at ``i = n−1``,
    then ``(ATR[i−1]·(n−1) + TR[i]) / n`` (the ``ta`` library's convention)."""
    _check_period(n)
    return _atr_wilder(true_range(high, low, close), int(n))


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int, method: str = "sma"
) -> F64:
    """ATR by ``method``: ``sma`` (default) or ``wilder``."""
    if method == "sma":
        return atr_sma(high, low, close, n)
    if method == "wilder":
        return atr_wilder(high, low, close, n)
    raise ValueError(f"atr method must be 'sma' or 'wilder', got {method!r}")
