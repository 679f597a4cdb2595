"""Performance statistics, one numba kernel shared by single runs and sweeps.

Definitions
-----------
* ``win_rate``: trades with ``pnl_money > 0`` / trades.
* ``profit_factor``: gross profit / gross loss (money); ``inf`` with no losing trade.
* ``expectancy``: mean ``pnl_money`` per trade (``expectancy_points`` in points).
* ``max_drawdown``: largest peak-to-trough fall of the closed-trade equity curve, in
  money (positive number), starting from 0.
* ``sharpe``: ``mean(r) / std(r, ddof=1) × √252`` where ``r`` is the money P&L of
  every session date in the data (days without trades count as 0), booked on the
  exit date. Money P&L over a fixed capital gives the same ratio.
* ``sortino``: ``mean(r) / √mean(min(r, 0)²) × √252`` over the same days.
* ``exposure``: fraction of bars with a position open at some point in the bar
  (a position closed at the open of a bar does not count that bar).
"""

from __future__ import annotations

import math

import numpy as np

from mtponte._numba import njit

METRICS = (
    "trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "expectancy_points",
    "net_points",
    "net_money",
    "max_drawdown",
    "sharpe",
    "sortino",
    "exposure",
)
N_METRICS = len(METRICS)
ANNUAL_DAYS = 252.0


@njit
def stats_kernel(pnl_money, pnl_points, exit_day, bars_held, n_days, n_bars, out):
    """Fill ``out`` (length ``N_METRICS``) with the metrics of ``METRICS`` order."""
    nt = len(pnl_money)
    out[:] = np.nan
    out[0] = nt
    gp = 0.0
    gl = 0.0
    wins = 0
    net_m = 0.0
    net_p = 0.0
    eq = 0.0
    peak = 0.0
    mdd = 0.0
    held = 0
    daily = np.zeros(n_days)
    for k in range(nt):
        m = pnl_money[k]
        net_m += m
        net_p += pnl_points[k]
        if m > 0:
            wins += 1
            gp += m
        elif m < 0:
            gl -= m
        eq += m
        if eq > peak:
            peak = eq
        if peak - eq > mdd:
            mdd = peak - eq
        daily[exit_day[k]] += m
        held += bars_held[k]
    if nt > 0:
        out[1] = wins / nt
        out[2] = gp / gl if gl > 0 else (np.inf if gp > 0 else np.nan)
        out[3] = net_m / nt
        out[4] = net_p / nt
    out[5] = net_p
    out[6] = net_m
    out[7] = mdd
    if n_days > 1:
        mean = daily.sum() / n_days
        var = 0.0
        dn = 0.0
        for d in range(n_days):
            var += (daily[d] - mean) ** 2
            if daily[d] < 0:
                dn += daily[d] ** 2
        sd = math.sqrt(var / (n_days - 1))
        if sd > 0:
            out[8] = mean / sd * math.sqrt(ANNUAL_DAYS)
        dd = math.sqrt(dn / n_days)
        if dd > 0:
            out[9] = mean / dd * math.sqrt(ANNUAL_DAYS)
    out[10] = held / n_bars if n_bars > 0 else 0.0


def stats_dict(values: np.ndarray) -> dict[str, float | int | None]:
    """Metrics vector → JSON-friendly dict (NaN → None, inf kept as a string-safe float)."""
    out: dict[str, float | int | None] = {}
    for name, v in zip(METRICS, values, strict=True):
        fv = float(v)
        if name == "trades":
            out[name] = int(fv)
        elif math.isnan(fv):
            out[name] = None
        else:
            out[name] = fv
    return out
