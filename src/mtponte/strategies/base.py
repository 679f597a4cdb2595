"""The strategy port: a batch path and a streaming path that must agree bar for bar."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mtponte.domain.bars import Bar
from mtponte.domain.orders import Signal


@runtime_checkable
class Strategy(Protocol):
    """What the backtester, replay, paper and live loops need from a strategy.

    The batch path (``signals(bars, spec, params)`` at module level, e.g.
    :func:`mtponte.strategies.elephant.signals`) and :meth:`on_bar` must emit equal
    :class:`~mtponte.domain.orders.Signal` lists for the same bars; the test suite
    proves it for every strategy shipped.
    """

    name: str

    def on_bar(self, bar: Bar) -> Signal | None:
        """Consume one *closed* bar; return the signal emitted at its close, if any."""
        ...
