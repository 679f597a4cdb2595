"""Backtesting: numba engine, streaming twin, statistics, sweeps, reports."""

from mtponte.backtest.engine import BacktestResult, run_backtest
from mtponte.backtest.streaming import StreamingBacktest

__all__ = ["BacktestResult", "StreamingBacktest", "run_backtest"]
