"""Signals, orders, fills, positions and closed trades."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import round_to_tick

AccountMode = Literal["hedging", "netting"]


class EntryKind(StrEnum):
    """How a signal asks to enter."""

    STOP = "stop"  # pending stop order valid for one bar, SL/TP attached as absolute levels
    NEXT_OPEN = "next_open"  # market order at the next bar's open, SL/TP as distances


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's request to enter, emitted when a bar closes.

    Attributes
    ----------
    bar_time
        Open time (aware UTC) of the closed bar whose close produced the signal;
        the order acts on the bar after it.
    setup_time
        Open time of the elephant (setup) bar.
    side
        Direction.
    kind
        ``stop``: a stop order at ``price`` valid for the next bar only;
        ``next_open``: a market order at the next bar's open.
    price
        Stop price (``stop``), or ``None`` (``next_open``).
    sl, tp
        Absolute levels (``stop``), or ``None`` (``next_open``, see distances).
    sl_distance, tp_distance
        ATR multiples in price units (``next_open``: SL/TP are set from the
        fill price); ``None`` in ``stop`` mode.
    atr
        The ATR value the levels came from.
    strategy
        Name of the strategy, kept in logs and journals.
    """

    bar_time: datetime
    setup_time: datetime
    side: Side
    kind: EntryKind
    price: float | None
    sl: float | None
    tp: float | None
    sl_distance: float | None
    tp_distance: float | None
    atr: float
    strategy: str = "elephant"


def levels_at(
    ref: float, side: int, sl_distance: float, tp_distance: float, tick: float
) -> tuple[float, float]:
    """The SL and TP of a ``next_open`` entry set from price ``ref`` (its fill, or the
    price it goes out at), on the tick grid, as the backtest sets them.

    Parameters
    ----------
    ref
        The entry's price.
    side
        +1 long, -1 short.
    sl_distance, tp_distance
        The signal's distances in price units.
    tick
        The symbol's tick size.

    Returns
    -------
    tuple of float
        ``(sl, tp)``.
    """
    return round_to_tick(ref - side * sl_distance, tick), round_to_tick(
        ref + side * tp_distance, tick
    )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What an executor is asked to do with an account."""

    symbol: str
    side: Side
    volume: float
    kind: EntryKind = EntryKind.NEXT_OPEN
    price: float | None = None
    sl: float | None = None
    tp: float | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution."""

    time: datetime
    symbol: str
    side: Side
    volume: float
    price: float
    fee: float = 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """An open position as a broker reports it."""

    ticket: str
    symbol: str
    side: Side
    volume: float
    open_price: float
    open_time: datetime
    sl: float | None = None
    tp: float | None = None
    magic: int = 0
    comment: str = ""
    profit: float = 0.0


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A working stop or limit order."""

    ticket: str
    symbol: str
    side: Side
    order_type: str  # "stop" | "limit"
    volume: float
    price: float
    sl: float | None = None
    tp: float | None = None
    expiry: datetime | None = None
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Deal:
    """One execution in the account history (entry ``in`` or ``out``)."""

    deal: str
    order: str
    position: str
    symbol: str
    side: Side
    volume: float
    price: float
    entry: str  # "in" | "out" | "inout" (a netting reversal: closes and reopens)
    time: datetime
    magic: int = 0
    comment: str = ""
    profit: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Balance and equity in the account currency.

    ``account_mode``: ``hedging`` (one position per entry) or ``netting`` (at most one
    position per symbol; MT5's retail netting and exchange modes); ``None`` when the
    adapter does not know it.
    """

    login: str
    currency: str
    balance: float
    equity: float
    daily_pnl: float = 0.0
    account_mode: AccountMode | None = None


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What a broker answered to one request (MT5 ``retcode`` semantics)."""

    ok: bool
    retcode: int
    message: str = ""
    ticket: str | None = None  # position
    order: str | None = None
    deal: str | None = None
    price: float | None = None
    volume: float | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip. Times are aware; prices include slippage."""

    entry_time: datetime
    exit_time: datetime
    side: Side
    volume: float
    entry_price: float
    exit_price: float
    sl: float
    tp: float
    pnl_points: float
    pnl_money: float
    exit_reason: ExitReason
