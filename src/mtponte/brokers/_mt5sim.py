"""A stand-in for the ``MetaTrader5`` package, backed by the paper broker.

:class:`Mt5Sim` is a module-like object: the package's function names, keyword rules,
constants and named-tuple results (``TradePosition``, ``TradeOrder``, ``TradeDeal``,
``SymbolInfo`` ...), so :class:`~mtponte.brokers.mt5.Mt5Broker` runs against it
unchanged (``Mt5Broker(module=Mt5Sim(paper), ...)``). It lives in the package, not
under ``tests/``, because it is also the way to run the mt5 adapter end to end on a
machine without MetaTrader (Linux CI, a replay, a demo); it needs no test library.

What it enforces, as a trade server would: the filling mode the symbol allows (by
execution mode and ``filling_mode`` flags), prices and SL/TP on the tick grid, volumes
on the lot step, comments of at most 31 characters, expiry only where the symbol's
``expiration_mode`` allows it, netting or hedging semantics (the paper broker's
``account_mode``), and ``position`` on closes. Times are presented as server
wall-clock epoch values in ``server_timezone``.

Faults (:meth:`Mt5Sim.inject`), each consumed by the next ``order_send``:
``timeout_booked`` (executes, answers 10012), ``timeout_lost`` (does not execute,
answers 10012), ``none`` (does not execute, returns ``None``), ``none_booked``
(executes, returns ``None``), ``raise`` (raises before executing).

Not simulated: ``order_check``, ``history_orders_get``, stop-limit orders, removing
SL/TP with a 0 level (0 keeps the level), partial fills, swaps and commissions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mtponte.brokers import _mt5api as k
from mtponte.brokers._mt5simexec import SimSymbol, execute
from mtponte.brokers.base import TIMEOUT
from mtponte.brokers.paper import PaperBroker
from mtponte.brokers.servertime import ServerClock
from mtponte.domain.orders import ExecutionReport

if TYPE_CHECKING:
    from mtponte.brokers._mt5api import Mt5Api

FAULTS = ("timeout_booked", "timeout_lost", "none", "none_booked", "raise")


# fmt: off
class TradeRequest(NamedTuple):
    action: int; magic: int; order: int; symbol: str; volume: float; price: float  # noqa: E702
    stoplimit: float; sl: float; tp: float; deviation: int; type: int  # noqa: E702
    type_filling: int; type_time: int; expiration: int; comment: str  # noqa: E702
    position: int; position_by: int  # noqa: E702


class OrderSendResult(NamedTuple):
    retcode: int; deal: int; order: int; volume: float; price: float; bid: float  # noqa: E702
    ask: float; comment: str; request_id: int; retcode_external: int  # noqa: E702
    request: TradeRequest


class TradePosition(NamedTuple):
    ticket: int; time: int; time_msc: int; time_update: int; time_update_msc: int  # noqa: E702
    type: int; magic: int; identifier: int; reason: int; volume: float  # noqa: E702
    price_open: float; sl: float; tp: float; price_current: float; swap: float  # noqa: E702
    profit: float; symbol: str; comment: str; external_id: str  # noqa: E702


class TradeOrder(NamedTuple):
    ticket: int; time_setup: int; time_setup_msc: int; time_done: int  # noqa: E702
    time_done_msc: int; time_expiration: int; type: int; type_time: int  # noqa: E702
    type_filling: int; state: int; magic: int; position_id: int; position_by_id: int  # noqa: E702
    reason: int; volume_initial: float; volume_current: float; price_open: float  # noqa: E702
    sl: float; tp: float; price_current: float; price_stoplimit: float; symbol: str  # noqa: E702
    comment: str; external_id: str  # noqa: E702


class TradeDeal(NamedTuple):
    ticket: int; order: int; time: int; time_msc: int; type: int; entry: int  # noqa: E702
    magic: int; position_id: int; reason: int; volume: float; price: float  # noqa: E702
    commission: float; swap: float; profit: float; fee: float; symbol: str  # noqa: E702
    comment: str; external_id: str  # noqa: E702


class Tick(NamedTuple):
    time: int; bid: float; ask: float; last: float; volume: int; time_msc: int  # noqa: E702
    flags: int; volume_real: float  # noqa: E702


class AccountInfo(NamedTuple):
    login: int; trade_mode: int; leverage: int; limit_orders: int; margin_so_mode: int  # noqa: E702
    trade_allowed: bool; trade_expert: bool; margin_mode: int; currency_digits: int  # noqa: E702
    fifo_close: bool; balance: float; credit: float; profit: float; equity: float  # noqa: E702
    margin: float; margin_free: float; margin_level: float; margin_so_call: float  # noqa: E702
    margin_so_so: float; margin_initial: float; margin_maintenance: float  # noqa: E702
    assets: float; liabilities: float; commission_blocked: float; name: str  # noqa: E702
    server: str; currency: str; company: str  # noqa: E702


class TerminalInfo(NamedTuple):
    community_account: bool; community_connection: bool; connected: bool  # noqa: E702
    dlls_allowed: bool; trade_allowed: bool; tradeapi_disabled: bool  # noqa: E702
    email_enabled: bool; ftp_enabled: bool; notifications_enabled: bool; mqid: bool  # noqa: E702
    build: int; maxbars: int; codepage: int; ping_last: int; community_balance: float  # noqa: E702
    retransmission: float; company: str; name: str; language: str; path: str  # noqa: E702
    data_path: str; commondata_path: str  # noqa: E702


class SymbolInfo(NamedTuple):
    """The fields of ``symbol_info`` the adapter and a runner read (the real one has ~95)."""

    name: str; description: str; path: str; select: bool; visible: bool; digits: int  # noqa: E702
    point: float; spread: int; time: int; trade_mode: int; trade_exemode: int  # noqa: E702
    filling_mode: int; expiration_mode: int; order_mode: int  # noqa: E702
    trade_stops_level: int; trade_freeze_level: int; trade_tick_size: float  # noqa: E702
    trade_tick_value: float; trade_contract_size: float; volume_min: float  # noqa: E702
    volume_max: float; volume_step: float; bid: float; ask: float; last: float  # noqa: E702
    currency_base: str; currency_profit: str; currency_margin: str  # noqa: E702
# fmt: on

_RATES = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
_TF_SECONDS = {v: s for v, s in zip(k.TIMEFRAMES.values(), (
    60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800,
    3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400, 604800, 2592000,
), strict=True)}  # fmt: skip


class Mt5Sim:
    """The ``MetaTrader5`` module's surface over ``paper``.

    Parameters
    ----------
    paper
        The account (its ``account_mode`` decides netting or hedging).
    server_timezone
        Zone of the simulated server clock.
    login, password, server
        What ``initialize`` accepts (a given login or password must match).
    exchange_margin
        On netting, report ``ACCOUNT_MARGIN_MODE_EXCHANGE`` (B3) rather than retail
        netting.
    """

    def __init__(
        self,
        paper: PaperBroker,
        *,
        server_timezone: str = "America/Sao_Paulo",
        login: int = 1_234_567,
        password: str = "",
        server: str = "MtponteSim-Demo",
        exchange_margin: bool = True,
    ) -> None:
        self.paper = paper
        self.clock = ServerClock(server_timezone)
        self.login, self._password, self.server = login, password, server
        self.exchange_margin = exchange_margin
        self.trade_mode = k.ACCOUNT_TRADE_MODE_DEMO  # a test sets ..._REAL
        self.symbol_props: dict[str, SimSymbol] = {n: SimSymbol() for n in paper.symbols()}
        self.requests: list[dict[str, Any]] = []  # every order_send request, in order
        self._faults: deque[str] = deque()
        self._error: tuple[int, str] = (k_RES_OK, "Success")
        self._request_id = 0
        self.connected = False
        for name, value in vars(k).items():
            if name.isupper() and isinstance(value, int):
                setattr(self, name, value)
        for code in k.RETCODE_NAMES:
            setattr(self, _RETCODE_CONSTANTS.get(code, f"TRADE_RETCODE_{code}"), code)
        for tf, value in k.TIMEFRAMES.items():
            setattr(self, f"TIMEFRAME_{tf}", value)

    # ------------------------------------------------------------------ control
    def inject(self, fault: str) -> None:
        """Make the next ``order_send`` misbehave (see the module docstring)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        self._faults.append(fault)

    def configure(self, symbol: str, **props: int) -> None:
        """Set ``trade_exemode``, ``filling_mode`` or ``expiration_mode`` of ``symbol``."""
        for key, value in props.items():
            setattr(self.symbol_props[symbol], key, value)

    # ------------------------------------------------------------------ session
    def initialize(
        self,
        path: str = "",
        *,
        login: int = 0,
        password: str = "",
        server: str = "",
        timeout: int = 60_000,
        portable: bool = False,
    ) -> bool:
        if (login and login != self.login) or (password and password != self._password):
            self._error = (-6, "Terminal: Authorization failed")
            return False
        self.connected = True
        self._error = (k_RES_OK, "Success")
        return True

    def shutdown(self) -> None:
        self.connected = False

    def last_error(self) -> tuple[int, str]:
        return self._error

    def terminal_info(self) -> TerminalInfo:
        return TerminalInfo(
            False, False, self.connected, False, True, False, False, False, False, False,
            4000, 100_000, 0, 0, 0.0, 0.0, "mtponte", "MtponteSim", "English", "", "", "",
        )  # fmt: skip

    def account_info(self) -> AccountInfo:
        a = self.paper.account()
        if self.paper.account_mode == "hedging":
            mode = k.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        else:
            mode = k.ACCOUNT_MARGIN_MODE_EXCHANGE if self.exchange_margin else 0
        profit = a.equity - a.balance
        return AccountInfo(
            self.login, self.trade_mode, 1, 0, 0, True, True, mode, 2, False,
            a.balance, 0.0, profit, a.equity, 0.0, a.equity, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, "paper", self.server, a.currency, "mtponte",
        )  # fmt: skip

    # ------------------------------------------------------------------ market data
    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        return symbol in self.symbol_props

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        spec = self.paper.symbols().get(symbol)
        if spec is None:
            self._error = (-4, f"Terminal: Not found {symbol}")
            return None
        p = self.symbol_props[symbol]
        q = self.paper.quote(symbol) or (0.0, 0.0)
        point = 10.0**-spec.digits
        return SymbolInfo(
            spec.name, spec.name, spec.name, True, True, spec.digits, point,
            round((q[1] - q[0]) / point), self._now_server(), 4, p.trade_exemode,
            p.filling_mode, p.expiration_mode, 127, 0, 0, spec.tick_size, spec.tick_value,
            spec.contract_size, spec.lot_min, spec.lot_max, spec.lot_step, q[0], q[1], q[0],
            spec.currency, spec.currency, spec.currency,
        )  # fmt: skip

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        q = self.paper.quote(symbol)
        if q is None:
            self._error = (-4, f"Terminal: no tick for {symbol}")
            return None
        t = self._now_server()
        return Tick(t, q[0], q[1], q[0], 0, t * 1000, 6, 0.0)

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> np.ndarray[Any, np.dtype[Any]] | None:
        """Closed bars fed to the paper broker, plus a forming bar at position 0."""
        bars = self.paper.bars(symbol, "", 100_000)
        q = self.paper.quote(symbol)
        if not bars or q is None or timeframe not in _TF_SECONDS:
            self._error = (-1, "Terminal: no history")
            return None
        rows = [
            (self.clock.to_server(b.time), b.open, b.high, b.low, b.close,
             int(b.tick_volume), int(b.spread), int(b.real_volume))
            for b in bars
        ]  # fmt: skip
        forming = rows[-1][0] + _TF_SECONDS[timeframe]
        rows.append((forming, q[0], q[0], q[0], q[0], 0, 0, 0))
        end = len(rows) - start_pos
        return np.array(rows[max(0, end - count) : max(0, end)], dtype=_RATES)

    # ------------------------------------------------------------------ account
    def positions_get(
        self, *, symbol: str = "", group: str = "", ticket: int = 0
    ) -> tuple[TradePosition, ...]:
        out = []
        for p in self.paper.positions():
            if (symbol and p.symbol != symbol) or (ticket and int(p.ticket) != ticket):
                continue
            t = self.clock.to_server(p.open_time)
            q = self.paper.quote(p.symbol) or (p.open_price, p.open_price)
            ident = int(self.paper.position_identifier(p.ticket))
            out.append(
                TradePosition(
                    int(p.ticket), t, t * 1000, t, t * 1000,
                    k.POSITION_TYPE_BUY if p.side > 0 else k.POSITION_TYPE_SELL, p.magic, ident,
                    3, p.volume, p.open_price, p.sl or 0.0, p.tp or 0.0,
                    q[0] if p.side > 0 else q[1], 0.0, p.profit, p.symbol, p.comment, "",
                )
            )  # fmt: skip
        return tuple(out)

    def orders_get(
        self, *, symbol: str = "", group: str = "", ticket: int = 0
    ) -> tuple[TradeOrder, ...]:
        out = []
        for o in self.paper.orders():
            if (symbol and o.symbol != symbol) or (ticket and int(o.ticket) != ticket):
                continue
            otype = {
                (1, "stop"): k.ORDER_TYPE_BUY_STOP, (-1, "stop"): k.ORDER_TYPE_SELL_STOP,
                (1, "limit"): k.ORDER_TYPE_BUY_LIMIT, (-1, "limit"): k.ORDER_TYPE_SELL_LIMIT,
            }[(int(o.side), o.order_type)]  # fmt: skip
            exp = self.clock.to_server(o.expiry) if o.expiry else 0
            ttime = k.ORDER_TIME_SPECIFIED if o.expiry else k.ORDER_TIME_GTC
            out.append(
                TradeOrder(
                    int(o.ticket), 0, 0, 0, 0, exp, otype, ttime, k.ORDER_FILLING_RETURN, 1,
                    o.magic, 0, 0, 3, o.volume, o.volume, o.price, o.sl or 0.0, o.tp or 0.0,
                    o.price, 0.0, o.symbol, o.comment, "",
                )
            )  # fmt: skip
        return tuple(out)

    def history_deals_get(
        self,
        date_from: int | datetime | None = None,
        date_to: int | datetime | None = None,
        *,
        group: str = "",
        ticket: int = 0,
        position: int = 0,
    ) -> tuple[TradeDeal, ...]:
        lo = _server_seconds(date_from, self.clock) if date_from is not None else None
        hi = _server_seconds(date_to, self.clock) if date_to is not None else None
        out = []
        for d in self.paper.deals():
            t = self.clock.to_server(d.time)
            if (ticket and int(d.deal) != ticket) or (position and int(d.position) != position):
                continue
            if (lo is not None and t < lo) or (hi is not None and t > hi):
                continue
            entry = {"in": k.DEAL_ENTRY_IN, "inout": k.DEAL_ENTRY_INOUT}.get(d.entry, 1)
            out.append(
                TradeDeal(
                    int(d.deal), int(d.order), t, t * 1000,
                    k.DEAL_TYPE_BUY if d.side > 0 else k.DEAL_TYPE_SELL, entry, d.magic,
                    int(d.position), 3, d.volume, d.price, 0.0, 0.0, d.profit, 0.0, d.symbol,
                    d.comment, "",
                )
            )  # fmt: skip
        return tuple(out)

    # ------------------------------------------------------------------ trading
    def order_send(self, request: Mapping[str, Any]) -> OrderSendResult | None:
        req = dict(request)
        self.requests.append(req)
        fault = self._faults.popleft() if self._faults else None
        if fault == "raise":
            raise RuntimeError("simulated IPC failure")
        if fault == "none":
            self._error = (-10005, "IPC timeout")
            return None
        if fault == "timeout_lost":
            return self._result(req, ExecutionReport(False, TIMEOUT, "Request canceled by timeout"))
        if len(str(req.get("comment", ""))) > 31:
            self._error = (-2, 'Invalid "comment" argument')
            return None
        res = self._result(req, self._execute(req))
        if fault == "timeout_booked":
            return self._result(req, ExecutionReport(False, TIMEOUT, "Request canceled by timeout"))
        if fault == "none_booked":
            self._error = (-10005, "IPC timeout")
            return None
        return res

    def _result(self, req: dict[str, Any], rep: ExecutionReport) -> OrderSendResult:
        self._request_id += 1
        q = self.paper.quote(str(req.get("symbol", ""))) or (0.0, 0.0)
        fields = {
            f: req.get(f, 0 if f not in ("symbol", "comment") else "") for f in TradeRequest._fields
        }
        return OrderSendResult(
            rep.retcode, int(rep.deal or 0), int(rep.order or 0), float(rep.volume or 0.0),
            float(rep.price or 0.0), q[0], q[1], rep.message, self._request_id, 0,
            TradeRequest(**fields),
        )  # fmt: skip

    def _execute(self, req: dict[str, Any]) -> ExecutionReport:
        props = self.symbol_props.get(str(req.get("symbol", "")), SimSymbol())
        return execute(self.paper, self.clock, props, req)

    def _now_server(self) -> int:
        return self.clock.to_server(self.paper.now())


