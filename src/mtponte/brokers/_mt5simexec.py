"""The trade-server side of :class:`~mtponte.brokers._mt5sim.Mt5Sim`: check one
``order_send`` request as an MT5 server would, then book it on the paper broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mtponte.brokers import _mt5api as k
from mtponte.brokers.base import INVALID, INVALID_STOPS, INVALID_VOLUME, POSITION_CLOSED
from mtponte.brokers.paper import PaperBroker
from mtponte.brokers.servertime import ServerClock
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec

_PENDING = {
    k.ORDER_TYPE_BUY_STOP: "stop",
    k.ORDER_TYPE_SELL_STOP: "stop",
    k.ORDER_TYPE_BUY_LIMIT: "limit",
    k.ORDER_TYPE_SELL_LIMIT: "limit",
}


@dataclass
class SimSymbol:
    """Trade-server properties of one symbol (the rest comes from its ``SymbolSpec``).

    The defaults are an exchange-executed symbol that declares no FOK/IOC flag (so
    only RETURN fills market orders) and accepts every expiry type.
    """

    trade_exemode: int = k.SYMBOL_TRADE_EXECUTION_EXCHANGE
    filling_mode: int = 0
    expiration_mode: int = (
        k.SYMBOL_EXPIRATION_GTC
        | k.SYMBOL_EXPIRATION_DAY
        | k.SYMBOL_EXPIRATION_SPECIFIED
        | k.SYMBOL_EXPIRATION_SPECIFIED_DAY
    )


def filling_allowed(props: SimSymbol, pending: bool, filling: int) -> bool:
    """Whether a server accepts ``filling`` for this symbol (MT5's rules by execution mode)."""
    flags = props.filling_mode
    fok = filling == k.ORDER_FILLING_FOK and bool(flags & k.SYMBOL_FILLING_FOK)
    ioc = filling == k.ORDER_FILLING_IOC and bool(flags & k.SYMBOL_FILLING_IOC)
    mode = props.trade_exemode
    if mode in (k.SYMBOL_TRADE_EXECUTION_REQUEST, k.SYMBOL_TRADE_EXECUTION_INSTANT):
        return True  # the terminal fills the policy in itself
    if mode == k.SYMBOL_TRADE_EXECUTION_MARKET:
        return pending or fok or ioc
    return filling == k.ORDER_FILLING_RETURN or fok or ioc


def _off_grid(spec: SymbolSpec, value: float) -> bool:
    return bool(value) and abs(spec.round_price(value) - value) > 1e-9 * max(1.0, abs(value))


def _no(code: int, message: str) -> ExecutionReport:
    return ExecutionReport(False, code, message)


def execute(
    paper: PaperBroker, clock: ServerClock, props: SimSymbol, req: dict[str, Any]
) -> ExecutionReport:
    """Check ``req`` and book it on ``paper``.

    Returns
    -------
    ExecutionReport
        The paper broker's report, or a refusal with the retcode a server would give.
    """
    action = req.get("action")
    if action == k.TRADE_ACTION_SLTP:
        return _sltp(paper, req)
    if action == k.TRADE_ACTION_REMOVE:
        rep = paper.cancel_order(str(int(req.get("order", 0))))
        return rep if rep.ok else _no(INVALID, "Invalid request: no such order")
    symbol = str(req.get("symbol", ""))
    spec = paper.symbols().get(symbol)
    if spec is None:
        return _no(INVALID, f"Invalid request: unknown symbol {symbol}")
    pending = action == k.TRADE_ACTION_PENDING
    if not filling_allowed(props, pending, int(req.get("type_filling", k.ORDER_FILLING_FOK))):
        return _no(k.INVALID_FILL, "Unsupported filling mode")
    vol = float(req.get("volume", 0.0))
    if vol <= 0 or spec.snap_volume(vol) != vol:
        return _no(INVALID_VOLUME, "Invalid volume")
    if _off_grid(spec, float(req.get("price", 0.0))):
        return _no(10015, "Invalid price")
    if _off_grid(spec, float(req.get("sl", 0.0))) or _off_grid(spec, float(req.get("tp", 0.0))):
        return _no(INVALID_STOPS, "Invalid stops")
    otype = int(req.get("type", -1))
    side = Side.BUY if otype in (0, 2, 4) else Side.SELL
    sl = float(req.get("sl", 0.0)) or None
    tp = float(req.get("tp", 0.0)) or None
    magic = int(req.get("magic", 0))
    comment = str(req.get("comment", ""))
    if action == k.TRADE_ACTION_DEAL:
        if otype not in (k.ORDER_TYPE_BUY, k.ORDER_TYPE_SELL):
            return _no(10035, "Invalid order type")
        ticket = int(req.get("position", 0) or 0)
        if ticket:
            return _close(paper, ticket, side, vol, comment)
        return paper.market_order(symbol, side, vol, sl, tp, magic=magic, comment=comment)
    if pending:
        kind = _PENDING.get(otype)
        if kind is None:
            return _no(10035, "Invalid order type")
        expiry = None
        type_time = int(req.get("type_time", k.ORDER_TIME_GTC))
        if type_time == k.ORDER_TIME_SPECIFIED:
            exp = int(req.get("expiration", 0))
            now = clock.to_server(paper.now())
            if not props.expiration_mode & k.SYMBOL_EXPIRATION_SPECIFIED or exp <= now:
                return _no(k.INVALID_EXPIRATION, "Invalid expiration")
            expiry = clock.to_utc(exp)
        elif type_time == k.ORDER_TIME_DAY:
            local = paper.now().astimezone(clock.zone)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            expiry = midnight + timedelta(days=1)
        price = float(req.get("price", 0.0))
        return paper.place_order(symbol, side, kind, vol, price, sl, tp, expiry, magic, comment)
    return _no(INVALID, f"Invalid request: action {action}")


def _close(
    paper: PaperBroker, ticket: int, side: Side, volume: float, comment: str
) -> ExecutionReport:
    pos = next((p for p in paper.positions() if int(p.ticket) == ticket), None)
    if pos is None:
        return _no(POSITION_CLOSED, "Position doesn't exist")
    if side == pos.side:
        return _no(INVALID, "Invalid request: a close must be opposite to the position")
    if volume > pos.volume + 1e-9:
        return _no(k.INVALID_CLOSE_VOLUME, "Close volume exceeds the position volume")
    return paper.close_position(str(ticket), volume, comment=comment)


def _sltp(paper: PaperBroker, req: dict[str, Any]) -> ExecutionReport:
    ticket = int(req.get("position", 0))
    pos = next((p for p in paper.positions() if int(p.ticket) == ticket), None)
    if pos is None:
        return _no(POSITION_CLOSED, "Position doesn't exist")
    spec = paper.symbols()[pos.symbol]
    sl = float(req.get("sl", 0.0)) or None
    tp = float(req.get("tp", 0.0)) or None
    if _off_grid(spec, sl or 0.0) or _off_grid(spec, tp or 0.0):
        return _no(INVALID_STOPS, "Invalid stops")
    if (sl, tp) == (pos.sl, pos.tp):
        return _no(k.NO_CHANGES, "No changes")
    return paper.modify_position(str(ticket), sl, tp)
