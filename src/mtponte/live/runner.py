"""The monitor loop: closed bar → streaming strategy → risk gate → broker → journal.

One code path for every broker and feed, driven by
:class:`~mtponte.live.feeds.BarEvent` s (bar ``j`` closed, bar ``j+1`` opened). On each
event: read what the broker did during bar ``j`` for our tags (cancel a one-bar stop
that did not fill), feed bar ``j`` to the strategy, then act at the open of ``j+1``:
the flat-time close, and the entry the signal asks for once the strategy's own
preconditions (DESIGN.md) and every risk rule allow it. Orders carry the tag
``mtp:<20 hex>`` of a command journaled before sending; an unknown outcome blocks new
entries until the tag is found on the broker or its TTL passes. See docs/live.md.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from mtponte.backtest.engine import trade_volume
from mtponte.backtest.fill import flat_due
from mtponte.brokers.base import INVALID_PRICE, Broker
from mtponte.domain.bars import Bar, local_parts
from mtponte.domain.orders import EntryKind, ExecutionReport, Signal, Trade, levels_at
from mtponte.domain.side import ExitReason
from mtponte.domain.symbols import SymbolSpec
from mtponte.live._market import Market
from mtponte.live._supervise import Supervision
from mtponte.live.commands import CommandDesk
from mtponte.live.config import LiveConfig, config_diff, needs_restart
from mtponte.live.feeds import BarEvent
from mtponte.live.guard import Guard
from mtponte.live.journal import Journal
from mtponte.live.state import Held, LateEntry, LiveError, RunnerStats, Working
from mtponte.live.tradelog import TradeLog
from mtponte.risk.rules import DEFAULT_RULES, Decision, RiskContext, evaluate, first_refusal
from mtponte.strategies._rules import after_flat
from mtponte.strategies.elephant import ElephantStrategy, setup_bar_ok

log = logging.getLogger("mtponte.live")


class Runner(Supervision):
    """Run the strategy against one broker.

    Parameters
    ----------
    cfg
        Validated configuration.
    spec
        The traded symbol (its ``name`` is what orders carry).
    broker
        The account.
    timeframe_s
        Bar length in seconds (a bar's close is its open + this).
    journal
        Where every bar, signal, decision, command, fill and trade is recorded
        (``None``: not recorded).
    clock
        "Now", aware UTC (replays pass the simulated clock).
    trade_log
        The seed's ``logs/mt5_trades.csv`` writer (``None``: not written).
    command_ttl_s
        How long an unknown order outcome blocks entries before it is declared lost.
    """

    def __init__(
        self,
        cfg: LiveConfig,
        spec: SymbolSpec,
        broker: Broker,
        timeframe_s: int,
        journal: Journal | None = None,
        clock: Callable[[], datetime] | None = None,
        trade_log: TradeLog | None = None,
        command_ttl_s: float = 30.0,
    ) -> None:
        self.cfg = cfg
        self.spec = spec
        # The broker's name for what is traded: an explicit dated contract (WINZ25 while
        # the bars are WIN$), else the data symbol; a roll rule moves it later.
        self.symbol = cfg.trade_symbol or spec.name
        self.broker = broker
        self.tf = timedelta(seconds=timeframe_s)
        self.journal = journal
        self.clock = clock or (lambda: datetime.now(UTC))
        self.trade_log = trade_log
        self.desk = CommandDesk(broker, self.symbol, journal, command_ttl_s)
        self.p = cfg.strategy
        self.tz = spec.timezone
        self.strategy = ElephantStrategy(spec, self.p, self.tz)
        self.volume = trade_volume(spec, self.p)
        self.limits = cfg.risk.limits()
        self.trading = cfg.runner.mode == "trade"
        kill = cfg.risk.kill_switch_file
        self.kill_switch: Callable[[], bool] = (lambda: kill.exists()) if kill else (lambda: False)
        self.trades: list[Trade] = []
        self.stats = RunnerStats()
        self._working: Working | None = None
        self._held: Held | None = None
        self._flat_at_open = True
        self._last: Bar | None = None
        self._entries_by_day: dict[int, int] = {}
        self._pnl_by_day: dict[int, float] = {}
        self.guard = Guard(cfg.guard, spec, self.p, journal)
        # the exchange calendar and the contract roll ([session]; None: no calendar)
        self.market = Market(cfg.session, self.symbol) if cfg.session.calendar else None
        self._roll_held_day: date | None = None
        self._late: dict[str, LateEntry] = {}  # market entries of unknown outcome, by tag

    # ------------------------------------------------------------------ start
    def start(self) -> str:
        """Check the account and reconcile with the broker before trading.

        Returns
        -------
        str
            What was found and done (also logged).

        Raises
        ------
        LiveError
            A real account without ``allow_real_account``, or positions/orders of ours
            with ``on_existing = "refuse"``.
        """
        # A paper account, or a MetaTrader5 demo account (ACCOUNT_TRADE_MODE_DEMO), needs
        # no arming; anything that cannot say (the bridge) counts as real money, and only
        # an explicit True is believed.
        if self.broker.is_demo() is not True and not self.cfg.runner.allow_real_account:
            raise LiveError(
                "the account is not known to be a demo/paper account; set "
                "runner.allow_real_account = true to trade it"
            )
        return self._reconcile()

    def warm_up(self, bars: Iterable[Bar]) -> int:
        """Feed bars that closed before this run to the strategy only (no orders, no
        journal), so its lookbacks are what an uninterrupted run would hold; returns how
        many."""
        n = 0
        for bar in bars:
            self.strategy.on_bar(bar)
            self.guard.warm(bar)
            self._last = bar
            n += 1
        return n

    # ------------------------------------------------------------------ reconfiguration
    def apply_config(self, new: LiveConfig | list[str]) -> bool:
        """Apply a changed configuration from the next bar, or refuse it.

        Parameters
        ----------
        new
            The new configuration, or the problems of an invalid file.

        Returns
        -------
        bool
            Whether it was applied. Risk limits, ``runner.mode`` and the heartbeat may
            change while running; any other change, or an invalid file, is refused and
            the running values are kept. Both outcomes are journaled and logged.
        """
        if isinstance(new, list):
            log.error("configuration refused, running values kept: %s", "; ".join(new))
            if self.journal is not None:
                self.journal.config_change(False, {"problems": new})
            return False
        diff = config_diff(self.cfg, new)
        if not diff:
            return False
        frozen = needs_restart(diff)
        if frozen:
            log.error("configuration refused (needs a restart): %s", ", ".join(frozen))
            if self.journal is not None:
                self.journal.config_change(False, {"needs_restart": frozen, "diff": diff})
            return False
        self.cfg = new
        self.limits = new.risk.limits()
        self.trading = new.runner.mode == "trade"
        self.guard.section = new.guard
        kill = new.risk.kill_switch_file
        self.kill_switch = (lambda: kill.exists()) if kill else (lambda: False)
        log.warning("configuration applied from the next bar: %s", diff)
        if self.journal is not None:
            self.journal.config_change(True, diff)
        return True

    # ------------------------------------------------------------------ events
    def idle(self) -> None:
        """Between bars (each feed poll): settle market entries of unknown outcome as
        soon as the broker shows them, so a found entry's levels move to its fill now,
        not at the next bar. Other commands wait for the bar's close: a stop order
        found mid-bar is still working for its bar. Nothing to do costs nothing."""
        if self.desk.unknown:
            self._resolve_unknown(("market",))

    def on_event(self, ev: BarEvent) -> None:
        """Handle one closed bar (and the open of the next one, when known)."""
        t0 = _time.perf_counter()
        bar = ev.bar
        if self._last is not None and bar.time <= self._last.time:
            raise LiveError(f"bar {bar.time.isoformat()} is not after {self._last.time}")
        self.stats.bars += 1
        if self.journal is not None:
            self.journal.bar(bar)
        self.guard.on_bar(bar, self.trades, self.trading)  # the daily comparison

        day, _ = local_parts(bar.time, self.tz)
        self._resolve_unknown()
        self._sync(bar, day)
        sig = self.strategy.on_bar(bar)
        flat_open = self._flat_at_open
        self._last = bar
        if ev.next_time is None:
            if sig is not None:
                self._record(sig, [], "skipped: no next bar")
        else:
            nday, ntod = local_parts(ev.next_time, self.tz)
            kill = self.kill_switch()
            held = self._held
            call = (
                held is not None
                and self.market is not None
                and self.market.flat_due(ev.next_time, self.tf)
            )
            if held is not None and (
                kill or call or flat_due(nday, ntod, held.entry_day, self.p.flat_s)
            ):
                note = "kill switch" if kill else "before the closing call" if call else ""
                self._close_market(ev.next_time, ExitReason.FLAT, note)
            if self._held is not None and self.cfg.runner.trailing == "prev_bar":
                self._trail(bar, ev.next_time)
            if self.market is not None:
                self._roll(ev.next_time)
            if sig is not None:
                self.stats.signals += 1
                self._consider(sig, day, ev.next_time, nday, ntod, flat_open, kill)
            self._flat_at_open = self._held is None
        self.stats.latencies.append(_time.perf_counter() - t0)  # decided, order placed
        hb = self.cfg.runner.heartbeat_every_bars
        if self.journal is not None:
            if hb and self.stats.bars % hb == 0:
                self.journal.heartbeat(self.stats.bars)
            else:
                self.journal.flush_urgent()
        self.stats.totals.append(_time.perf_counter() - t0)

    def finish(self) -> None:
        """End of data: close an open position at the market (reason ``end``)."""
        if self._last is not None and self._held is not None:
            self._close_market(self._last.time, ExitReason.END, "end of data")

    def _roll(self, t: datetime) -> None:
        """Switch to the front contract of the session of ``t`` while flat (never with
        a position or a working order: a roll then waits until flat)."""
        assert self.market is not None
        front = self.market.front(t)
        if front is None or front.code == self.symbol:
            return
        if self._held is not None or self._working is not None:
            if self._roll_held_day != self.market.front_day:
                self._roll_held_day = self.market.front_day  # say it once a session
                log.warning("roll to %s waits: %s is not flat", front.code, self.symbol)
            return
        msg = f"roll: {self.symbol} -> {front.code} (expiry {front.expiry}) from {t.isoformat()}"
        self.symbol = self.desk.symbol = front.code
        self.market.contract = front
        log.warning(msg)
        if self.journal is not None:
            self.journal.heartbeat(self.stats.bars, msg)

    # ------------------------------------------------------------------ entries
    def _consider(
        self,
        sig: Signal,
        day: int,
        next_time: datetime,
        nday: int,
        ntod: int,
        flat_open: bool,
        kill: bool,
    ) -> None:
        # The strategy's own preconditions (DESIGN.md), as the backtest applies them.
        if sig.kind is EntryKind.STOP:
            if not setup_bar_ok(day, nday, ntod, self.p):
                self._record(sig, [], "skipped: next bar outside the setup window")
                return
        elif not flat_open:
            self._record(sig, [], "skipped: not flat at the trigger bar's open")
            return
        elif nday != day or after_flat(ntod, self.p.flat_s):
            self._record(sig, [], "skipped: next open on a later date or after flat")
            return
        if self.guard.blocked():
            log.info("signal %s refused: the guard is tripped (close-only)", _show(sig))
            self._record(sig, [], "refused: guard")
            return
        ctx = RiskContext(
            signal=sig,
            signal_close=sig.bar_time + self.tf,
            now=self.clock(),
            entry_tod_s=ntod,
            tick_size=self.spec.tick_size,
            positions=int(self._held is not None),
            pending_orders=int(self._working is not None),
            unacknowledged=len(self.desk.unknown),
            day_pnl=self._day_pnl(nday),
            trades_today=self._entries_by_day.get(nday, 0),
            kill_switch=kill,
            limits=self.limits,
            market_phase=self.market.phase(next_time) if self.market is not None else None,
        )
        decisions = evaluate(ctx, DEFAULT_RULES)
        refusal = first_refusal(decisions)
        if refusal is not None:
            log.info("signal %s refused by %s: %s", _show(sig), refusal.rule, refusal.reason)
            self._record(sig, decisions, f"refused: {refusal.rule}")
            return
        if not self.trading:
            log.info("signal %s allowed (log-only mode: no order sent)", _show(sig))
            self._record(sig, decisions, "log_only")
            return
        self._record(sig, decisions, "sent")
        self.stats.order_bars.append(self.stats.bars - 1)
        if sig.kind is EntryKind.STOP:
            self._place_stop(sig, next_time, nday)
        else:
            self._enter_market(sig, next_time, nday)

    def _place_stop(self, sig: Signal, next_time: datetime, nday: int) -> None:
        assert sig.price is not None and sig.sl is not None and sig.tp is not None
        price, sl, tp = sig.price, sig.sl, sig.tp

        def send(tag: str) -> ExecutionReport:
            return self.broker.place_order(
                self.symbol,
                sig.side,
                "stop",
                self.volume,
                price,
                sl,
                tp,
                expiry=next_time + self.tf,
                magic=self.cfg.runner.magic,
                comment=tag,
            )

        rep, tag = self._command("stop", send, None, sig.side, price, sl, tp)
        if rep is not None and rep.ok and rep.order is not None:
            self._working = Working(tag, rep.order, sig, next_time)
        elif rep is not None and rep.retcode == INVALID_PRICE:
            # A real server refuses a stop the market has already passed (a gap at the
            # open); the backtest fills such a stop at the open with the attached levels
            # (DESIGN.md), which is a market order with the same SL/TP.
            q = self.broker.quote(self.symbol)
            d = int(sig.side)
            if q is not None and ((q[1] >= price) if d > 0 else (q[0] <= price)):
                log.warning("stop %s already passed (quote %s): entering at market", price, q)
                self._market(sig, next_time, nday, sl, tp)

    def _enter_market(self, sig: Signal, next_time: datetime, nday: int) -> None:
        assert sig.sl_distance is not None and sig.tp_distance is not None
        d, tick = int(sig.side), self.spec.tick_size
        q = self.broker.quote(self.symbol)
        if q is None:
            # No quote (the bridge publishes no ticks): protective levels from the last
            # close go out with the order (an executor refuses an entry without SL),
            # then the levels are set from the fill as the backtest sets them.
            assert self._last is not None
            sl, tp = levels_at(self._last.close, d, sig.sl_distance, sig.tp_distance, tick)
            self._market(sig, next_time, nday, sl, tp, from_fill=True)
            return
        ref = q[1] if d > 0 else q[0]  # levels from the price the order goes out at
        sl, tp = levels_at(ref, d, sig.sl_distance, sig.tp_distance, tick)
        self._market(sig, next_time, nday, sl, tp)

    def _market(
        self,
        sig: Signal,
        next_time: datetime,
        nday: int,
        sl: float | None,
        tp: float | None,
        from_fill: bool = False,
    ) -> None:
        d = int(sig.side)

        def send(tag: str) -> ExecutionReport:
            return self.broker.market_order(
                self.symbol, sig.side, self.volume, sl, tp, magic=self.cfg.runner.magic, comment=tag
            )

        rep, tag = self._command("market", send, None, sig.side, None, sl, tp)
        dist = None
        if sl is None or tp is None or from_fill:
            assert sig.sl_distance is not None and sig.tp_distance is not None
            dist = (sig.sl_distance, sig.tp_distance)
        if rep is None:
            # No answer: look for it by its tag now (it is often there already), and
            # at every bar until its TTL; found, it is this entry, levels and all.
            self._late[tag] = LateEntry(d, next_time, nday, sl, tp, dist)
            self.idle()
            return
        if not rep.ok or rep.ticket is None or rep.price is None:
            return
        if dist is not None:
            sl, tp = self._levels_to_fill(tag, rep.ticket, d, rep.price, sl, tp, dist)
        assert sl is not None and tp is not None  # None only with dist, replaced above
        self._opened(tag, rep.ticket, d, next_time, nday, rep.price, sl, tp)

    # ------------------------------------------------------------------ helpers
    def _day_pnl(self, day: int) -> float:
        pnl = self._pnl_by_day.get(day, 0.0)
        held, last = self._held, self._last
        if held is not None and last is not None:
            pnl += (last.close - held.entry_price) * held.side * self.spec.point_value * self.volume
        return pnl

    def _record(self, sig: Signal, decisions: list[Decision], outcome: str) -> None:
        if self.journal is not None:
            self.journal.signal(sig, decisions, outcome)


def _show(sig: Signal) -> str:
    return f"{sig.side.name} {sig.kind.value} @ {sig.bar_time.isoformat()}"
