"""Backtesting: numba engine, streaming twin, statistics, sweeps, reports.

Exports resolve lazily, so importing the pure fill model (``backtest.fill``) from a
live process does not import numba.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtponte.backtest.engine import BacktestResult, run_backtest
    from mtponte.backtest.streaming import StreamingBacktest

_EXPORTS = {"BacktestResult": "engine", "run_backtest": "engine", "StreamingBacktest": "streaming"}
__all__ = ["BacktestResult", "StreamingBacktest", "run_backtest"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"mtponte.backtest.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mtponte.backtest' has no attribute {name!r}")
