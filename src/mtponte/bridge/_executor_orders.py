"""Checks and execution of the reference executor (a private part of :mod:`.executor`).

:class:`OrdersMixin` holds what the EA's ``CheckContext``, ``Execute``, ``CloseAll`` and
``ApplyKillSwitch`` do: the facts a command is checked against (account, positions,
quotes, kill switch, the Python heartbeat's age) and the translation of a validated
command into broker calls. :class:`~mtponte.bridge.executor.Executor` mixes it in; the
names stay importable and patchable through :mod:`mtponte.bridge.executor`'s class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from mtponte.bridge.checks import CheckContext
from mtponte.bridge.fileio import BridgeDir, read_json
from mtponte.bridge.protocol import KILL_COMMENT, Command, Kind, PythonHeartbeat
from mtponte.brokers.base import DONE, Broker
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.side import Side

# the executor's logger: records keep the name they had before the split
log = logging.getLogger("mtponte.bridge.executor")


class OrdersMixin:
    """Checks and execution; the state lives on the :class:`Executor` that mixes it in."""

    dir: BridgeDir
    broker: Broker
    magic: int | None
    clock: Callable[[], int]
    atr: dict[str, float]

    # ------------------------------------------------------------------ checks
    def context(self) -> CheckContext:
        acct = self.broker.account()
        ours = [p for p in self.broker.positions() if self.magic is None or p.magic == self.magic]
        symbols = self.broker.symbols()
        quotes = {name: q for name in symbols if (q := self.broker.quote(name)) is not None}
        return CheckContext(
            now_ms=self.clock(),
            symbols=symbols,
            open_positions=len(ours),
            daily_pnl=acct.daily_pnl,
            kill_switch=self.dir.kill_switch.exists(),
            python_heartbeat_age_ms=self.python_heartbeat_age(),
            quotes=quotes,
            atr=dict(self.atr),
        )

    def python_heartbeat_age(self) -> int | None:
        try:
            obj = read_json(self.dir.state / "python-heartbeat.json")
        except ValueError:
            return None
        if obj is None:
            return None
        try:
            hb = PythonHeartbeat.model_validate(obj)
        except ValidationError:
            return None
        return max(0, self.clock() - hb.time)

    # ------------------------------------------------------------------ execution
    def execute(self, cmd: Command) -> ExecutionReport:
        """Send ``cmd`` to the broker (its comment is the command's tag)."""
        b, tag = self.broker, cmd.tag
        side = Side.BUY if cmd.side == "buy" else Side.SELL
        if cmd.kind is Kind.OPEN:
            assert cmd.symbol is not None and cmd.volume is not None
            sl, tp = cmd.sl, cmd.tp
            if (not sl or not tp) and b.account().account_mode == "netting":
                # the entry's levels replace its position's; a level the command omits keeps
                # the position's own when the entry grows it (review #12; EA: Execute)
                grown = next(
                    (p for p in b.positions() if p.symbol == cmd.symbol and p.side is side), None
                )
                if grown is not None:
                    sl, tp = sl or grown.sl, tp or grown.tp
            return b.market_order(
                cmd.symbol,
                side,
                cmd.volume,
                sl,
                tp,
                cmd.max_deviation_points,
                cmd.magic,
                tag,
                cmd.price,
            )
        if cmd.kind is Kind.PLACE:
            assert cmd.symbol and cmd.volume and cmd.price and cmd.order_type and cmd.expiry
            return b.place_order(
                cmd.symbol,
                side,
                cmd.order_type.value,
                cmd.volume,
                cmd.price,
                cmd.sl,
                cmd.tp,
                datetime.fromtimestamp(cmd.expiry / 1000, tz=UTC),
                cmd.magic,
                tag,
            )
        if cmd.kind is Kind.CANCEL:
            assert cmd.ticket is not None
            if not any(o.ticket == cmd.ticket for o in b.orders()):
                return ExecutionReport(False, 10013, f"no pending order {cmd.ticket}")
            return b.cancel_order(cmd.ticket)
        if cmd.kind is Kind.CLOSE:
            assert cmd.ticket is not None
            return b.close_position(cmd.ticket, cmd.volume, cmd.max_deviation_points, tag)
        if cmd.kind is Kind.MODIFY:
            assert cmd.ticket is not None
            return b.modify_position(cmd.ticket, cmd.sl, cmd.tp)
        if cmd.kind is Kind.CLOSE_ALL:
            return self.close_all(cmd.symbol, tag)
        return ExecutionReport(True, DONE, "pong")

    def close_all(self, symbol: str | None = None, tag: str = "") -> ExecutionReport:
        """Close every position with our magic (and cancel our orders)."""
        failures = []
        for o in self.broker.orders():
            if (self.magic is None or o.magic == self.magic) and symbol in (None, o.symbol):
                self.broker.cancel_order(o.ticket)
        for p in self.broker.positions():
            if (self.magic is None or p.magic == self.magic) and symbol in (None, p.symbol):
                rep = self.broker.close_position(p.ticket, None, 10_000, tag)
                if not rep.ok:
                    failures.append(f"{p.ticket}: {rep.message}")
        if failures:
            return ExecutionReport(False, 10006, "; ".join(failures))
        return ExecutionReport(True, DONE, "closed all")

    def apply_kill_switch(self) -> None:
        """While ``KILL_SWITCH`` exists: close all our positions; commands are refused."""
        if self.dir.kill_switch.exists():
            ours = [
                p for p in self.broker.positions() if self.magic is None or p.magic == self.magic
            ]
            if ours or self.broker.orders():
                log.warning("KILL SWITCH: closing %d positions", len(ours))
                self.close_all(None, KILL_COMMENT)
