"""A :class:`Broker` over the ``MetaTrader5`` Python package (Windows, one terminal).

The package is imported lazily, on first use, so this module imports anywhere; tests
inject a module-like object instead (``Mt5Broker(module=...)``, see
:mod:`mtponte.brokers._mt5sim`). Connection and reads live in
:mod:`mtponte.brokers._mt5session`.

Rules this adapter keeps
------------------------
- Every order carries a comment tag (the caller's, else a fresh ``mtp:<20 hex>``). MT5
  keeps at most 31 characters, so a longer comment is refused rather than truncated.
- An outcome that cannot be known -- retcode 10012 (timeout) or 10031 (no connection),
  ``order_send`` returning ``None`` or raising, a market order answered without a deal
  -- is **reconciled by the tag** (``history_deals_get``, ``orders_get``,
  ``positions_get``), ``reconcile_checks`` times ``reconcile_wait_s`` apart. Found: the
  report is what the records show. Not found: the report says *unknown* (``ok`` false,
  ``retcode`` 10012) and the request is **never re-sent** here.
- The filling mode is the one the symbol allows (:func:`pick_filling`); prices are
  rounded to the tick grid, volumes floored to the lot step.
- Closes send an opposite deal with the ``position`` field, so a partial close works on
  netting accounts too. On a netting account an entry (market or pending) is refused
  while the symbol holds a position with another magic (it would merge into, or
  reverse, someone else's); give the broker a non-zero ``magic``.
- A pending order with an expiry is sent as ``ORDER_TIME_SPECIFIED`` in server time, and
  refused (10022) where the symbol does not accept that, never silently turned into a
  day order.
- The password is never logged and never appears in an error message.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mtponte.brokers import _mt5api as k
from mtponte.brokers._mt5session import Mt5Session, to_deal
from mtponte.brokers.base import (
    DONE,
    INVALID,
    INVALID_VOLUME,
    PLACED,
    POSITION_CLOSED,
    PRICE_OFF,
    REQUOTE,
    TIMEOUT,
    Broker,
)
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.side import Side
from mtponte.domain.symbols import round_to_tick
from mtponte.errors import BrokerError

if TYPE_CHECKING:
    from MetaTrader5 import TradeRequest

log = logging.getLogger("mtponte.brokers.mt5")

MAX_COMMENT = 31
_RECONCILE_LOOKBACK = timedelta(days=2)
_UNKNOWN_RETCODES = (TIMEOUT, k.CONNECTION)
_OK_RETCODES = (DONE, PLACED, k.DONE_PARTIAL)
_PENDING_TYPES = {
    (Side.BUY, "stop"): k.ORDER_TYPE_BUY_STOP,
    (Side.SELL, "stop"): k.ORDER_TYPE_SELL_STOP,
    (Side.BUY, "limit"): k.ORDER_TYPE_BUY_LIMIT,
    (Side.SELL, "limit"): k.ORDER_TYPE_SELL_LIMIT,
}


def pick_filling(filling_flags: int, pending: bool) -> int:
    """The ``type_filling`` to send for a symbol.

    Parameters
    ----------
    filling_flags
        ``symbol_info().filling_mode``: flag 1 = FOK allowed, flag 2 = IOC allowed.
    pending
        A pending order: RETURN (it rests in the book; exchange execution always
        accepts RETURN, market execution does not check pending orders' filling).

    Returns
    -------
    int
        ``ORDER_FILLING_FOK`` when allowed (all or nothing: no partial fill to track),
        else IOC when allowed, else ``ORDER_FILLING_RETURN`` (what exchange symbols,
        such as B3's, take when they declare neither flag).
    """
    if pending:
        return k.ORDER_FILLING_RETURN
    if filling_flags & k.SYMBOL_FILLING_FOK:
        return k.ORDER_FILLING_FOK
    if filling_flags & k.SYMBOL_FILLING_IOC:
        return k.ORDER_FILLING_IOC
    return k.ORDER_FILLING_RETURN


def new_tag() -> str:
    """A fresh comment tag (24 characters, within MT5's 31)."""
    return "mtp:" + uuid.uuid4().hex[:20]


def tag_matches(comment: str, tag: str) -> bool:
    """Whether a record's comment is ``tag``, allowing a server that cut or extended it."""
    return bool(tag) and (
        comment == tag
        or comment.startswith(tag)
        or (len(comment) >= 12 and tag.startswith(comment))
    )


def _refuse(retcode: int, message: str) -> ExecutionReport:
    return ExecutionReport(False, retcode, message)


class Mt5Broker(Mt5Session, Broker):
    """Trade one MT5 terminal through the ``MetaTrader5`` package.

    See :class:`~mtponte.brokers._mt5session.Mt5Session` for the parameters
    (``server_timezone`` is required).
    """

    # ------------------------------------------------------------------ helpers
    def _price(self, info: Any, price: float | None) -> float:
        if price is None:
            return 0.0
        return round(round_to_tick(price, float(info.trade_tick_size)), int(info.digits))

    def _volume(self, info: Any, volume: float) -> float:
        spec_step = float(info.volume_step)
        steps = int(volume / spec_step + 1e-9)
        vol = round(steps * spec_step, 10)
        if vol + 1e-9 < float(info.volume_min):
            return 0.0
        return min(vol, float(info.volume_max))

    def _symbol_info(self, symbol: str) -> Any:
        """``symbol_info``, or a refusal for an unknown symbol (trading never raises)."""
        try:
            return self._info(symbol)
        except BrokerError as exc:
            return _refuse(INVALID, str(exc))

    def _tag(self, comment: str) -> str | ExecutionReport:
        tag = comment or new_tag()
        if len(tag) > MAX_COMMENT:
            return _refuse(
                INVALID, f"comment {tag!r} is longer than MT5's {MAX_COMMENT} characters"
            )
        return tag

    def _foreign_netting(self, symbol: str, magic: int) -> ExecutionReport | None:
        if self.account_mode() != "netting":
            return None
        for p in self._api().positions_get(symbol=symbol) or ():
            if p.magic != magic:
                return _refuse(
                    INVALID,
                    f"netting account: {symbol} holds position {p.ticket} with magic {p.magic}, "
                    f"not {magic}; an order would merge into it",
                )
        return None

    # ------------------------------------------------------------------ trading
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
    ) -> ExecutionReport:
        with self._lock:
            tag = self._tag(comment)
            if isinstance(tag, ExecutionReport):
                return tag
            magic = magic or self.magic or 0
            info = self._symbol_info(symbol)
            if isinstance(info, ExecutionReport):
                return info
            vol = self._volume(info, volume)
            if vol <= 0:
                return _refuse(INVALID_VOLUME, f"volume {volume} is below {info.volume_min}")
            foreign = self._foreign_netting(symbol, magic)
            if foreign is not None:
                return foreign
            q = self.quote(symbol)
            if q is None:
                return _refuse(PRICE_OFF, f"no quote for {symbol}")
            market = q[1] if side > 0 else q[0]
            if (
                price is not None
                and abs(market - price) > deviation_points * float(info.point) + 1e-9
            ):
                return _refuse(
                    REQUOTE, f"{symbol} is at {market}, beyond {deviation_points} points of {price}"
                )
            req: TradeRequest = {
                "action": k.TRADE_ACTION_DEAL,
                "symbol": symbol,
                "volume": vol,
                "type": k.ORDER_TYPE_BUY if side > 0 else k.ORDER_TYPE_SELL,
                "price": self._price(info, market),
                "sl": self._price(info, sl),
                "tp": self._price(info, tp),
                "deviation": deviation_points,
                "magic": magic,
                "comment": tag,
                "type_time": k.ORDER_TIME_GTC,
                "type_filling": pick_filling(int(info.filling_mode), pending=False),
            }
            return self._send(req)

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
    ) -> ExecutionReport:
        with self._lock:
            tag = self._tag(comment)
            if isinstance(tag, ExecutionReport):
                return tag
            otype = _PENDING_TYPES.get((side, order_type))
            if otype is None:
                return _refuse(INVALID, f"order type {order_type!r}")
            info = self._symbol_info(symbol)
            if isinstance(info, ExecutionReport):
                return info
            vol = self._volume(info, volume)
            if vol <= 0:
                return _refuse(INVALID_VOLUME, f"volume {volume} is below {info.volume_min}")
            magic = magic or self.magic or 0
            foreign = self._foreign_netting(symbol, magic)  # it would merge when it triggers
            if foreign is not None:
                return foreign
            req: TradeRequest = {
                "action": k.TRADE_ACTION_PENDING,
                "symbol": symbol,
                "volume": vol,
                "type": otype,
                "price": self._price(info, price),
                "sl": self._price(info, sl),
                "tp": self._price(info, tp),
                "magic": magic,
                "comment": tag,
                "type_filling": pick_filling(int(info.filling_mode), pending=True),
                "type_time": k.ORDER_TIME_GTC,
            }
            if expiry is not None:
                if not int(info.expiration_mode) & k.SYMBOL_EXPIRATION_SPECIFIED:
                    return _refuse(
                        k.INVALID_EXPIRATION,
                        f"{symbol} does not accept an expiry time (expiration_mode "
                        f"{info.expiration_mode}); not placing a day order instead",
                    )
                req["type_time"] = k.ORDER_TIME_SPECIFIED
                req["expiration"] = self.clock.to_server(expiry)
            return self._send(req)

    def cancel_order(self, ticket: str) -> ExecutionReport:
        with self._lock:
            req: TradeRequest = {"action": k.TRADE_ACTION_REMOVE, "order": int(ticket)}
            return self._send(req)

    def close_position(
        self,
        ticket: str,
        volume: float | None = None,
        deviation_points: int = 10,
        comment: str = "",
    ) -> ExecutionReport:
        with self._lock:
            tag = self._tag(comment)
            if isinstance(tag, ExecutionReport):
                return tag
            rows = self._api().positions_get(ticket=int(ticket)) or ()
            if not rows:
                return _refuse(POSITION_CLOSED, f"no position {ticket}")
            p = rows[0]
            info = self._symbol_info(p.symbol)
            if isinstance(info, ExecutionReport):
                return info
            vol = float(p.volume) if volume is None else self._volume(info, volume)
            if vol <= 0 or vol > float(p.volume) + 1e-9:
                return _refuse(INVALID_VOLUME, f"cannot close {volume} of {p.volume}")
            q = self.quote(p.symbol)
            if q is None:
                return _refuse(PRICE_OFF, f"no quote for {p.symbol}")
            long = p.type == k.POSITION_TYPE_BUY
            req: TradeRequest = {
                "action": k.TRADE_ACTION_DEAL,
                "symbol": p.symbol,
                "position": int(p.ticket),
                "volume": vol,
                "type": k.ORDER_TYPE_SELL if long else k.ORDER_TYPE_BUY,
                "price": self._price(info, q[0] if long else q[1]),
                "deviation": deviation_points,
                "magic": int(p.magic),
                "comment": tag,
                "type_time": k.ORDER_TIME_GTC,
                "type_filling": pick_filling(int(info.filling_mode), pending=False),
            }
            return self._send(req)

    def modify_position(self, ticket: str, sl: float | None, tp: float | None) -> ExecutionReport:
        """Set SL/TP of a position (``None`` keeps the current level)."""
        with self._lock:
            rows = self._api().positions_get(ticket=int(ticket)) or ()
            if not rows:
                return _refuse(POSITION_CLOSED, f"no position {ticket}")
            p = rows[0]
            info = self._symbol_info(p.symbol)
            if isinstance(info, ExecutionReport):
                return info
            req: TradeRequest = {
                "action": k.TRADE_ACTION_SLTP,
                "symbol": p.symbol,
                "position": int(p.ticket),
                "sl": float(p.sl) if sl is None else self._price(info, sl),
                "tp": float(p.tp) if tp is None else self._price(info, tp),
                "magic": int(p.magic),
            }
            rep = self._send(req)
            if not rep.ok and rep.retcode == k.NO_CHANGES:  # already so: modify is idempotent
                return ExecutionReport(True, DONE, "no changes: levels already set", ticket)
            return rep

    # ------------------------------------------------------------------ send + reconcile
    def _send(self, req: TradeRequest) -> ExecutionReport:
        api = self._api()
        try:
            res = api.order_send(req)
        except Exception as exc:  # IPC or package failure: the outcome is unknown
            return self._reconcile(
                req, f"order_send raised {type(exc).__name__}: {self._redact(exc)}"
            )
        if res is None:
            return self._reconcile(
                req, f"order_send returned None {self._redact(api.last_error())}"
            )
        rc = int(res.retcode)
        if rc in _UNKNOWN_RETCODES:
            return self._reconcile(req, f"retcode {rc} ({k.RETCODE_NAMES[rc]})")
        text = f"{rc} {k.RETCODE_NAMES.get(rc, 'unknown retcode')}: {res.comment}"
        if rc not in _OK_RETCODES:
            log.info("order_send refused: %s", self._redact(text))
            return ExecutionReport(False, rc, self._redact(text))
        if req.get("action") == k.TRADE_ACTION_DEAL and (rc == PLACED or not res.deal):
            return self._reconcile(req, f"retcode {rc} without a deal yet")
        ticket = self._position_of(req, int(res.deal)) if res.deal else None
        if req.get("action") in (k.TRADE_ACTION_SLTP,):
            ticket = str(req.get("position"))
        return ExecutionReport(
            True,
            rc,
            text,
            ticket,
            str(res.order) if res.order else None,
            str(res.deal) if res.deal else None,
            float(res.price) or None,
            float(res.volume) or None,
        )

    def _position_of(self, req: TradeRequest, deal: int) -> str | None:
        """The position a deal belongs to: its ticket now (netting: the symbol's)."""
        if "position" in req:
            return str(req["position"])
        rows = self._api().history_deals_get(ticket=deal) or ()
        ident = int(rows[0].position_id) if rows else None
        if self.account_mode() == "netting":
            held = self._api().positions_get(symbol=req.get("symbol", "")) or ()
            if held:
                return str(held[0].ticket)
        return None if ident is None else str(ident)

    def _reconcile(self, req: TradeRequest, why: str) -> ExecutionReport:
        """Find what ``req`` did by its tag; never send it again."""
        log.warning("outcome unknown (%s): reconciling by tag", why)
        action = req.get("action")
        for attempt in range(self.reconcile_checks):
            if attempt:
                self._sleep(self.reconcile_wait_s)
            try:
                found = self._lookup(req)
            except Exception as exc:  # the terminal itself is failing: keep "unknown"
                log.warning("reconcile check %d failed: %s", attempt + 1, self._redact(exc))
                found = None
            if found is not None:
                log.warning("reconciled after %s: %s", why, found.message)
                return found
        tag = req.get("comment", "")
        what = f"tag {tag}" if tag else f"action {action}"
        msg = (
            f"outcome unknown after {why}: nothing found for {what} in "
            f"{self.reconcile_checks} checks; not re-sent"
        )
        log.error(msg)
        return ExecutionReport(False, TIMEOUT, msg)

    def _lookup(self, req: TradeRequest) -> ExecutionReport | None:
        api = self._api()
        action = req.get("action")
        if action == k.TRADE_ACTION_SLTP:
            rows = api.positions_get(ticket=req.get("position", 0)) or ()
            if rows and float(rows[0].sl) == req.get("sl") and float(rows[0].tp) == req.get("tp"):
                return ExecutionReport(
                    True, DONE, "reconciled: levels are set", str(rows[0].ticket)
                )
            return None
        if action == k.TRADE_ACTION_REMOVE:
            if not api.orders_get(ticket=req.get("order", 0)):
                return ExecutionReport(
                    True, DONE, "reconciled: order is gone", order=str(req.get("order"))
                )
            return None
        tag = req.get("comment", "")
        since = self._now() - _RECONCILE_LOOKBACK
        deals = [
            to_deal(d, self.clock) for d in self._history(since) if tag_matches(d.comment, tag)
        ]
        if deals:
            vol = sum(d.volume for d in deals)
            price = sum(d.price * d.volume for d in deals) / vol
            d0 = deals[0]
            ticket = self._position_of(req, int(d0.deal))
            return ExecutionReport(
                True,
                DONE,
                f"reconciled: {len(deals)} deal(s) tagged {tag}",
                ticket,
                d0.order,
                d0.deal,
                price,
                vol,
            )
        if action == k.TRADE_ACTION_PENDING:
            for o in api.orders_get(symbol=req.get("symbol", "")) or ():
                if tag_matches(o.comment, tag):
                    return ExecutionReport(
                        True,
                        PLACED,
                        f"reconciled: order tagged {tag} is working",
                        None,
                        str(o.ticket),
                        None,
                        float(o.price_open),
                        float(o.volume_current),
                    )
        for p in api.positions_get(symbol=req.get("symbol", "")) or ():
            if (
                tag_matches(p.comment, tag)
                and action == k.TRADE_ACTION_DEAL
                and "position" not in req
            ):
                return ExecutionReport(
                    True,
                    DONE,
                    f"reconciled: position tagged {tag} is open",
                    str(p.ticket),
                    price=float(p.price_open),
                    volume=float(p.volume),
                )
        return None
