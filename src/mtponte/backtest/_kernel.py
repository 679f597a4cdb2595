"""The single-position engine loop (numba). Its Python twin is ``streaming.py``."""

from __future__ import annotations

import numpy as np

from mtponte._numba import njit
from mtponte.backtest._fill_nb import (
    bars_held_nb,
    exit_check_nb,
    flat_due_nb,
    slipped_nb,
    stop_fill_nb,
    trade_pnl_nb,
    trail_sl_nb,
)
from mtponte.backtest.fill import EXIT_END, EXIT_FLAT
from mtponte.strategies._rules_nb import after_flat_nb, in_window_nb, round_to_tick_nb, triggered_nb


@njit
def simulate(
    o,
    h,
    l,
    c,
    day,
    tod,
    mode,
    sig_dir,
    sig_price,
    sig_sl,
    sig_tp,
    sig_sld,
    sig_tpd,
    tick,
    slip,
    flat_tod,
    win_start,
    win_end,
    t_dir,
    t_entry_i,
    t_exit_i,
    t_entry_px,
    t_exit_px,
    t_sl,
    t_tp,
    t_reason,
    trailing=False,
):
    """Run the engine; fill the ``t_*`` trade arrays and return the trade count.

    ``mode`` 0 = stop entries (signal at ``e`` acts on ``e+1``), 1 = next_open
    (signal at ``e`` enters at the open of ``e+1`` if flat at the open of ``e``).
    ``trailing``: after each bar an open position's SL trails to its low/high
    (``fill.trail_sl``, as the streaming engine and the live runner do).
    """
    n = len(o)
    nt = 0
    pos = 0
    entry_i = -1
    entry_day = 0
    entry_px = 0.0
    sl = 0.0
    tp = 0.0
    pend = 0
    pend_sld = 0.0
    pend_tpd = 0.0
    pend_day = 0
    for j in range(n):
        # 1. a pending market entry fills at this open (or is cancelled)
        if pend != 0:
            if day[j] == pend_day and not after_flat_nb(tod[j], flat_tod):
                pos = pend
                ref = o[j]
                entry_px = slipped_nb(ref, pos, True, slip, tick)
                sl = round_to_tick_nb(ref - pos * pend_sld, tick)
                tp = round_to_tick_nb(ref + pos * pend_tpd, tick)
                entry_i = j
                entry_day = day[j]
            pend = 0
        # 2. intraday flat time, at the open, before SL/TP
        if pos != 0 and entry_i < j and flat_due_nb(day[j], tod[j], entry_day, flat_tod):
            t_dir[nt] = pos
            t_entry_i[nt] = entry_i
            t_exit_i[nt] = j
            t_entry_px[nt] = entry_px
            t_exit_px[nt] = slipped_nb(o[j], pos, False, slip, tick)
            t_sl[nt] = sl
            t_tp[nt] = tp
            t_reason[nt] = EXIT_FLAT
            nt += 1
            pos = 0
        flat_open = pos == 0
        # 3. stop entry on this bar from the setup of the previous bar
        if mode == 0 and flat_open and j > 0 and sig_dir[j - 1] != 0:
            d = sig_dir[j - 1]
            stop = sig_price[j - 1]
            if (
                day[j] == day[j - 1]
                and in_window_nb(tod[j], win_start, win_end)
                and not after_flat_nb(tod[j], flat_tod)
                and triggered_nb(d, h[j], l[j], stop)
            ):
                pos = d
                entry_px = slipped_nb(stop_fill_nb(d, o[j], stop), d, True, slip, tick)
                sl = sig_sl[j - 1]
                tp = sig_tp[j - 1]
                entry_i = j
                entry_day = day[j]
        # 4. SL then TP
        if pos != 0:
            code, px = exit_check_nb(pos, o[j], h[j], l[j], sl, tp, entry_i == j)
            if code != 0:
                t_dir[nt] = pos
                t_entry_i[nt] = entry_i
                t_exit_i[nt] = j
                t_entry_px[nt] = entry_px
                t_exit_px[nt] = slipped_nb(px, pos, False, slip, tick)
                t_sl[nt] = sl
                t_tp[nt] = tp
                t_reason[nt] = code
                nt += 1
                pos = 0
            elif trailing:
                sl = trail_sl_nb(pos, sl, l[j], h[j], tick)
        # 5. next_open: a trigger at this close enters at the next open if flat at this open
        if mode == 1 and flat_open and sig_dir[j] != 0:
            pend = sig_dir[j]
            pend_sld = sig_sld[j]
            pend_tpd = sig_tpd[j]
            pend_day = day[j]
    if pos != 0:
        t_dir[nt] = pos
        t_entry_i[nt] = entry_i
        t_exit_i[nt] = n - 1
        t_entry_px[nt] = entry_px
        t_exit_px[nt] = slipped_nb(c[n - 1], pos, False, slip, tick)
        t_sl[nt] = sl
        t_tp[nt] = tp
        t_reason[nt] = EXIT_END
        nt += 1
    return nt


@njit
def trade_columns(
    nt,
    t_dir,
    t_entry_i,
    t_exit_i,
    t_entry_px,
    t_exit_px,
    t_reason,
    point_value,
    volume,
    fee_per_contract,
):
    """Points, money and bars held of the first ``nt`` trades (the fill model's formulas)."""
    points = np.empty(nt)
    money = np.empty(nt)
    held = np.empty(nt, np.int64)
    for k in range(nt):
        points[k], money[k] = trade_pnl_nb(
            t_dir[k], t_entry_px[k], t_exit_px[k], point_value, volume, fee_per_contract
        )
        held[k] = bars_held_nb(t_entry_i[k], t_exit_i[k], t_reason[k])
    return points, money, held


def trade_buffers(n: int) -> dict[str, np.ndarray]:
    """Preallocated trade arrays for ``n`` bars (at most one trade per bar + 1)."""
    m = n + 1  # at most one entry per bar
    return {
        "t_dir": np.zeros(m, np.int8),
        "t_entry_i": np.zeros(m, np.int64),
        "t_exit_i": np.zeros(m, np.int64),
        "t_entry_px": np.zeros(m),
        "t_exit_px": np.zeros(m),
        "t_sl": np.zeros(m),
        "t_tp": np.zeros(m),
        "t_reason": np.zeros(m, np.int8),
    }
