"""Position supervision for the runner: reconcile on start, broker sync, exits, commands.

:class:`Supervision` is the half of :class:`~mtponte.live.runner.Runner` that keeps
what the runner owns on the broker (:class:`~mtponte.live.state.Held`,
:class:`~mtponte.live.state.Working`) in step with the account: it adopts or refuses
what it finds at start, reads what the broker did during each bar for our tags, closes
and records trades, and sends every command through the
:class:`~mtponte.live.commands.CommandDesk`. The runner proper decides entries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from mtponte.backtest.fill import trade_pnl, trail_sl
from mtponte.bridge.protocol import KILL_COMMENT
from mtponte.brokers.base import INVALID_STOPS, Broker
from mtponte.domain.bars import Bar, local_parts
from mtponte.domain.orders import Deal, ExecutionReport, Position, Trade, levels_at
from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.live._market import Market
from mtponte.live.calendar import CalendarError
from mtponte.live.commands import CommandDesk
from mtponte.live.config import LiveConfig
from mtponte.live.journal import Journal
from mtponte.live.roll import parse_contract
from mtponte.live.state import Held, LateEntry, LiveError, Working, held_from
from mtponte.live.tradelog import TradeLog
from mtponte.strategies.params import ElephantParams

log = logging.getLogger("mtponte.live")


class Supervision:
    """What the runner owns on the broker, kept in step with the account (a mixin of
    :class:`~mtponte.live.runner.Runner`, which sets every attribute below)."""

    cfg: LiveConfig
    spec: SymbolSpec
    symbol: str
    broker: Broker
    journal: Journal | None
    trade_log: TradeLog | None
    desk: CommandDesk
    p: ElephantParams
    tz: str
    volume: float
    trades: list[Trade]
    _working: Working | None
    _held: Held | None
    _flat_at_open: bool
    _entries_by_day: dict[int, int]
    _pnl_by_day: dict[int, float]
    _late: dict[str, LateEntry]
    market: Market | None

    # ------------------------------------------------------------------ start
    def _reconcile(self) -> str:
        """Positions and orders with our magic on the traded symbol: adopt or refuse
        them (``runner.on_existing``); returns what was found and done."""
        self.desk.settle_earlier()
        magic = self.cfg.runner.magic
        pos = [p for p in self.broker.positions() if p.magic == magic and self._ours(p.symbol)]
        ords = [o for o in self.broker.orders() if o.magic == magic and self._ours(o.symbol)]
        found = ", ".join(
            [f"position {p.ticket} {p.side.name} {p.volume} '{p.comment}'" for p in pos]
            + [f"order {o.ticket} {o.side.name} {o.order_type} '{o.comment}'" for o in ords]
        )
        if not pos and not ords:
            msg = f"reconcile: no position or order with magic {magic} on {self.symbol}"
        elif self.cfg.runner.on_existing == "refuse":
            raise LiveError(f"found {found} with magic {magic}; on_existing = refuse: not starting")
        elif len(pos) > 1:
            raise LiveError(f"found {found}: more than one position cannot be adopted")
        else:
            for o in ords:  # one-bar orders from an earlier run are stale by now
                self._cancel(o.ticket, o.comment)
            if pos:
                self._held = held_from(self.tz, pos[0])
                self._adopt_symbol(pos[0].symbol)
                self._flat_at_open = False
            msg = f"reconcile: adopted {found}" + (" (orders cancelled)" if ords else "")
        log.log(logging.WARNING if pos or ords else logging.INFO, msg)
        if self.journal is not None:
            self.journal.heartbeat(0, msg)
        return msg

    def _ours(self, symbol: str) -> bool:
        """The traded symbol, or under a roll rule any dated contract of its root."""
        if symbol == self.symbol:
            return True
        m = self.market
        if m is None or m.section.roll == "off":
            return False
        try:
            parse_contract(symbol, m.cal)
        except CalendarError:
            return False
        return symbol.startswith(m.section.root)

    def _adopt_symbol(self, symbol: str) -> None:
        m = self.market
        if symbol != self.symbol and m is not None:  # a position on a dated contract
            self.symbol = self.desk.symbol = symbol
            m.contract = parse_contract(symbol, m.cal)

    def _opened(
        self,
        tag: str,
        ticket: str,
        side: int,
        t: datetime,
        day: int,
        price: float,
        sl: float,
        tp: float,
    ) -> None:
        self._held = Held(tag, ticket, side, t, day, price, sl, tp)
        self._entries_by_day[day] = self._entries_by_day.get(day, 0) + 1
        if self.journal is not None:
            self.journal.fill(tag, "in", Side(side).name.lower(), self.volume, price, t, ticket)
        if self.trade_log is not None:
            self.trade_log.entry(t, Side(side), price, sl, tp)
        log.info("entered %s %s at %s (SL %s, TP %s) [%s]", Side(side).name, t, price, sl, tp, tag)

    # ------------------------------------------------------------------ exits
    def _close_market(self, t: datetime, reason: ExitReason, note: str) -> None:
        held = self._held
        assert held is not None
        rep, _ = self._command(
            "close",
            lambda tag: self.broker.close_position(held.ticket, comment=tag),
            held.ticket,
            tag=held.tag,
        )
        if rep is not None and rep.ok and rep.price is not None:
            self._closed(t, rep.price, reason, note)
        elif rep is not None and not rep.ok:
            log.error("close of %s refused: %s", held.ticket, rep.message)

    def _closed(self, t: datetime, price: float, reason: ExitReason, note: str = "") -> None:
        held = self._held
        assert held is not None
        self._held = None
        points, money = trade_pnl(
            held.side,
            held.entry_price,
            price,
            self.spec.point_value,
            self.volume,
            self.p.fee_per_contract,
        )
        trade = Trade(
            held.entry_time,
            t,
            Side(held.side),
            self.volume,
            held.entry_price,
            price,
            held.sl,
            held.tp,
            points,
            money,
            reason,
        )
        self.trades.append(trade)
        day = local_parts(t, self.tz)[0]
        self._pnl_by_day[day] = self._pnl_by_day.get(day, 0.0) + money
        if self.journal is not None:
            side = Side(-held.side).name.lower()
            self.journal.fill(held.tag, "out", side, self.volume, price, t, held.ticket)
            self.journal.trade(trade, held.tag)
        if self.trade_log is not None:
            self.trade_log.exit(t, Side(held.side), price, reason, held.sl, held.tp)
        log.info(
            "closed %s at %s: %s, %.2f %s%s",
            held.ticket,
            price,
            reason.value,
            money,
            self.spec.currency,
            f" ({note})" if note else "",
        )

    def _trail(self, bar: Bar, t: datetime) -> None:
        """Trail the stop loss to ``bar``'s low/high (only tightening) before the bar
        opening at ``t``; a level the market has already passed closes at the market,
        as the backtest exits a bar that opens through its stop."""
        held = self._held
        assert held is not None
        new = trail_sl(held.side, held.sl, bar.low, bar.high, self.spec.tick_size)
        if new == held.sl:
            return
        rep, _ = self._command(
            "modify",
            lambda _t: self.broker.modify_position(held.ticket, new, None),
            held.ticket,
            sl=new,
            tag=held.tag,
        )
        if rep is not None and rep.ok:
            log.info("trailing stop of %s: %s -> %s", held.ticket, held.sl, new)
            held.sl = new
        elif rep is not None and rep.retcode == INVALID_STOPS:
            q = self.broker.quote(self.symbol)
            if q is not None and (q[0] <= new if held.side > 0 else q[1] >= new):
                self._close_market(t, ExitReason.SL, "trailing stop already passed at the open")

    # ------------------------------------------------------------------ broker sync
    def _sync(self, bar: Bar, day: int) -> None:
        """What happened on the broker during ``bar`` for our tags."""
        w = self._working
        if w is not None:
            self._working = None
            unfilled = any(o.ticket == w.ticket for o in self.broker.orders())
            # unfilled when its bar ended: cancel (DESIGN.md); a cancel that fails may
            # have lost a race with the fill, so look again
            if not unfilled or not self._cancel(w.ticket, w.tag):
                self._stop_filled(w, bar, day)
        held = self._held
        if held is not None and held.ticket not in {p.ticket for p in self.broker.positions()}:
            self._broker_exit(held, bar)

    def _stop_filled(self, w: Working, bar: Bar, day: int) -> None:
        sig = w.signal
        assert sig.sl is not None and sig.tp is not None
        entry = next((x for x in self.broker.deals(comment=w.tag) if x.entry == "in"), None)
        if entry is not None:
            ticket, price = entry.position, entry.price
        else:  # a broker that publishes positions but no deal history
            pos = next((p for p in self.broker.positions() if p.comment == w.tag), None)
            if pos is None:
                log.warning("stop order %s vanished without a fill (expired?)", w.ticket)
                return
            ticket, price = pos.ticket, pos.open_price
        self._opened(w.tag, ticket, int(sig.side), bar.time, day, price, sig.sl, sig.tp)

    def _broker_exit(self, held: Held, bar: Bar) -> None:
        """The broker closed our position (SL or TP) during ``bar``."""
        out = [x for x in self.broker.deals(comment=held.tag) if x.entry == "out"]
        if not out:
            log.error("position %s is gone and no closing deal has tag %s", held.ticket, held.tag)
            self._held = None
            return
        price = out[-1].price
        if out[-1].comment == KILL_COMMENT:  # the executor flattened it: the kill switch
            self._closed(bar.time, price, ExitReason.FLAT, "kill switch, closed by the executor")
            return
        # The level nearer to the exit price: gaps exit beyond the level, slippage
        # moves it a few ticks, and SL and TP are ATRs apart.
        reason = ExitReason.SL if abs(price - held.sl) <= abs(price - held.tp) else ExitReason.TP
        self._closed(bar.time, price, reason)

    # ------------------------------------------------------------------ commands
    def _command(
        self,
        kind: str,
        send: Callable[[str], ExecutionReport],
        target: str | None,
        side: Side | None = None,
        price: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: str | None = None,
    ) -> tuple[ExecutionReport | None, str]:
        volume = self.volume if side is not None else None
        return self.desk.send(kind, send, target, side, volume, price, sl, tp, tag)

    def _levels_to_fill(
        self,
        tag: str,
        ticket: str,
        d: int,
        fill: float,
        sl: float | None,
        tp: float | None,
        dist: tuple[float, float],
    ) -> tuple[float, float]:
        """The SL/TP the backtest sets from an entry's fill price (``dist``: the signal's
        SL and TP distances), moved on the broker if they are not there yet."""
        want_sl, want_tp = levels_at(fill, d, dist[0], dist[1], self.spec.tick_size)
        if (want_sl, want_tp) != (sl, tp):
            self._command(
                "modify",
                lambda _t: self.broker.modify_position(ticket, want_sl, want_tp),
                ticket,
                tag=tag,
            )
        return want_sl, want_tp

    def _cancel(self, ticket: str, tag: str) -> bool:
        rep, _ = self._command(
            "cancel", lambda _t: self.broker.cancel_order(ticket), ticket, tag=tag
        )
        return rep is not None and rep.ok

    def _resolve_unknown(self, kinds: tuple[str, ...] | None = None) -> None:
        """Adopt what unknown commands (of ``kinds``; ``None``: all) turned out to do
        (never re-sending them)."""
        for r in self.desk.resolve(kinds):
            tag = r.command.tag
            late = self._late.pop(tag, None)
            pos = [p for p in self.broker.positions() if p.comment == tag]
            if late is not None and self._held is None:
                self._late_entry(tag, late, pos[0] if pos else None, r.deals)
            elif pos and self._held is None:
                h = held_from(self.tz, pos[0])
                if r.command.kind in ("market", "stop"):
                    # our entry after all: journaled, logged and counted as any entry
                    self._opened(
                        h.tag, h.ticket, h.side, h.entry_time, h.entry_day, h.entry_price,
                        h.sl, h.tp,
                    )  # fmt: skip
                else:
                    self._held = h
            for o in r.orders:  # a one-bar stop whose bar is gone by now
                self._cancel(o.ticket, o.comment)

    def _late_entry(
        self, tag: str, late: LateEntry, pos: Position | None, deals: list[Deal]
    ) -> None:
        """A market entry found executed after its answer was lost: recorded as the
        entry it was sent as (its bar, its levels, moved to the fill when the backtest
        sets them from the fill). Already closed on the broker (its SL or TP during the
        wait), it is recorded all the same; the next sync records the exit."""
        entry = next((x for x in deals if x.entry in ("in", "inout")), None)
        if pos is not None:
            ticket, price = pos.ticket, pos.open_price
        elif entry is not None:
            ticket, price = entry.position, entry.price
        else:
            return
        # Closed only when a closing deal says so: the account's deals and positions may
        # be snapshots of different moments (the bridge), the position not listed yet.
        closed = pos is None and any(x.entry == "out" for x in deals)
        sl, tp = late.sl, late.tp
        if late.dist is not None:
            if not closed:
                sl, tp = self._levels_to_fill(tag, ticket, late.side, price, sl, tp, late.dist)
            else:  # nothing left to move: the levels it would have had
                sl, tp = levels_at(price, late.side, *late.dist, self.spec.tick_size)
        assert sl is not None and tp is not None  # None only with dist
        self._opened(tag, ticket, late.side, late.time, late.day, price, sl, tp)
