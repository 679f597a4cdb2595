"""Domain model: frozen dataclasses with no I/O, shared by every other package."""

from mtponte.domain.bars import Bar, Bars
from mtponte.domain.orders import EntryKind, Fill, OrderRequest, Position, Signal, Trade
from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import EURUSD, PRESETS, WIN, SymbolSpec, get_symbol

__all__ = [
    "EURUSD",
    "PRESETS",
    "WIN",
    "Bar",
    "Bars",
    "EntryKind",
    "ExitReason",
    "Fill",
    "OrderRequest",
    "Position",
    "Side",
    "Signal",
    "SymbolSpec",
    "Trade",
    "get_symbol",
]
