"""Commands to the broker: tagged, journaled before they are sent, never re-sent blindly.

Every order carries the comment tag ``mtp:<first 20 hex digits of the command id>``,
the format of the bridge (``bridge.protocol.tag_for``), so after a crash or a timeout
the outcome is read from the broker's deals, positions and orders for that tag.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from mtponte.brokers.base import MARKET_CLOSED, TIMEOUT, Broker
from mtponte.domain.orders import Deal, ExecutionReport, PendingOrder
from mtponte.domain.side import Side
from mtponte.errors import MtponteError
from mtponte.live.journal import Journal

log = logging.getLogger("mtponte.live")

TAG_PREFIX = "mtp:"


def new_command_id() -> tuple[str, str]:
    """A fresh command id (uuid4) and its order-comment tag (≤ 31 characters)."""
    cid = str(uuid.uuid4())
    return cid, TAG_PREFIX + cid.replace("-", "")[:20]


@dataclass(frozen=True, slots=True)
class Unknown:
    """A command whose outcome the broker did not tell."""

    cid: str
    tag: str
    kind: str
    deadline: float  # time.monotonic() after which it is declared lost


@dataclass(frozen=True, slots=True)
class Resolved:
    """An unknown command found executed on the broker."""

    command: Unknown
    deals: list[Deal]
    orders: list[PendingOrder]


class CommandDesk:
    """Send commands to ``broker`` and keep those of unknown outcome.

    Parameters
    ----------
    broker
        The account.
    symbol
        Symbol every command is about.
    journal
        Where commands and their outcomes are recorded (``None``: nowhere).
    ttl_s
        How long an unknown outcome stays unresolved before it is declared lost.
    """

    def __init__(
        self, broker: Broker, symbol: str, journal: Journal | None, ttl_s: float = 30.0
    ) -> None:
        self.broker = broker
        self.symbol = symbol
        self.journal = journal
        self.ttl_s = ttl_s
        self.unknown: list[Unknown] = []
        self.sent = 0

    def send(
        self,
        kind: str,
        send: Callable[[str], ExecutionReport],
        target: str | None = None,
        side: Side | None = None,
        volume: float | None = None,
        price: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: str | None = None,
    ) -> tuple[ExecutionReport | None, str]:
        """Journal a command, send it with ``send(tag)``, journal its outcome.

        Parameters
        ----------
        kind
            ``stop``, ``market``, ``close``, ``modify`` or ``cancel``.
        send
            Performs the broker call with the order comment it is given.
        target
            Ticket acted on (close, modify, cancel).
        side, volume, price, sl, tp
            What is asked (journaled).
        tag
            Order comment (default: a new one); closes and modifies reuse the
            position's tag so every deal of a round trip carries the same one.

        Returns
        -------
        (ExecutionReport or None, str)
            The broker's answer (``None``: outcome unknown, kept until resolved) and the
            tag used.
        """
        cid, new_tag = new_command_id()
        tag = tag or new_tag
        if self.journal is not None:
            self.journal.command(
                cid,
                tag,
                kind,
                self.symbol,
                side=side.name.lower() if side is not None else None,
                volume=volume,
                price=price,
                sl=sl,
                tp=tp,
                target=target,
            )
        self.sent += 1
        rep: ExecutionReport | None
        try:
            rep = send(tag)
        except MtponteError as exc:  # a transport timeout: the outcome is unknown
            log.error("%s command %s: outcome unknown (%s)", kind, tag, exc)
            rep = None
        if rep is None or rep.retcode == TIMEOUT:
            self.unknown.append(Unknown(cid, tag, kind, time.monotonic() + self.ttl_s))
            state, code, msg = "unknown", TIMEOUT, "no answer; resolve by tag"
            rep = None
        else:
            state, code, msg = ("done" if rep.ok else "refused"), rep.retcode, rep.message
            if rep.retcode == MARKET_CLOSED:
                # the exchange is in an auction phase or closed: the market's answer,
                # not a fault of ours or the broker's
                state = "market_phase"
                log.info("%s command %s refused by market phase: %s", kind, tag, rep.message)
            elif not rep.ok:
                log.warning("%s command %s refused: %s %s", kind, tag, rep.retcode, rep.message)
        if self.journal is not None:
            self.journal.command_result(cid, state, code, msg)
        return rep, tag

    def resolve(self, kinds: Collection[str] | None = None) -> list[Resolved]:
        """Settle unknown commands from the broker's deals and orders for their tags.

        Parameters
        ----------
        kinds
            Only commands of these kinds (``None``: all); the others stay as they are.

        Returns
        -------
        list of Resolved
            Commands found executed; those the broker says it refused (a late answer,
            see :meth:`Broker.late_refusal`) are journaled ``refused``; those with no
            trace after their TTL are declared lost (journaled, logged as errors); the
            rest stay unknown.
        """
        if not self.unknown:
            return []
        found: list[Resolved] = []
        still: list[Unknown] = []
        for u in self.unknown:
            if kinds is not None and u.kind not in kinds:
                still.append(u)
                continue
            deals = self.broker.deals(comment=u.tag)
            if u.kind == "close":
                deals = [x for x in deals if x.entry == "out"]
            # A market command leaves no pending order: an order with its tag is the
            # command still in flight, not its outcome (wait for a deal or the TTL).
            orders = (
                []
                if u.kind == "market"
                else [o for o in self.broker.orders() if o.comment == u.tag]
            )
            if deals or orders:
                log.warning("command %s (%s) resolved from the broker: executed", u.tag, u.kind)
                if self.journal is not None:
                    self.journal.command_result(u.cid, "done", None, "resolved by tag")
                found.append(Resolved(u, deals, orders))
            elif (why := self.broker.late_refusal(u.tag)) is not None:
                # answered after all, too late to wait for: not executed, never will be
                log.warning("command %s (%s) refused late: %s", u.tag, u.kind, why)
                if self.journal is not None:
                    self.journal.command_result(u.cid, "refused", None, why[:300])
            elif time.monotonic() > u.deadline:
                log.error("command %s (%s) lost: no trace after its TTL", u.tag, u.kind)
                if self.journal is not None:
                    self.journal.command_result(u.cid, "lost", None, "no trace after TTL")
            else:
                still.append(u)
        self.unknown = still
        return found

    def settle_earlier(self) -> None:
        """Commands an earlier run left ``pending``/``unknown`` in the journal (it
        crashed between journaling and hearing back): settle each from the broker by its
        tag, ``done`` when a deal or order carries it, else ``lost``."""
        if self.journal is None:
            return
        for cid, tag, kind in self.journal.unresolved_commands():
            seen = bool(self.broker.deals(comment=tag)) or any(
                o.comment == tag for o in self.broker.orders()
            )
            state = "done" if seen else "lost"
            log.warning("earlier %s command %s: %s (looked up by its tag)", kind, tag, state)
            self.journal.command_result(cid, state, None, "settled at start by tag")
