"""Pure strategies: a batch path over arrays and a streaming path bar by bar."""

from mtponte.strategies.elephant import ElephantStrategy, SignalArrays, signal_arrays, signals
from mtponte.strategies.params import ElephantParams

__all__ = ["ElephantParams", "ElephantStrategy", "SignalArrays", "signal_arrays", "signals"]
