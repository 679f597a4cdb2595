"""Forward testing and walk-forward optimization.

Like MetaTrader 5's strategy tester, the data is split into an in-sample period where
the parameters are chosen and an out-of-sample (forward) period where the chosen
parameters are only measured. Splits fall on session boundaries (exchange-local
days), and each period is backtested on its own bars: nothing of the forward period
is visible when the parameters are picked. Indicators warm up again at the start of
each period, as they would for a fresh start of the strategy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mtponte.backtest.stats import METRICS
from mtponte.backtest.sweep import sweep
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError
from mtponte.strategies.params import ElephantParams

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    """One in-sample/out-of-sample pair as bar index ranges ``[start, end)``."""

    is_start: int
    is_end: int
    oos_start: int
    oos_end: int


def _session_starts(day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Index of the first bar of each session (``day`` is non-decreasing)."""
    if len(day) == 0:
        return np.zeros(0, np.int64)
    return np.r_[0, np.flatnonzero(np.diff(day)) + 1].astype(np.int64)


def forward_split(bars: Bars, spec: str) -> Window:
    """The in-sample/forward split named by ``spec``.

    Parameters
    ----------
    bars
        The whole data.
    spec
        ``a/b``: the last ``a/b`` of the sessions are the forward period (``1/3``, as
        MetaTrader's "1/3"); or an ISO date ``YYYY-MM-DD``: the forward period starts
        with the first session on or after it.

    Returns
    -------
    Window

    Raises
    ------
    ConfigError
        On a malformed value, or a split that leaves either side without a session.
    """
    starts = _session_starts(bars.day)
    n_sessions = len(starts)
    text = spec.strip()
    frac = re.fullmatch(r"(\d+)\s*/\s*(\d+)", text)
    if frac:
        a, b = int(frac.group(1)), int(frac.group(2))
        if b == 0 or not 0 < a < b:
            raise ConfigError(f"--forward {spec!r}: the fraction must be between 0 and 1, e.g. 1/3")
        k = n_sessions - round(n_sessions * a / b)  # first forward session
    else:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"--forward {spec!r}: expected a fraction like 1/3 or a date like 2025-06-01"
            ) from None
        days = bars.day[starts] if n_sessions else np.zeros(0, np.int64)
        k = int(np.searchsorted(days, (d - _EPOCH).days, side="left"))
    if not 0 < k < n_sessions:
        first = _day_str(int(bars.day[0])) if len(bars) else "-"
        last = _day_str(int(bars.day[-1])) if len(bars) else "-"
        raise ConfigError(
            f"--forward {spec!r} leaves no session on one side: the data has "
            f"{n_sessions} sessions, {first} to {last}"
        )
    cut = int(starts[k])
    return Window(0, cut, cut, len(bars))


def walk_forward_windows(bars: Bars, n: int, ratio: int = 3) -> list[Window]:
    """``n`` rolling windows: in-sample of ``ratio`` × the out-of-sample length, then OOS.

    The sessions are cut into ``n + ratio`` equal blocks (the remainder of the
    division is left out at the start, so that the last forward period ends with the
    data). Window ``k`` has blocks ``k .. k+ratio-1`` in sample and block ``k+ratio``
    out of sample; the out-of-sample blocks follow each other without overlap.

    Parameters
    ----------
    bars
        The whole data.
    n
        Number of windows (at least 1).
    ratio
        In-sample length in out-of-sample lengths (at least 1).

    Returns
    -------
    list[Window]

    Raises
    ------
    ConfigError
        If there are fewer sessions than blocks.
    """
    if n < 1:
        raise ConfigError(f"--walk-forward must be at least 1, got {n}")
    if ratio < 1:
        raise ConfigError(f"--is-ratio must be at least 1, got {ratio}")
    starts = _session_starts(bars.day)
    blocks = n + ratio
    size = len(starts) // blocks
    if size < 1:
        raise ConfigError(
            f"--walk-forward {n} with --is-ratio {ratio} needs at least {blocks} sessions; "
            f"the data has {len(starts)}"
        )
    skip = len(starts) - size * blocks
    edges = [int(starts[skip + j * size]) for j in range(blocks)] + [len(bars)]
    return [
        Window(edges[k], edges[k + ratio], edges[k + ratio], edges[k + ratio + 1]) for k in range(n)
    ]


def _day_str(day: int) -> str:
    return date.fromordinal(_EPOCH.toordinal() + day).isoformat()


def period(bars: Bars, start: int, end: int) -> str:
    """``first-session → last-session`` of ``bars[start:end]``."""
    return f"{_day_str(int(bars.day[start]))} → {_day_str(int(bars.day[end - 1]))}"


def rank(df: pd.DataFrame, rank_by: str, min_trades: int) -> pd.DataFrame:
    """Sort best first by ``rank_by`` (descending); sets with fewer than ``min_trades``
    trades or no value go last. Adds a ``rank`` column."""
    if rank_by not in METRICS:
        raise ConfigError(f"--rank-by {rank_by!r} is not a metric; use one of {', '.join(METRICS)}")
    df = df.assign(_ok=df["trades"] >= min_trades)
    df = df.sort_values(
        ["_ok", rank_by], ascending=[False, False], na_position="last", kind="stable"
    )
    df = df.drop(columns="_ok")
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def forward_test(
    bars: Bars,
    spec: SymbolSpec,
    plist: list[ElephantParams],
    w: Window,
    rank_by: str,
    min_trades: int,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Every parameter set in and out of sample, ranked by its in-sample ``rank_by``.

    Returns one row per set: parameters, in-sample metrics under their own names and
    forward metrics prefixed ``oos_``.
    """
    ins = sweep(bars[w.is_start : w.is_end], spec, plist, progress)
    oos = sweep(bars[w.oos_start : w.oos_end], spec, plist, progress)
    for m in METRICS:
        ins["oos_" + m] = oos[m].to_numpy()
    return rank(ins, rank_by, min_trades)


def walk_forward(
    bars: Bars,
    spec: SymbolSpec,
    plist: list[ElephantParams],
    windows: list[Window],
    rank_by: str,
    min_trades: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """For each window, the set ranked best in sample and its out-of-sample metrics.

    Only the in-sample sweep sees every set; out of sample only the chosen set runs.

    Returns
    -------
    tuple
        One row per window (its periods, the chosen parameters, in-sample metrics and
        out-of-sample metrics prefixed ``oos_``), and each window's ranked in-sample
        sweep.
    """
    rows: list[dict[str, Any]] = []
    sweeps: list[pd.DataFrame] = []
    for k, w in enumerate(windows, 1):
        ins = rank(sweep(bars[w.is_start : w.is_end], spec, plist, progress), rank_by, min_trades)
        sweeps.append(ins)
        best_i = int(ins.index[0])
        best = plist[best_i]
        oos = sweep(bars[w.oos_start : w.oos_end], spec, [best]).iloc[0]
        row: dict[str, Any] = {
            "window": k,
            "in_sample": period(bars, w.is_start, w.is_end),
            "out_of_sample": period(bars, w.oos_start, w.oos_end),
            "set": best_i,
        }
        row.update(best.model_dump(mode="json"))
        row.update({m: ins.iloc[0][m] for m in METRICS})
        row.update({"oos_" + m: oos[m] for m in METRICS})
        rows.append(row)
    return pd.DataFrame(rows), sweeps
