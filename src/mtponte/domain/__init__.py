"""Domain model: frozen dataclasses with no I/O, shared by every other package."""

from mtponte.domain.bars import Bar, Bars
from mtponte.domain.orders import (
    AccountInfo,
    AccountMode,
    Deal,
    EntryKind,
    ExecutionReport,
    Fill,
    OrderRequest,
    PendingOrder,
    Position,
    Signal,
    Trade,
)
from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import EURUSD, PRESETS, WIN, SymbolSpec, get_symbol

__all__ = [
    "EURUSD",
    "PRESETS",
    "WIN",
    "AccountInfo",
    "AccountMode",
    "Bar",
    "Bars",
    "Deal",
    "EntryKind",
    "ExecutionReport",
    "ExitReason",
    "Fill",
    "OrderRequest",
    "PendingOrder",
    "Position",
    "Side",
    "Signal",
    "SymbolSpec",
    "Trade",
    "get_symbol",
]
