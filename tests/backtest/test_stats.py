"""Statistics recomputed independently with numpy/pandas from the trade list."""

import math

import numpy as np
import pandas as pd
import pytest

from mtponte.backtest import run_backtest
from mtponte.domain import WIN
from mtponte.strategies import ElephantParams


def test_stats_match_independent_computation(synth_bars):
    r = run_backtest(synth_bars, WIN, ElephantParams(fee_per_contract=0.5))
    trades = r.trades()
    s = r.stats
    pnl = np.array([t.pnl_money for t in trades])
    assert s["trades"] == len(trades) > 20
    assert s["win_rate"] == pytest.approx((pnl > 0).mean())
    assert s["profit_factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum())
    assert s["expectancy"] == pytest.approx(pnl.mean())
    assert s["net_money"] == pytest.approx(pnl.sum())
    assert s["net_points"] == pytest.approx(sum(t.pnl_points for t in trades))
    eq = np.cumsum(np.r_[0.0, pnl])
    assert s["max_drawdown"] == pytest.approx((np.maximum.accumulate(eq) - eq).max())
    # Daily P&L over every session date in the data, booked on the exit date.
    tz = synth_bars.timezone
    days = pd.to_datetime(synth_bars.time, unit="s", utc=True).tz_convert(tz).normalize().unique()
    daily = pd.Series(0.0, index=days)
    for t in trades:
        daily[pd.Timestamp(t.exit_time).tz_convert(tz).normalize()] += t.pnl_money
    assert s["sharpe"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt((np.minimum(daily.to_numpy(), 0) ** 2).mean())
    assert s["sortino"] == pytest.approx(daily.mean() / downside * math.sqrt(252))
    assert 0 < s["exposure"] < 1


def test_no_trades_gives_empty_stats(synth_bars):
    r = run_backtest(synth_bars, WIN, ElephantParams(min_range_mult=100))
    assert r.stats["trades"] == 0
    assert r.stats["win_rate"] is None and r.stats["net_money"] == 0.0
