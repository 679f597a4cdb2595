"""The part of the ``MetaTrader5`` package the mt5 adapter uses: its constants and a
structural type of its functions.

The constants are MT5's fixed enumeration values (MQL5 reference: trade request
actions, order types, filling and time policies, deal types and entries, account margin
modes, symbol execution, filling and expiration flags). ``SYMBOL_FILLING_*`` and
``SYMBOL_EXPIRATION_*`` are the *flag* values of ``symbol_info().filling_mode`` and
``expiration_mode``; the Python package does not export them.

:class:`StubbedApi` lists the functions that ``metatrader5-stubs`` declares; under
type checking the stub module is assigned to it, so a wrong name, parameter kind or
request key fails ``mypy``. :class:`Mt5Api` adds the functions the stubs lack
(``symbol_info``, ``account_info``, ``history_deals_get``), typed loosely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from MetaTrader5 import TradeRequest

TRADE_ACTION_DEAL = 1
TRADE_ACTION_PENDING = 5
TRADE_ACTION_SLTP = 6
TRADE_ACTION_MODIFY = 7
TRADE_ACTION_REMOVE = 8

ORDER_TYPE_BUY = 0
ORDER_TYPE_SELL = 1
ORDER_TYPE_BUY_LIMIT = 2
ORDER_TYPE_SELL_LIMIT = 3
ORDER_TYPE_BUY_STOP = 4
ORDER_TYPE_SELL_STOP = 5

ORDER_FILLING_FOK = 0
ORDER_FILLING_IOC = 1
ORDER_FILLING_RETURN = 2

ORDER_TIME_GTC = 0
ORDER_TIME_DAY = 1
ORDER_TIME_SPECIFIED = 2

POSITION_TYPE_BUY = 0
POSITION_TYPE_SELL = 1

DEAL_TYPE_BUY = 0
DEAL_TYPE_SELL = 1
DEAL_ENTRY_IN = 0
DEAL_ENTRY_OUT = 1
DEAL_ENTRY_INOUT = 2
DEAL_ENTRY_OUT_BY = 3

ACCOUNT_MARGIN_MODE_RETAIL_NETTING = 0
ACCOUNT_MARGIN_MODE_EXCHANGE = 1
ACCOUNT_MARGIN_MODE_RETAIL_HEDGING = 2

ACCOUNT_TRADE_MODE_DEMO = 0
ACCOUNT_TRADE_MODE_REAL = 2

SYMBOL_TRADE_EXECUTION_REQUEST = 0
SYMBOL_TRADE_EXECUTION_INSTANT = 1
SYMBOL_TRADE_EXECUTION_MARKET = 2
SYMBOL_TRADE_EXECUTION_EXCHANGE = 3

SYMBOL_FILLING_FOK = 1  # flags of symbol_info().filling_mode
SYMBOL_FILLING_IOC = 2

SYMBOL_EXPIRATION_GTC = 1  # flags of symbol_info().expiration_mode
SYMBOL_EXPIRATION_DAY = 2
SYMBOL_EXPIRATION_SPECIFIED = 4
SYMBOL_EXPIRATION_SPECIFIED_DAY = 8

TIMEFRAMES = {
    "M1": 1,
    "M2": 2,
    "M3": 3,
    "M4": 4,
    "M5": 5,
    "M6": 6,
    "M10": 10,
    "M12": 12,
    "M15": 15,
    "M20": 20,
    "M30": 30,
    "H1": 1 | 0x4000,
    "H2": 2 | 0x4000,
    "H3": 3 | 0x4000,
    "H4": 4 | 0x4000,
    "H6": 6 | 0x4000,
    "H8": 8 | 0x4000,
    "H12": 12 | 0x4000,
    "D1": 24 | 0x4000,
    "W1": 1 | 0x8000,
    "MN1": 1 | 0xC000,
}
"""MT5 ``TIMEFRAME_*`` values by the names mtponte uses."""

# Every retcode the package documents (TRADE_RETCODE_*), for messages.
RETCODE_NAMES = {
    10004: "requote",
    10006: "request rejected",
    10007: "request canceled by trader",
    10008: "order placed",
    10009: "request completed",
    10010: "only part of the request was completed",
    10011: "request processing error",
    10012: "request canceled by timeout",
    10013: "invalid request",
    10014: "invalid volume",
    10015: "invalid price",
    10016: "invalid stops",
    10017: "trade is disabled",
    10018: "market is closed",
    10019: "not enough money",
    10020: "prices changed",
    10021: "no quotes",
    10022: "invalid order expiration",
    10023: "order state changed",
    10024: "too frequent requests",
    10025: "no changes in request",
    10026: "autotrading disabled by server",
    10027: "autotrading disabled by client terminal",
    10028: "request locked for processing",
    10029: "order or position frozen",
    10030: "invalid order filling type",
    10031: "no connection with the trade server",
    10032: "operation allowed only for live accounts",
    10033: "pending orders limit reached",
    10034: "volume limit reached",
    10035: "incorrect or prohibited order type",
    10036: "position already closed",
    10038: "close volume exceeds the position volume",
    10039: "a close order already exists",
    10040: "positions limit reached",
    10041: "pending order activation rejected, order canceled",
    10042: "only long positions allowed",
    10043: "only short positions allowed",
    10044: "only position closing allowed",
    10045: "position closing allowed only by FIFO",
}

DONE_PARTIAL = 10010
NO_CHANGES = 10025
CONNECTION = 10031
INVALID_FILL = 10030
INVALID_EXPIRATION = 10022
INVALID_CLOSE_VOLUME = 10038


class StubbedApi(Protocol):
    """The ``MetaTrader5`` functions that ``metatrader5-stubs`` declares."""

    def initialize(
        self,
        path: str = ...,
        *,
        login: int = ...,
        password: str = ...,
        server: str = ...,
        timeout: int = ...,
        portable: bool = ...,
    ) -> bool: ...

    def shutdown(self) -> None: ...

    def last_error(self) -> tuple[int, str]: ...

    def terminal_info(self) -> Any: ...

    def symbol_select(self, symbol: str, enable: bool = True) -> bool: ...

    def symbol_info_tick(self, symbol: str) -> Any: ...

    def positions_get(self, *, symbol: str = ..., group: str = ..., ticket: int = ...) -> Any: ...

    def orders_get(self, *, symbol: str = ..., group: str = ..., ticket: int = ...) -> Any: ...

    def order_send(self, request: TradeRequest) -> Any: ...

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> Any: ...


class Mt5Api(StubbedApi, Protocol):
    """Everything the adapter calls (the stubs lack these three)."""

    def symbol_info(self, symbol: str) -> Any: ...

    def account_info(self) -> Any: ...

    def history_deals_get(self, *args: Any, **kwargs: Any) -> Any: ...


if TYPE_CHECKING:  # the real package's stubs must fit what the adapter calls
    import MetaTrader5 as _stub

    _conforms: StubbedApi = _stub
