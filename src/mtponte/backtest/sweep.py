"""Parameter sweeps on all cores.

Parameter sets that share lookbacks share their features (means, ATR), computed
once; each set then runs the very kernels of :func:`~mtponte.backtest.run_backtest`
(signals, engine, stats) inside one ``numba.prange`` loop, so a sweep row equals a
single backtest with the same parameters (tested).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numba
import numpy as np
import pandas as pd

from mtponte._numba import njit
from mtponte.backtest._kernel import simulate, trade_columns
from mtponte.backtest.engine import check_inputs, trade_volume
from mtponte.backtest.stats import METRICS, N_METRICS, stats_kernel
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError
from mtponte.strategies.elephant import features, signal_kernel
from mtponte.strategies.params import ElephantParams

FEATURE_KEYS = (
    "range_lookback",
    "volume_lookback",
    "volume_source",
    "session_reset",
    "atr_period",
    "atr_method",
)


def expand_grid(
    grid: dict[str, list[str]], base: dict[str, Any] | None = None
) -> list[ElephantParams]:
    """Cartesian product of ``grid`` over ``base`` overrides, validated."""
    names = list(grid)
    out = []
    for combo in itertools.product(*(grid[n] for n in names)):
        out.append(
            ElephantParams.from_overrides({**(base or {}), **dict(zip(names, combo, strict=True))})
        )
    if not out:
        raise ConfigError("the grid is empty")
    return out


@njit(parallel=True)
def _sweep_kernel(
    o, h, l, c, v, mr, mv, atr_, day, tod, day_index, n_days, tick, point_value, prm, out
):
    n = len(o)
    m = prm.shape[0]
    for k in numba.prange(m):
        mode = int(prm[k, 7])
        # Only ``direction`` must be zeroed: the rest is read where direction != 0.
        direction = np.zeros(n, np.int8)
        price = np.empty(n)
        sl = np.empty(n)
        tp = np.empty(n)
        sld = np.empty(n)
        tpd = np.empty(n)
        atr_out = np.empty(n)
        setup = np.empty(n, np.int64)
        signal_kernel(
            o,
            h,
            l,
            c,
            v,
            mr,
            mv,
            atr_,
            day,
            tod,
            tick,
            prm[k, 0],
            prm[k, 1],
            prm[k, 2],
            int(prm[k, 3]),
            int(prm[k, 4]),
            prm[k, 5],
            prm[k, 6],
            mode,
            direction,
            price,
            sl,
            tp,
            sld,
            tpd,
            atr_out,
            setup,
        )
        cap = 1  # every trade comes from a distinct signal
        for q in range(n):
            if direction[q] != 0:
                cap += 1
        t_dir = np.empty(cap, np.int8)
        t_ei = np.empty(cap, np.int64)
        t_xi = np.empty(cap, np.int64)
        t_epx = np.empty(cap)
        t_xpx = np.empty(cap)
        t_sl = np.empty(cap)
        t_tp = np.empty(cap)
        t_r = np.empty(cap, np.int8)
        nt = simulate(
            o,
            h,
            l,
            c,
            day,
            tod,
            mode,
            direction,
            price,
            sl,
            tp,
            sld,
            tpd,
            tick,
            prm[k, 8],
            int(prm[k, 9]),
            int(prm[k, 3]),
            int(prm[k, 4]),
            t_dir,
            t_ei,
            t_xi,
            t_epx,
            t_xpx,
            t_sl,
            t_tp,
            t_r,
        )
        pts, money, held = trade_columns(
            nt, t_dir, t_ei, t_xi, t_epx, t_xpx, t_r, point_value, prm[k, 10], prm[k, 11]
        )
        stats_kernel(money, pts, day_index[t_xi[:nt]], held, n_days, n, out[k])


def _row(p: ElephantParams, volume: float) -> list[float]:
    return [
        p.min_range_mult,
        p.min_volume_mult,
        p.max_wick_pct,
        p.window_start_s,
        p.window_end_s,
        p.sl_atr,
        p.tp_atr,
        0 if p.entry_mode == "stop" else 1,
        float(p.slippage_ticks),
        p.flat_s,
        volume,
        p.fee_per_contract,
    ]


def sweep(
    bars: Bars,
    spec: SymbolSpec,
    params: Iterable[ElephantParams],
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Backtest every parameter set; one row per set with its parameters and metrics.

    Parameters
    ----------
    bars, spec
        Data and symbol.
    params
        Parameter sets (see :func:`expand_grid`).
    progress
        Called with the number of sets finished after each feature group.
    """
    plist = list(params)
    # The input checks depend only on the volume source and whether the volume rule is on.
    for p in {(q.volume_source, q.min_volume_mult > 0): q for q in plist}.values():
        check_inputs(bars, spec, p)
    uniq, day_index = np.unique(bars.day, return_inverse=True)
    day_index = day_index.astype(np.int64)
    results = np.full((len(plist), N_METRICS), np.nan)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, p in enumerate(plist):
        groups.setdefault(tuple(getattr(p, k) for k in FEATURE_KEYS), []).append(i)
    for idx in groups.values():
        f = features(bars, plist[idx[0]])
        prm = np.array(
            [_row(plist[i], trade_volume(spec, plist[i])) for i in idx], dtype=np.float64
        )
        out = np.full((len(idx), N_METRICS), np.nan)
        _sweep_kernel(
            bars.open,
            bars.high,
            bars.low,
            bars.close,
            f.volume,
            f.mean_range,
            f.mean_volume,
            f.atr,
            bars.day,
            bars.tod,
            day_index,
            len(uniq),
            spec.tick_size,
            spec.point_value,
            prm,
            out,
        )
        results[idx] = out
        if progress is not None:
            progress(len(idx))
    rows = [p.model_dump(mode="json") for p in plist]
    df = pd.DataFrame(rows)
    for j, name in enumerate(METRICS):
        df[name] = results[:, j]
    df["trades"] = df["trades"].astype(int)
    return df
