"""Pure strategies: a batch path over arrays and a streaming path bar by bar."""

from mtponte.strategies.base import Strategy
from mtponte.strategies.elephant import ElephantStrategy, SignalArrays, signal_arrays, signals
from mtponte.strategies.params import ElephantParams

__all__ = [
    "ElephantParams",
    "ElephantStrategy",
    "SignalArrays",
    "Strategy",
    "signal_arrays",
    "signals",
]
