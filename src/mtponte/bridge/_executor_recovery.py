"""Recovery of the reference executor (a private part of :mod:`.executor`).

:class:`RecoveryMixin` holds what the EA's ``Recover`` and ``Resolve`` do: settling the
commands a crash interrupted (journaled ``executing``) and the ones the broker answered
with a timeout, from the broker's records and never by a blind retry, and
republishing journaled results whose ``outbox`` file is missing or stale.
:class:`~mtponte.bridge.executor.Executor` mixes it in; the result helpers it calls
(``_final``, ``_finish`` ...) stay in :mod:`.executor`, so the crash points patched
there keep working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mtponte.bridge.checks import CheckContext, ExecutorLimits, check_command
from mtponte.bridge.fileio import BridgeDir
from mtponte.bridge.journal import ExecutorJournal
from mtponte.bridge.protocol import Command, Kind, Reason, Result, Status
from mtponte.brokers.base import DONE, PLACED, TIMEOUT, Broker
from mtponte.domain.orders import ExecutionReport

# the executor's logger: records keep the name they had before the split
log = logging.getLogger("mtponte.bridge.executor")


class RecoveryMixin:
    """Crash and timeout recovery; the state lives on the :class:`Executor`."""

    dir: BridgeDir
    broker: Broker
    limits: ExecutorLimits
    journal: ExecutorJournal
    clock: Callable[[], int]
    sleep: Callable[[float], None]
    timeout_grace_ms: int

    if TYPE_CHECKING:  # defined by OrdersMixin and Executor

        def context(self) -> CheckContext: ...

        def execute(self, cmd: Command) -> ExecutionReport: ...

        def _result(self, cmd: Command, rep: ExecutionReport, seen: int) -> Result: ...

        def _final(self, cmd: Command, seen: int, status: Status, **fields: object) -> Result: ...

        def _finish(
            self, path: Path | None, cmd: Command, res: Result, journaled: bool = False
        ) -> None: ...

        def _publish(self, res: Result) -> None: ...

    # ------------------------------------------------------------------ recovery
    def recover(self) -> int:
        """Resolve every command journaled as executing (a crash interrupted it), and
        republish final results whose ``outbox`` file is missing or stale (a crash
        between journaling ``done`` and writing the result, or a power cut)."""
        for cid, result in self.journal.recent_results(1_000):
            if _safe_name(cid):
                self._publish(Result.model_validate_json(result))
        n = 0
        for _cid, file, raw in self.journal.unfinished():
            cmd = Command.model_validate_json(raw)
            path = self.dir.inbox / file
            seen = self.clock()
            try:
                res = self.resolve(cmd, seen)
            except Exception as exc:  # the broker itself is failing: a human must look
                log.exception("cannot resolve %s", cmd.id)
                res = self._final(
                    cmd,
                    seen,
                    Status.UNKNOWN,
                    reason=Reason.BROKER_ERROR,
                    message=f"outcome unknown: {type(exc).__name__}: {exc}",
                )
            self._finish(path if path.exists() else None, cmd, res)
            n += 1
        return n

    def settle_timeout(self, cmd: Command, seen: int) -> Result:
        """The outcome of a command the broker answered with a timeout (10012).

        MT5 may execute an order after it answered, so a timed-out open, close or
        pending order is **never sent again**: it is looked for by its tag for
        ``timeout_grace_ms`` and, when found, reported ``filled``; otherwise the result
        is ``unknown`` (the client or the operator decides). Idempotent kinds (modify,
        cancel, close_all, ping) are settled as after a crash (see :meth:`resolve`).
        """
        if cmd.kind not in (Kind.OPEN, Kind.CLOSE, Kind.PLACE):
            return self.resolve(cmd, seen)
        deadline = self.clock() + self.timeout_grace_ms
        while (found := self._find(cmd, seen)) is None and self.clock() < deadline:
            self.sleep(0.25)
        if found is not None:
            return found
        log.error("command %s timed out and left no trace by its tag: not re-sent", cmd.id)
        return self._final(
            cmd,
            seen,
            Status.UNKNOWN,
            retcode=TIMEOUT,
            message=f"broker timed out; no order, deal or position with tag {cmd.tag} after "
            f"{self.timeout_grace_ms / 1000:g} s; not re-sent (check the terminal)",
        )

    def resolve(self, cmd: Command, seen: int) -> Result:
        """Establish the outcome of an interrupted command from the broker's records.

        Found among deals / orders / positions by its tag → ``filled``. Not found →
        it was not executed: execute it now if it is still within its TTL and passes
        every check again, else ``rejected`` (``expired`` or the check's reason).
        Idempotent kinds (modify, cancel, close_all, ping) are simply applied again.
        """
        b = self.broker
        if cmd.kind in (Kind.OPEN, Kind.CLOSE, Kind.PLACE):
            found = self._find(cmd, seen)
            if found is not None:
                return found
            if self.clock() > cmd.expires_at():
                return self._final(
                    cmd,
                    seen,
                    Status.REJECTED,
                    reason=Reason.EXPIRED,
                    message="not executed before a crash; expired since",
                )
            # not executed: sending it now is a new decision, so it passes every check
            # again (a kill switch, the daily loss or max positions set meanwhile)
            rej = check_command(cmd, self.context(), self.limits)
            if rej is not None:
                return self._final(
                    cmd,
                    seen,
                    Status.REJECTED,
                    reason=rej[0],
                    message=f"not executed before a crash; now refused: {rej[1]}",
                )
        if (
            cmd.kind is Kind.CANCEL
            and cmd.ticket is not None
            and not any(o.ticket == cmd.ticket for o in b.orders())
        ):
            return self._final(
                cmd,
                seen,
                Status.FILLED,
                reason=Reason.RECOVERED,
                retcode=DONE,
                order=cmd.ticket,
            )
        return self._result(cmd, self.execute(cmd), seen)

    def _find(self, cmd: Command, seen: int) -> Result | None:
        """An open/close/place found by its tag among deals (or, pending, orders)."""
        b, tag = self.broker, cmd.tag
        deals = b.deals(comment=tag)
        if deals:
            d = deals[0]
            return self._final(
                cmd,
                seen,
                Status.FILLED,
                reason=Reason.RECOVERED,
                retcode=DONE,
                ticket=d.position,
                order=d.order,
                deal=d.deal,
                price=d.price,
                volume=sum(x.volume for x in deals),
                message="found in deals after a crash",
            )
        if cmd.kind is Kind.PLACE:
            for o in b.orders():
                if o.comment == tag:
                    return self._final(
                        cmd,
                        seen,
                        Status.FILLED,
                        reason=Reason.RECOVERED,
                        retcode=PLACED,
                        order=o.ticket,
                        price=o.price,
                        volume=o.volume,
                        message="found pending after a crash",
                    )
        return None


def _safe_name(cid: str) -> bool:
    return (
        bool(cid)
        and len(cid) <= 100
        and all(c.isalnum() or c in "-_." for c in cid)
        and not cid.startswith(".")
        and os.sep not in cid
    )
