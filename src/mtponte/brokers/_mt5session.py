"""Connection, account reads and conversions of the mt5 adapter (:mod:`mtponte.brokers.mt5`
holds the trading side and the rules)."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtponte.brokers import _mt5api as k
from mtponte.brokers.servertime import ServerClock, bars_from_rates
from mtponte.domain.bars import Bar
from mtponte.domain.orders import AccountInfo, Deal, PendingOrder, Position
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import BrokerError

if TYPE_CHECKING:
    from mtponte.brokers._mt5api import Mt5Api

log = logging.getLogger("mtponte.brokers.mt5")


class Mt5Session:
    """Trade one MT5 terminal through the ``MetaTrader5`` package.

    Parameters
    ----------
    server_timezone
        IANA zone of the broker's server clock (required: MT5 times are server wall
        time; B3 brokers run ``America/Sao_Paulo``).
    symbols
        Symbols :meth:`symbols` reports (each is selected in Market Watch on connect).
    module
        The ``MetaTrader5`` module or a stand-in; default: imported on first use.
    path, login, password, server, timeout_ms
        Passed to ``initialize`` when given (``path``: the terminal executable).
    magic
        Only positions, orders and deals with this magic are reported; orders sent
        with magic 0 get it. ``None``: everything.
    exchange_timezone
        Zone of the symbols' session times (default: the server's).
    reconcile_checks, reconcile_wait_s
        How often, and how far apart, an unknown outcome is looked up by its tag.
    history_days
        How far back :meth:`deals` reads.
    sleep, now
        Injectable for tests (``now``: aware UTC, the range of history reads).
    """

    def __init__(
        self,
        *,
        server_timezone: str,
        symbols: Sequence[str] = (),
        module: Mt5Api | None = None,
        path: str | Path | None = None,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout_ms: int = 60_000,
        magic: int | None = None,
        exchange_timezone: str | None = None,
        reconcile_checks: int = 5,
        reconcile_wait_s: float = 0.5,
        history_days: int = 30,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._now = now or _utcnow
        self.clock = ServerClock(server_timezone)
        self.exchange_timezone = exchange_timezone or server_timezone
        self.symbol_names = tuple(symbols)
        self.magic = magic
        self.reconcile_checks = max(1, reconcile_checks)
        self.reconcile_wait_s = reconcile_wait_s
        self.history_days = history_days
        self._sleep = sleep
        self._module = module
        self._init = (None if path is None else str(path), login, server, timeout_ms)
        self._password = password or ""
        self._connected = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        path, login, server, _ = self._init
        return f"Mt5Broker(path={path!r}, login={login!r}, server={server!r})"

    # ------------------------------------------------------------------ plumbing
    def _redact(self, text: object) -> str:
        s = str(text)
        return s.replace(self._password, "***") if self._password else s

    def connect(self) -> None:
        """Open the IPC connection (``initialize``) and select :attr:`symbol_names`.

        Raises
        ------
        BrokerError
            The package is missing or the terminal refused (its ``last_error``).
        """
        with self._lock:
            if self._connected:
                return
            if self._module is None:
                try:
                    self._module = importlib.import_module("MetaTrader5")
                except ImportError:
                    raise BrokerError(
                        "the MetaTrader5 package is not installed (Windows only: "
                        "pip install MetaTrader5)"
                    ) from None
            api = self._module
            path, login, server, timeout_ms = self._init
            kwargs: dict[str, Any] = {"timeout": timeout_ms}
            if login is not None:
                kwargs["login"] = login
            if self._password:
                kwargs["password"] = self._password
            if server is not None:
                kwargs["server"] = server
            log.info("initialize MetaTrader5 path=%s login=%s server=%s", path, login, server)
            try:
                ok = api.initialize(path, **kwargs) if path else api.initialize(**kwargs)
                err = api.last_error()
            except Exception as exc:  # the package's own failure, message redacted
                msg = self._redact(f"{type(exc).__name__}: {exc}")
                raise BrokerError(f"MetaTrader5 initialize failed: {msg}") from None
            if not ok:
                raise BrokerError(f"MetaTrader5 initialize failed: {self._redact(err)}")
            for name in self.symbol_names:
                if not api.symbol_select(name, True):
                    log.warning(
                        "symbol_select(%s) failed: %s", name, self._redact(api.last_error())
                    )
            self._connected = True

    def close(self) -> None:
        """``shutdown`` the IPC connection."""
        with self._lock:
            if self._connected and self._module is not None:
                self._module.shutdown()
            self._connected = False

    def _api(self) -> Mt5Api:
        if not self._connected:
            self.connect()
        assert self._module is not None
        return self._module

    def _last_error(self) -> str:
        return self._redact(self._api().last_error())

    def _mine(self, magic: int) -> bool:
        return self.magic is None or magic == self.magic

    def _info(self, symbol: str) -> Any:
        info = self._api().symbol_info(symbol)
        if info is None:
            raise BrokerError(f"symbol_info({symbol}) failed: {self._last_error()}")
        return info

    # ------------------------------------------------------------------ reads
    def account(self) -> AccountInfo:
        with self._lock:
            a = self._api().account_info()
            if a is None:
                raise BrokerError(f"account_info failed: {self._last_error()}")
            day0 = self._now().astimezone(self.clock.zone)
            day0 = day0.replace(hour=0, minute=0, second=0, microsecond=0)
            realized = sum(d.profit for d in self.deals() if d.time >= day0 and d.entry != "in")
            floating = sum(p.profit for p in self.positions())
            hedging = a.margin_mode == k.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            return AccountInfo(
                str(a.login),
                a.currency,
                float(a.balance),
                float(a.equity),
                float(realized + floating),
                "hedging" if hedging else "netting",
            )

    def account_mode(self) -> str:
        """``hedging`` or ``netting`` (MT5 retail netting and exchange modes)."""
        a = self._api().account_info()
        if a is None:
            raise BrokerError(f"account_info failed: {self._last_error()}")
        return "hedging" if a.margin_mode == k.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING else "netting"

    def is_demo(self) -> bool:
        """Whether the terminal is logged in to a demo account (``trade_mode``)."""
        a = self._api().account_info()
        if a is None:
            raise BrokerError(f"account_info failed: {self._last_error()}")
        return bool(a.trade_mode == k.ACCOUNT_TRADE_MODE_DEMO)

    def symbol_spec(self, symbol: str) -> SymbolSpec:
        """``symbol_info`` as a :class:`SymbolSpec` (tick value in the account currency)."""
        with self._lock:
            i = self._info(symbol)
            a = self._api().account_info()
            return SymbolSpec(
                name=i.name,
                tick_size=float(i.trade_tick_size),
                tick_value=float(i.trade_tick_value),
                contract_size=float(i.trade_contract_size),
                digits=int(i.digits),
                lot_min=float(i.volume_min),
                lot_max=float(i.volume_max),
                lot_step=float(i.volume_step),
                currency=a.currency if a is not None else i.currency_profit,
                timezone=self.exchange_timezone,
                server_timezone=self.clock.timezone,
            )

    def symbols(self) -> dict[str, SymbolSpec]:
        return {name: self.symbol_spec(name) for name in self.symbol_names}

    def quote(self, symbol: str) -> tuple[float, float] | None:
        with self._lock:
            t = self._api().symbol_info_tick(symbol)
            if t is None or (t.bid == 0 and t.ask == 0):
                return None
            return float(t.bid), float(t.ask)

    def positions(self) -> list[Position]:
        with self._lock:
            rows = self._api().positions_get() or ()
            return [self._position(p) for p in rows if self._mine(p.magic)]

    def _position(self, p: Any) -> Position:
        return Position(
            ticket=str(p.ticket),
            symbol=p.symbol,
            side=Side.BUY if p.type == k.POSITION_TYPE_BUY else Side.SELL,
            volume=float(p.volume),
            open_price=float(p.price_open),
            open_time=self.clock.to_utc_ms(p.time_msc),
            sl=float(p.sl) or None,
            tp=float(p.tp) or None,
            magic=int(p.magic),
            comment=p.comment,
            profit=float(p.profit),
        )

    def orders(self) -> list[PendingOrder]:
        with self._lock:
            out = []
            for o in self._api().orders_get() or ():
                kind = PENDING_NAMES.get(o.type)
                if kind is None or not self._mine(o.magic):
                    continue  # market orders in flight, stop-limits, other magics
                out.append(
                    PendingOrder(
                        ticket=str(o.ticket),
                        symbol=o.symbol,
                        side=kind[0],
                        order_type=kind[1],
                        volume=float(o.volume_current),
                        price=float(o.price_open),
                        sl=float(o.sl) or None,
                        tp=float(o.tp) or None,
                        expiry=self.clock.to_utc(o.time_expiration) if o.time_expiration else None,
                        magic=int(o.magic),
                        comment=o.comment,
                    )
                )
            return out

    def _history(self, since: datetime) -> list[Any]:
        api = self._api()
        now = self._now()
        rows = api.history_deals_get(
            self.clock.to_server(since), self.clock.to_server(now + timedelta(days=1))
        )
        return [d for d in rows or () if d.type in (k.DEAL_TYPE_BUY, k.DEAL_TYPE_SELL)]

    def deals(self, comment: str | None = None) -> list[Deal]:
        """Our deals; with ``comment``, the deals of the positions that tag opened (an
        SL/TP exit carries the server's comment, "[sl 119000]", not the tag)."""
        with self._lock:
            since = self._now() - timedelta(days=self.history_days)
            rows = [d for d in self._history(since) if self._mine(d.magic)]
            if comment is not None:
                ins = (k.DEAL_ENTRY_IN, k.DEAL_ENTRY_INOUT)
                since_deal: dict[int, int] = {}  # position → the tag's first entry deal
                for d in rows:
                    if d.comment == comment and d.entry in ins:
                        since_deal[d.position_id] = min(
                            d.ticket, since_deal.get(d.position_id, d.ticket)
                        )
                rows = [
                    d
                    for d in rows
                    if d.comment == comment or d.ticket >= since_deal.get(d.position_id, 1 << 63)
                ]
            return [to_deal(d, self.clock) for d in rows]

    def bars(self, symbol: str, timeframe: str, count: int) -> list[Bar]:
        """The last ``count`` closed bars (position 0, the forming bar, is skipped)."""
        tf = k.TIMEFRAMES.get(timeframe.upper())
        if tf is None:
            raise BrokerError(
                f"unknown timeframe {timeframe!r}; use one of {', '.join(k.TIMEFRAMES)}"
            )
        with self._lock:
            rates = self._api().copy_rates_from_pos(symbol, tf, 1, count)
            if rates is None:
                raise BrokerError(f"copy_rates_from_pos({symbol}) failed: {self._last_error()}")
            return bars_from_rates(rates, self.clock)


PENDING_NAMES = {
    k.ORDER_TYPE_BUY_STOP: (Side.BUY, "stop"),
    k.ORDER_TYPE_SELL_STOP: (Side.SELL, "stop"),
    k.ORDER_TYPE_BUY_LIMIT: (Side.BUY, "limit"),
    k.ORDER_TYPE_SELL_LIMIT: (Side.SELL, "limit"),
}

_ENTRIES = {
    k.DEAL_ENTRY_IN: "in",
    k.DEAL_ENTRY_OUT: "out",
    k.DEAL_ENTRY_INOUT: "inout",
    k.DEAL_ENTRY_OUT_BY: "out",
}


def to_deal(d: Any, clock: ServerClock) -> Deal:
    """One ``history_deals_get`` row as a :class:`Deal` (``position`` = position id)."""
    return Deal(
        deal=str(d.ticket),
        order=str(d.order),
        position=str(d.position_id),
        symbol=d.symbol,
        side=Side.BUY if d.type == k.DEAL_TYPE_BUY else Side.SELL,
        volume=float(d.volume),
        price=float(d.price),
        entry=_ENTRIES.get(d.entry, "out"),
        time=clock.to_utc_ms(d.time_msc),
        magic=int(d.magic),
        comment=d.comment,
        profit=float(d.profit),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)
