"""A :class:`Broker` over the file bridge: the account is whatever the executor (the
MT5 EA, or its Python twin) publishes in ``state/``; orders go through ``inbox/``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtponte.bridge.client import BridgeClient
from mtponte.bridge.fileio import read_json
from mtponte.bridge.protocol import DealsState, Result, Status, tag_for
from mtponte.brokers.base import Broker
from mtponte.domain.bars import Bar
from mtponte.domain.orders import AccountInfo, Deal, ExecutionReport, PendingOrder, Position
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import MtponteError


class BridgeBroker(Broker):
    """Trade an MT5 account through the bridge folder ``root``.

    Parameters
    ----------
    root
        The folder shared with the EA (``<terminal>/MQL5/Files/mtponte``).
    magic
        Magic number stamped on every order.
    timeout_s
        How long to wait for a final result.
    clock
        Epoch milliseconds stamped on commands and the heartbeat (see
        :class:`~mtponte.bridge.client.BridgeClient`; default: the wall clock).
    """

    def __init__(
        self,
        root: Path,
        magic: int | None = None,
        timeout_s: float = 15.0,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.client = BridgeClient(root, clock=clock)
        self.client.recover()
        self.magic = magic
        self.timeout_s = timeout_s

    def _state(self, name: str) -> dict[str, Any]:
        try:
            obj = read_json(self.client.dir.state / name)
        except ValueError:
            obj = None
        if obj is None:
            raise MtponteError(f"the executor has not published state/{name} yet")
        return obj

    def _ms(self, ms: int | None) -> datetime:
        return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)

    def account(self) -> AccountInfo:
        a = self._state("account.json")
        return AccountInfo(
            a.get("login", ""),
            a.get("currency", ""),
            a["balance"],
            a["equity"],
            a.get("daily_pnl", 0.0),
            a.get("account_mode"),
        )

    def is_demo(self) -> bool:
        """Whether the executor says the account is a demo (``trade_mode`` in
        ``state/account.json``: the EA reads ``ACCOUNT_TRADE_MODE``). A contest or real
        account, or an executor that does not say, is not."""
        return self._state("account.json").get("trade_mode") == "demo"

    def symbols(self) -> dict[str, SymbolSpec]:
        out = {}
        for s in self._state("symbols.json")["symbols"]:
            out[s["name"]] = SymbolSpec(
                name=s["name"],
                tick_size=s["tick_size"],
                tick_value=s["tick_value"],
                contract_size=s["contract_size"],
                digits=s["digits"],
                lot_min=s["lot_min"],
                lot_max=s["lot_max"],
                lot_step=s["lot_step"],
            )
        return out

    def quote(self, symbol: str) -> tuple[float, float] | None:
        """``None``: the protocol publishes no ticks; the EA checks prices itself."""
        return None

    def positions(self) -> list[Position]:
        return [
            Position(
                p["ticket"],
                p["symbol"],
                Side.parse(p["side"]),
                p["volume"],
                p["open_price"],
                self._ms(p.get("open_time")),
                p.get("sl"),
                p.get("tp"),
                p.get("magic", 0),
                p.get("comment", ""),
                p.get("profit", 0.0),
            )
            for p in self._state("positions.json")["positions"]
        ]

    def orders(self) -> list[PendingOrder]:
        return [
            PendingOrder(
                o["ticket"],
                o["symbol"],
                Side.parse(o["side"]),
                o["order_type"],
                o["volume"],
                o["price"],
                o.get("sl"),
                o.get("tp"),
                self._ms(o["expiry"]) if o.get("expiry") else None,
                o.get("magic", 0),
                o.get("comment", ""),
            )
            for o in self._state("orders.json")["orders"]
        ]

    def deals(self, comment: str | None = None) -> list[Deal]:
        """The account's deals of the last 24 hours as the executor publishes them
        (``state/deals.json``); with ``comment``, the deals of the positions that tag
        opened, from its entry deal on (an SL/TP exit carries the server's comment).
        An executor that publishes no deals: the fills of this client's commands."""
        try:
            obj = read_json(self.client.dir.state / "deals.json")
        except ValueError:
            obj = None  # being replaced: the journal's fills meanwhile
        if obj is None:
            return self._journal_deals(comment)
        rows = [
            Deal(
                x.deal,
                x.order,
                x.position,
                x.symbol,
                Side.parse(x.side),
                x.volume,
                x.price,
                x.entry,
                self._ms(x.time),
                x.magic,
                x.comment,
                x.profit,
            )
            for x in DealsState.model_validate(obj).deals
            if self.magic is None or x.magic == self.magic
        ]
        if comment is None:
            return rows
        first: dict[str, int] = {}
        for d in rows:
            if d.comment == comment and d.entry in ("in", "inout"):
                first[d.position] = min(int(d.deal), first.get(d.position, int(d.deal)))
        return [
            d for d in rows if d.comment == comment or int(d.deal) >= first.get(d.position, 1 << 64)
        ]

    def _journal_deals(self, comment: str | None) -> list[Deal]:
        from mtponte.bridge.protocol import Command, tag_for

        out = []
        for cid, raw, result in self.client.journal.filled():
            res = Result.model_validate_json(result)
            if res.deal is None or (comment is not None and tag_for(cid) != comment):
                continue
            cmd = Command.model_validate_json(raw)
            out.append(
                Deal(
                    res.deal,
                    res.order or "",
                    res.ticket or "",
                    cmd.symbol or "",
                    Side.parse(cmd.side or "buy"),
                    res.volume or 0.0,
                    res.price or 0.0,
                    "in" if cmd.kind.value in ("open", "place") else "out",
                    self._ms(res.done_at),
                    cmd.magic,
                    tag_for(cid),
                )
            )
        return out

    def bars(self, symbol: str, timeframe: str, count: int) -> list[Bar]:
        """Closed bars the executor publishes for a subscribed symbol/timeframe."""
        b = self._state(f"bars-{symbol}-{timeframe}.json")["bars"][-count:]
        return [
            Bar(
                datetime.fromtimestamp(x["time"], tz=UTC),
                x["open"],
                x["high"],
                x["low"],
                x["close"],
                x.get("tick_volume", 0),
                x.get("real_volume", 0),
                x.get("spread", 0),
            )
            for x in b
        ]

    # ------------------------------------------------------------------ trading
    def _call(self, kind: str, comment: str = "", **fields: Any) -> ExecutionReport:
        """Send a command. A ``comment`` that is a runner command tag (``mtp:`` + 20 hex
        digits of a uuid4) becomes the bridge command's own tag, so the broker's records
        carry the tag the caller journaled; any other comment cannot travel (the
        protocol tags orders with the command id)."""
        if self.magic is not None and kind in ("open", "place"):
            fields["magic"] = self.magic
        self.client.heartbeat()
        res = self.client.call(
            kind,
            timeout_s=self.timeout_s,
            tag=comment or None,
            **{k: v for k, v in fields.items() if v is not None},
        )
        return ExecutionReport(
            res.status is Status.FILLED,
            res.retcode or 0,
            res.message or (res.reason.value if res.reason else ""),
            res.ticket,
            res.order,
            res.deal,
            res.price,
            res.volume,
        )

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
        return self._call(
            "open",
            comment,
            symbol=symbol,
            side="buy" if side > 0 else "sell",
            volume=volume,
            sl=sl,
            tp=tp,
            price=price,
            max_deviation_points=deviation_points,
        )

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
        if expiry is None:
            raise MtponteError("pending orders through the bridge need an expiry")
        return self._call(
            "place",
            comment,
            symbol=symbol,
            side="buy" if side > 0 else "sell",
            order_type=order_type,
            volume=volume,
            price=price,
            sl=sl,
            tp=tp,
            expiry=int(expiry.timestamp() * 1000),
        )

    def cancel_order(self, ticket: str) -> ExecutionReport:
        return self._call("cancel", ticket=ticket)

    def close_position(
        self,
        ticket: str,
        volume: float | None = None,
        deviation_points: int = 10,
        comment: str = "",
    ) -> ExecutionReport:
        return self._call(
            "close", comment, ticket=ticket, volume=volume, max_deviation_points=deviation_points
        )

    def modify_position(self, ticket: str, sl: float | None, tp: float | None) -> ExecutionReport:
        return self._call("modify", ticket=ticket, sl=sl, tp=tp)

    def late_refusal(self, tag: str) -> str | None:
        """The executor's final answer for an unfinished command tagged ``tag`` (one
        this client stopped waiting for), when it says the command was not executed:
        ``rejected`` (e.g. ``expired``: its TTL passed before the executor saw it) or
        ``failed``. Reading it also records it in the client's journal."""
        for cid, _state, _raw in self.client.journal.unfinished():
            if tag_for(cid) != tag:
                continue
            res = self.client.result(cid)
            if res is not None and res.status in (Status.REJECTED, Status.FAILED):
                why = res.reason.value if res.reason is not None else str(res.retcode or "")
                return f"{res.status.value}: {why} {res.message}".strip()
        return None

    def close(self) -> None:
        self.client.close()
