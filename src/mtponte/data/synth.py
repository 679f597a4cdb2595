"""Seeded synthetic WIN M5 sessions: the bundled default data for demo and tests.

Each business day has 114 five-minute bars, 09:00–18:25 São Paulo time. Volatility
follows a U-shape across the session and clusters (GARCH(1,1) on bar returns plus a
persistent daily level); returns are Student-t with occasional jumps, so some bars
are several times the typical range, which is what the elephant-bar rule looks for.
Volume follows its own U-shape and rises with the size of the bar. Prices are
rounded to WIN's 5-point tick.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from mtponte.domain.bars import Bars
from mtponte.domain.symbols import WIN, SymbolSpec, round_to_tick

BARS_PER_DAY = 114  # 09:00 .. 18:25


def business_days(start: date, n: int) -> list[date]:
    """The first ``n`` Monday–Friday dates from ``start`` (holidays not modelled)."""
    out: list[date] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def synth_win(
    days: int = 250,
    seed: int = 7,
    start: date = date(2024, 1, 2),
    spec: SymbolSpec = WIN,
    price0: float = 120_000.0,
) -> Bars:
    """Generate ``days`` sessions of WIN M5 bars.

    Parameters
    ----------
    days
        Number of business days.
    seed
        RNG seed; the same seed always gives the same bars.
    start
        First candidate date.
    spec
        Symbol (tick size, exchange time zone).
    price0
        Starting price.

    Returns
    -------
    Bars
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(spec.timezone)
    k = np.arange(BARS_PER_DAY)
    u_vol = 0.75 + 1.1 * np.exp(-k / 12.0) + 0.45 * np.exp(-(BARS_PER_DAY - 1 - k) / 10.0)
    u_qty = 0.6 + 1.6 * np.exp(-k / 15.0) + 0.9 * np.exp(-(BARS_PER_DAY - 1 - k) / 12.0)

    n = days * BARS_PER_DAY
    times = np.empty(n, np.int64)
    o = np.empty(n)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    qty = np.empty(n)

    base_sigma = 0.0011  # per-bar return stdev at the session's quiet middle
    level = 0.0  # persistent log-vol level across days
    g_var = 1.0  # GARCH variance multiplier
    price = price0
    tick = spec.tick_size
    idx = 0
    for d in business_days(start, days):
        level = 0.85 * level + rng.normal(0.0, 0.25)
        t0 = int(datetime(d.year, d.month, d.day, 9, 0, tzinfo=tz).timestamp())
        price *= np.exp(rng.normal(0.0, 0.004))  # overnight gap
        prev_close = round_to_tick(price, tick)
        z = rng.standard_t(4, BARS_PER_DAY) / np.sqrt(2.0)
        jumps = rng.random(BARS_PER_DAY) < 0.012
        jz = rng.normal(0.0, 4.0, BARS_PER_DAY) * jumps
        wick = np.abs(rng.normal(0.0, 0.45, (BARS_PER_DAY, 2)))
        noise_q = rng.lognormal(0.0, 0.35, BARS_PER_DAY)
        for b in range(BARS_PER_DAY):
            sigma = base_sigma * np.exp(level) * u_vol[b] * np.sqrt(g_var)
            r = sigma * (z[b] + jz[b])
            g_var = 0.05 + 0.10 * (r / (base_sigma * np.exp(level) * u_vol[b])) ** 2 + 0.85 * g_var
            g_var = min(g_var, 25.0)
            op = prev_close
            cl = round_to_tick(op * np.exp(r), tick)
            hi = round_to_tick(max(op, cl) * (1.0 + wick[b, 0] * sigma), tick)
            lw = round_to_tick(min(op, cl) * (1.0 - wick[b, 1] * sigma), tick)
            times[idx] = t0 + 300 * b
            o[idx], h[idx], lo[idx], c[idx] = op, max(hi, op, cl), min(lw, op, cl), cl
            qty[idx] = 9000.0 * u_qty[b] * (1.0 + 2.5 * abs(r) / sigma / 3.0) * noise_q[b]
            prev_close = cl
            idx += 1
        price = prev_close
    real = np.round(qty)
    tickv = np.round(qty * 0.31 + 50)
    return Bars(
        time=times,
        open=o,
        high=h,
        low=lo,
        close=c,
        tick_volume=tickv,
        real_volume=real,
        timezone=spec.timezone,
        spread=np.ones(n),
    )
