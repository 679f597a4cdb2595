"""Pure strategies: a batch path over arrays and a streaming path bar by bar.

Exports resolve lazily, so importing the scalar rules (``strategies._rules``) from a
live process does not import numba.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtponte.strategies.base import Strategy
    from mtponte.strategies.elephant import (
        ElephantStrategy,
        SignalArrays,
        signal_arrays,
        signals,
    )
    from mtponte.strategies.params import ElephantParams

_EXPORTS = {
    "Strategy": "base",
    "ElephantStrategy": "elephant",
    "SignalArrays": "elephant",
    "signal_arrays": "elephant",
    "signals": "elephant",
    "ElephantParams": "params",
}
__all__ = [
    "ElephantParams",
    "ElephantStrategy",
    "SignalArrays",
    "Strategy",
    "signal_arrays",
    "signals",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"mtponte.strategies.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mtponte.strategies' has no attribute {name!r}")
