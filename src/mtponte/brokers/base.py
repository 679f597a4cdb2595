"""The broker port: the one small interface everything above a broker talks to."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from mtponte.domain.bars import Bar
from mtponte.domain.orders import (
    AccountInfo,
    Deal,
    ExecutionReport,
    PendingOrder,
    Position,
)
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec

# MT5 trade server return codes used across adapters.
DONE = 10009
PLACED = 10008
REQUOTE = 10004
REJECT = 10006
TIMEOUT = 10012
INVALID = 10013
INVALID_VOLUME = 10014
INVALID_PRICE = 10015
INVALID_STOPS = 10016
MARKET_CLOSED = 10018
NO_MONEY = 10019
PRICE_OFF = 10021
POSITION_CLOSED = 10036


class Broker(ABC):
    """An account that can be read and traded.

    Required methods
    ----------------
    ``account()``, ``symbols()``, ``positions()``, ``orders()``, ``deals(comment=...)``
        Read the account.
    ``quote(symbol)``
        Current ``(bid, ask)``, or ``None`` when the adapter has no price.
    ``market_order(symbol, side, volume, sl, tp, deviation_points, magic, comment)``
        Open at market.
    ``place_order(symbol, side, order_type, volume, price, sl, tp, expiry, magic, comment)``
        Pending stop/limit order.
    ``cancel_order(ticket)``, ``close_position(ticket, volume, deviation_points, comment)``,
    ``modify_position(ticket, sl, tp)``
        Manage what exists. ``modify_position``: ``None`` keeps a level, ``0`` removes
        it (MT5's convention).
    ``bars(symbol, timeframe, count)``
        The last ``count`` closed bars, oldest first.

    Every trading method returns an :class:`ExecutionReport` with an MT5 ``retcode``
    and never raises for a broker refusal. ``comment`` is stored on the order, deal
    and position, so an order's outcome can be found after a crash
    (``deals(comment=tag)``, ``positions()``).
    """

    @abstractmethod
    def account(self) -> AccountInfo: ...

    @abstractmethod
    def symbols(self) -> dict[str, SymbolSpec]: ...

    @abstractmethod
    def positions(self) -> list[Position]: ...

    @abstractmethod
    def orders(self) -> list[PendingOrder]: ...

    @abstractmethod
    def quote(self, symbol: str) -> tuple[float, float] | None: ...

    @abstractmethod
    def deals(self, comment: str | None = None) -> list[Deal]: ...

    @abstractmethod
    def market_order(
        self,
        symbol: str,
        side: Side,
        volume: float,
        sl: float | None = None,
        tp: float | None = None,
        deviation_points: int = 10,
        magic: int = 0,
        comment: str = "",
        price: float | None = None,
    ) -> ExecutionReport: ...

    @abstractmethod
    def place_order(
        self,
        symbol: str,
        side: Side,
        order_type: str,
        volume: float,
        price: float,
        sl: float | None = None,
        tp: float | None = None,
        expiry: datetime | None = None,
        magic: int = 0,
        comment: str = "",
    ) -> ExecutionReport: ...

    @abstractmethod
    def cancel_order(self, ticket: str) -> ExecutionReport: ...

    @abstractmethod
    def close_position(
        self,
        ticket: str,
        volume: float | None = None,
        deviation_points: int = 10,
        comment: str = "",
    ) -> ExecutionReport: ...

    @abstractmethod
    def bars(self, symbol: str, timeframe: str, count: int) -> list[Bar]: ...

    @abstractmethod
    def modify_position(
        self, ticket: str, sl: float | None, tp: float | None
    ) -> ExecutionReport: ...

    def late_refusal(self, tag: str) -> str | None:
        """Why the command tagged ``tag`` was not executed, when the broker said so after
        the caller had stopped waiting for it (a late rejection: expired, refused).

        ``None`` when the adapter cannot tell (the default) or nothing says so: the
        outcome is then found from ``deals(comment=tag)`` and ``orders()``, or not at all.
        """
        del tag
        return None

    def is_demo(self) -> bool:
        """Whether the account is known to be a demo or paper account (no real money).

        ``False`` unless an adapter can tell: the live monitor then refuses the account
        until its configuration arms it explicitly.
        """
        return False
