"""A :class:`BacktestResult` built from trades made elsewhere (a replay through the live
runner), so they go through the backtest's own statistics and writers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from mtponte.backtest.engine import BacktestResult, TradeArrays, compute_stats
from mtponte.backtest.fill import bars_held
from mtponte.backtest.stats import stats_dict
from mtponte.domain.bars import Bars
from mtponte.domain.orders import Trade
from mtponte.domain.symbols import SymbolSpec
from mtponte.strategies.elephant import SignalArrays
from mtponte.strategies.params import ElephantParams


def result_of(
    bars: Bars, spec: SymbolSpec, params: ElephantParams, trades: list[Trade]
) -> BacktestResult:
    """A :class:`BacktestResult` of ``trades`` over ``bars``, for the backtest's writers
    (``trades.csv``, ``stats.json``, ``report.html``) and statistics."""
    n = len(trades)
    idx = {int(t): i for i, t in enumerate(bars.time)}

    def at(t: datetime) -> int:
        return idx[int(t.timestamp())]

    entry_i = np.array([at(t.entry_time) for t in trades], dtype=np.int64)
    exit_i = np.array([at(t.exit_time) for t in trades], dtype=np.int64)
    reason = np.array([t.exit_reason.code for t in trades], dtype=np.int8)
    held = np.array(
        [
            bars_held(int(a), int(b), int(r))
            for a, b, r in zip(entry_i, exit_i, reason, strict=True)
        ],
        dtype=np.int64,
    )

    def col(name: str) -> Any:
        return np.array([getattr(t, name) for t in trades], dtype=np.float64)

    ta = TradeArrays(
        direction=np.array([int(t.side) for t in trades], dtype=np.int8),
        entry_i=entry_i,
        exit_i=exit_i,
        entry_price=col("entry_price"),
        exit_price=col("exit_price"),
        sl=col("sl"),
        tp=col("tp"),
        reason=reason,
        volume=trades[0].volume if n else params.volume,
        pnl_points=col("pnl_points"),
        pnl_money=col("pnl_money"),
        bars_held=held,
    )
    empty = SignalArrays(
        mode=0 if params.entry_mode == "stop" else 1,
        direction=np.zeros(0, np.int8),
        price=np.zeros(0),
        sl=np.zeros(0),
        tp=np.zeros(0),
        sl_dist=np.zeros(0),
        tp_dist=np.zeros(0),
        atr=np.zeros(0),
        setup=np.zeros(0, np.int64),
    )
    return BacktestResult(bars, spec, params, empty, ta, stats_dict(compute_stats(bars, ta)))