k_RES_OK = 1

_RETCODE_CONSTANTS = {
    10004: "TRADE_RETCODE_REQUOTE", 10006: "TRADE_RETCODE_REJECT", 10008: "TRADE_RETCODE_PLACED",
    10009: "TRADE_RETCODE_DONE", 10010: "TRADE_RETCODE_DONE_PARTIAL",
    10012: "TRADE_RETCODE_TIMEOUT", 10013: "TRADE_RETCODE_INVALID",
    10014: "TRADE_RETCODE_INVALID_VOLUME", 10015: "TRADE_RETCODE_INVALID_PRICE",
    10016: "TRADE_RETCODE_INVALID_STOPS", 10018: "TRADE_RETCODE_MARKET_CLOSED",
    10019: "TRADE_RETCODE_NO_MONEY", 10021: "TRADE_RETCODE_PRICE_OFF",
    10022: "TRADE_RETCODE_INVALID_EXPIRATION", 10025: "TRADE_RETCODE_NO_CHANGES",
    10030: "TRADE_RETCODE_INVALID_FILL", 10031: "TRADE_RETCODE_CONNECTION",
    10036: "TRADE_RETCODE_POSITION_CLOSED", 10038: "TRADE_RETCODE_INVALID_CLOSE_VOLUME",
}  # fmt: skip


def _server_seconds(value: int | datetime, clock: ServerClock) -> int:
    if isinstance(value, datetime):  # the package reads a naive datetime as server time
        if value.tzinfo is None:
            return int(value.replace(tzinfo=UTC).timestamp())
        return clock.to_server(value)
    return int(value)


if TYPE_CHECKING:

    def _conforms(sim: Mt5Sim) -> Mt5Api:
        return sim  # the simulator must offer everything the adapter calls
