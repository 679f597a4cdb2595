"""The Python follower: reconcile a broker account to the target book the server
decides, report every execution, heartbeat the account facts.

It never decides what to copy (the server's copy engine does); it only makes the
account hold the targets, touching only positions with its magic and tag. When the
server cannot be reached it keeps the account as it is and retries with backoff: it
never flattens because the network failed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mtponte.brokers.base import Broker
from mtponte.copy.engine.model import Target
from mtponte.copy.follower._ledger import instance_id, load_ledger, save_ledger
from mtponte.copy.follower._outbox import load_unsent, new_report_id, save_unsent
from mtponte.copy.follower._plan import (
    Action,
    Ledger,
    adopt_fills,
    owned,
    plan_hedging,
    plan_netting,
    tag_of,
    target_of,
    track_placed,
)
from mtponte.domain.orders import ExecutionReport, PendingOrder, Position
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError, MtponteError

_log = logging.getLogger("mtponte.follower")


class LinkError(MtponteError):
    """The copy server could not be reached or answered an error worth retrying."""


class LeaseHeld(MtponteError):
    """Another follower instance is trading this account."""


@dataclass(frozen=True, slots=True)
class TargetBook:
    """The server's answer: the follower's targets at ``version``."""

    version: int
    targets: tuple[Target, ...]
    master_online: bool = True
    master_time_ms: int | None = None  # the newest master event the book reflects
    computed_at_ms: int | None = None


class Link(Protocol):
    """How a follower talks to its copy server (HTTP in production, fakes in tests)."""

    def targets(self, version: int | None, wait_s: float) -> TargetBook | None:
        """The book, or ``None`` when it is still at ``version`` after ``wait_s``."""
        ...

    def heartbeat(self, facts: dict[str, Any]) -> None: ...

    def report(self, reports: list[dict[str, Any]]) -> None: ...


@dataclass
class FollowerOptions:
    """How a follower runs (the CLI builds it from :class:`FollowerSettings`)."""

    magic: int = 3_003_003
    state_dir: Path = Path("follower-state")
    heartbeat_interval_s: float = 5.0
    long_poll_s: float = 20.0
    reopen_closed_by_hand: bool = False
    cent: bool = False
    deviation_points: int = 50
    backoff_max_s: float = 30.0
    # Names this follower to the server's lease; None: kept in the state folder, so a
    # restart (same folder) takes its lease back at once and another copy waits.
    instance: str | None = None


@dataclass
class CycleResult:
    """What one reconcile did."""

    version: int | None
    actions: list[Action]
    reports: list[dict[str, Any]]


def now_ms() -> int:
    return int(time.time() * 1000)


class Follower:
    """Reconciles one broker account to one target book.

    Parameters
    ----------
    broker
        The follower's account (paper, bridge, mt5).
    link
        The copy server connection.
    options
        Magic, state folder, intervals.
    name
        Names the ledger file (one per follower account and master).
    """

    def __init__(
        self,
        broker: Broker,
        link: Link,
        options: FollowerOptions,
        name: str = "follower",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.link = link
        self.opt = options
        self.clock = clock
        self._ledger_path = Path(options.state_dir) / f"ledger-{name}.json"
        self.ledger: Ledger = load_ledger(self._ledger_path)
        self._fills_saved = set(self.ledger.fills)  # the fills the ledger file holds
        self.instance = options.instance or instance_id(
            Path(options.state_dir) / f"instance-{name}"
        )
        self.book: TargetBook | None = None
        self._said: set[tuple[str, str]] = set()  # (target, reason) already reported
        # Reports the server has not taken yet, kept in the state folder until it has.
        self._unsent_path = Path(options.state_dir) / f"unsent-{name}.json"
        self._unsent: list[dict[str, Any]] = load_unsent(self._unsent_path)
        self._specs: dict[str, SymbolSpec] = {}  # the symbol list of the last plan
        self._last_beat = 0.0
        self._netting = self._is_netting()

    def _is_netting(self) -> bool:
        mode = self.broker.account().account_mode
        if mode is None:
            # Planning a netting account as hedging would open a second position where
            # the broker nets it into the first: refuse rather than guess.
            raise ConfigError(
                "the broker does not say whether the account is netting or hedging "
                "(an executor older than bridge protocol 1 with account_mode?)"
            )
        return mode == "netting"

    # ----------------------------------------------------------------- facts
    def facts(self) -> dict[str, Any]:
        """The account facts the server's engine needs, as a heartbeat body."""
        acc = self.broker.account()
        specs = self.broker.symbols()
        return {
            "instance": self.instance,
            "netting": self._netting,
            "cent": self.opt.cent,
            "balance": acc.balance,
            "equity": acc.equity,
            "daily_pnl": acc.daily_pnl,
            "currency": acc.currency,
            "symbols": [
                {
                    "name": s.name,
                    "tick_size": s.tick_size,
                    "tick_value": s.tick_value,
                    "contract_size": s.contract_size,
                    "digits": s.digits,
                    "lot_min": s.lot_min,
                    "lot_max": s.lot_max,
                    "lot_step": s.lot_step,
                }
                for s in specs.values()
            ],
            "positions": [_position_json(p) for p in self._mine()],
        }

    def _mine(self) -> list[Position]:
        return [p for p in self.broker.positions() if p.magic == self.opt.magic]

    def heartbeat(self) -> None:
        """Send the account facts (raises :class:`LeaseHeld` if another instance trades)."""
        self.link.heartbeat(self.facts())
        self._last_beat = self.clock()

    # ----------------------------------------------------------------- start
    def start(self) -> None:
        """Take the lease and rebuild the ledger from the broker before any trade."""
        self.heartbeat()
        self.rebuild()
        self._send_unsent()  # a previous run's reports first (each stored once)

    def rebuild(self) -> None:
        """Learn from the broker what this follower opened (after a restart or a lost
        ledger): positions and orders carrying a tag, and deals in the history."""
        changed = False
        for p in self._mine():
            tid = target_of(p.comment)
            if tid is not None and tid not in self.ledger.opened:
                self.ledger.opened.add(tid)
                changed = True
        for d in self.broker.deals():
            tid = target_of(d.comment) if d.magic == self.opt.magic else None
            if tid is None or d.entry not in ("in", "inout"):
                continue
            if tid not in self.ledger.opened or tid not in self.ledger.fills:
                # A fill of ours (a lost ledger loses no pending fill: a net target
                # listing it is ours); forgotten at the next plan if no target names it.
                self.ledger.opened.add(tid)
                self.ledger.fills.add(tid)
                changed = True
        if changed:
            self._save()

    # ----------------------------------------------------------------- reconcile
    def cycle(self, wait_s: float = 0.0) -> CycleResult:
        """Fetch the book (waiting up to ``wait_s`` for a change), reconcile, report.

        Raises :class:`LinkError` when the server cannot be reached: the account is
        left as it is.
        """
        got = self.link.targets(self.book.version if self.book else None, wait_s)
        if got is not None:
            self.book = got
        received = now_ms()
        if self.book is None:
            return CycleResult(None, [], [])
        actions = self.plan(self.book)
        reports: list[dict[str, Any]] = []
        for a in actions:
            r = self._do(a, self.book, received)
            if r is not None:
                # On disk before the next broker call: a crash loses no report.
                reports.append(r)
                self._unsent.append(r)
                save_unsent(self._unsent_path, self._unsent)
        self._forget_gone()
        self._send_unsent()
        if self.clock() - self._last_beat >= self.opt.heartbeat_interval_s:
            self.heartbeat()
        return CycleResult(self.book.version, actions, reports)

    def _send_unsent(self) -> None:
        """Send the kept reports, oldest first, 500 at most; removed once the server
        took them. An outage (:class:`LinkError`) keeps them for the next cycle; a
        resend of one the server took before the answer was lost is stored once (its
        ``report_id``)."""
        if self._unsent:
            self.link.report(self._unsent[:500])
            del self._unsent[:500]
            save_unsent(self._unsent_path, self._unsent)

    def plan(self, book: TargetBook) -> list[Action]:
        """The actions that bring the account to ``book`` now."""
        positions = self.broker.positions()
        orders = self.broker.orders()
        specs = self._specs = self.broker.symbols()  # _do reads it again for slippage
        syms = {t.symbol for t in book.targets}
        quotes = {s: self.broker.quote(s) for s in syms if s in specs}
        reopen = self.opt.reopen_closed_by_hand
        filled = self._pending_fills(book, positions, orders)
        placed = track_placed(book.targets, orders, self.opt.magic, self.ledger)
        if adopt_fills(book.targets, self.ledger) or self._fills_saved != filled or placed:
            self._save()
        plan = plan_netting if self._netting else plan_hedging
        return plan(
            book.targets,
            positions,
            orders,
            specs,
            quotes,
            self.ledger,
            self.opt.magic,
            reopen,
            filled,
            self.clock(),
        )

    def _pending_fills(
        self, book: TargetBook, positions: list[Position], orders: list[PendingOrder]
    ) -> set[str]:
        """Target ids whose pending order of ours filled (``ledger.fills``): a position
        of ours carries the tag, or (position gone, order gone) an ``in`` deal does.
        Only asked of the broker's history for a pending target with neither an order
        nor a position. Remembered in the ledger (a fill does not unhappen) while a
        target's id or ``sources`` names it or a position of ours carries its tag."""
        live = {t.target_id for t in book.targets}
        live.update(s for t in book.targets for s in t.sources)
        fills = self.ledger.fills
        mine = [p for p in positions if p.magic == self.opt.magic]
        comments = [p.comment for p in mine]
        comments += [o.comment for o in orders if o.magic == self.opt.magic]
        tagged = {tid for c in comments if (tid := target_of(c)) is not None}
        held = set(owned(mine, self.opt.magic, self.ledger)[0])  # by tag or ledger ticket
        fills.intersection_update(live | held)
        fills.update(held & live)
        for t in book.targets:
            if t.pending and t.target_id not in tagged and t.target_id not in fills:
                tag = tag_of(t.target_id)
                if any(
                    d.entry in ("in", "inout") and d.magic == self.opt.magic and d.comment == tag
                    for d in self.broker.deals(tag)
                ):
                    fills.add(t.target_id)
        return set(fills)

    def _save(self) -> None:
        save_ledger(self._ledger_path, self.ledger)
        self._fills_saved = set(self.ledger.fills)

    def _forget_gone(self) -> None:
        """Targets gone from the book and with nothing left open are forgotten."""
        if self.book is None:
            return
        live = {t.target_id for t in self.book.targets}
        mine, _ = owned(self.broker.positions(), self.opt.magic, self.ledger)
        gone = {t for t in self.ledger.opened if t not in live and t not in mine}
        if gone:
            self.ledger.opened -= gone
            for t in gone:
                self.ledger.tickets.pop(t, None)
            self._said = {k for k in self._said if k[0] not in gone}
            self._save()

    def _do(self, a: Action, book: TargetBook, received: int) -> dict[str, Any] | None:
        b = self.broker
        if a.kind in ("skip", "wait"):
            if (a.target_id, a.reason) in self._said:
                return None
            self._said.add((a.target_id, a.reason))
            _log.info("%s %s: %s", a.kind, a.target_id, a.reason)
            return _report(a, "skipped", a.reason, book, received)
        sent = now_ms()
        tag = tag_of(a.target_id)
        r: ExecutionReport
        if a.kind == "open":
            assert a.side is not None
            r = b.market_order(
                a.symbol,
                a.side,
                a.volume,
                a.sl,
                a.tp,
                self.opt.deviation_points,
                self.opt.magic,
                tag,
            )
        elif a.kind == "limit":
            assert a.side is not None and a.price is not None
            r = b.place_order(
                a.symbol, a.side, "limit", a.volume, a.price, a.sl, a.tp, None, self.opt.magic, tag
            )
        elif a.kind == "place":
            assert a.side is not None and a.price is not None and a.order_type is not None
            expiry = datetime.fromtimestamp(a.expiry, UTC) if a.expiry else None
            r = b.place_order(
                a.symbol,
                a.side,
                a.order_type,
                a.volume,
                a.price,
                a.sl,
                a.tp,
                expiry,
                self.opt.magic,
                tag,
            )
        elif a.kind == "close":
            assert a.ticket is not None
            r = b.close_position(a.ticket, None, self.opt.deviation_points, tag)
        elif a.kind == "reduce":
            assert a.ticket is not None
            r = b.close_position(a.ticket, a.volume, self.opt.deviation_points, tag)
        elif a.kind == "modify":
            assert a.ticket is not None
            r = b.modify_position(a.ticket, a.sl, a.tp)
        elif a.kind == "cancel":
            assert a.ticket is not None
            ours = a.target_id in self.ledger.placed
            if ours:
                # Recorded before sending: our own cancel is never taken for the user's.
                self.ledger.placed.discard(a.target_id)
                self._save()
            r = b.cancel_order(a.ticket)
            if ours and not r.ok:
                # Working still, or its fate unknown: never placed a second time.
                self.ledger.placed.add(a.target_id)
                self._save()
        else:  # pragma: no cover - the planner makes no other kind
            raise MtponteError(f"unknown follower action {a.kind}")
        filled = now_ms()
        if r.ok and a.kind == "place":
            self.ledger.placed.add(a.target_id)
            self._save()
        if r.ok and a.kind in ("open", "limit"):
            self.ledger.opened.add(a.target_id)
            if r.ticket is not None:
                self.ledger.tickets.setdefault(a.target_id, set()).add(r.ticket)
            self._save()
        status = "copied" if r.ok else "failed"
        reason = a.kind if r.ok else f"{a.kind}: retcode {r.retcode} {r.message}".strip()
        if r.ok:
            self._said = {k for k in self._said if k[0] != a.target_id}
        else:
            _log.warning("%s %s failed: retcode %s %s", a.kind, a.target_id, r.retcode, r.message)
        out = _report(a, status, reason, book, received)
        out["retcode"] = r.retcode
        out["latency"]["sent_ms"] = sent
        out["latency"]["filled_ms"] = filled
        if r.ok and r.price is not None and a.kind == "open" and a.price:
            spec = self._specs.get(a.symbol)
            if spec is not None:
                sign = 1 if a.side is not None and int(a.side) > 0 else -1
                out["slippage_points"] = round(
                    (r.price - a.price) * sign / 10.0 ** (-spec.digits), 3
                )
            out["price"] = r.price
        return out

    # ----------------------------------------------------------------- loop
    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set; back off while the server is unreachable.

        Starts first (:meth:`start`) unless it was started already. Raises
        :class:`LeaseHeld` when another instance holds the account, and
        :class:`~mtponte.errors.ConfigError` for a bad token or subscription.
        """
        delay = 0.5
        down = False
        started = self._last_beat > 0
        while not stop.is_set():
            try:
                if not started:
                    self.start()  # lease and ledger before any trade
                    started = True
                if self.clock() - self._last_beat >= self.opt.heartbeat_interval_s:
                    self.heartbeat()
                self.cycle(self.opt.long_poll_s)
                delay = 0.5
                if down:
                    _log.info("copy server reachable again")
                    down = False
            except LinkError as exc:
                if not down:
                    _log.warning("copy server unreachable (%s): account left as it is", exc)
                    down = True
                stop.wait(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.opt.backoff_max_s)


def _position_json(p: Position) -> dict[str, Any]:
    return {
        "ticket": p.ticket,
        "symbol": p.symbol,
        "side": "buy" if int(p.side) > 0 else "sell",
        "volume": p.volume,
        "open_price": p.open_price,
        "sl": p.sl,
        "tp": p.tp,
        "open_time": int(p.open_time.timestamp()),
    }


def _report(a: Action, status: str, reason: str, book: TargetBook, received: int) -> dict[str, Any]:
    return {
        "report_id": new_report_id(),
        "target_id": a.target_id,
        "action": a.kind,
        "status": status,
        "reason": reason[:200],
        "symbol": a.symbol,
        "volume": a.volume or None,
        "latency": {
            "master_ms": book.master_time_ms,
            "server_ms": book.computed_at_ms,
            "received_ms": received,
        },
    }
