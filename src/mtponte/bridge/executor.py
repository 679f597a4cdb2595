"""The reference executor: the Python twin of ``mql5/Experts/MtponteBridge.mq5``.

Same protocol, same checks, same order of operations, executing against any
:class:`~mtponte.brokers.base.Broker` (the paper broker in tests, CI and the demo).
Function names mirror the EA's (``process_inbox`` ↔ ``ProcessInbox`` ...). This module
holds the loop, one file's processing and the results; the checks and execution are in
:mod:`._executor_orders`, the crash and timeout recovery in :mod:`._executor_recovery`
(mixins of :class:`Executor`, which keeps every name).

Exactly once
------------
For every command file, in ``seq`` order:

1. parse and validate; invalid → final ``rejected`` result, nothing executed;
2. look the id up in the journal: ``done`` → the file is a replay (re-write the result
   if it is missing, archive the file); ``executing`` → a crash interrupted it: resolve
   from the broker's records (:meth:`Executor.resolve`), never by a blind retry;
3. journal ``executing`` (durable) → write ``accepted`` → execute → journal ``done`` →
   write the final result → archive the command file to ``journal/``.

A command is executed only after its id is durably journaled, and a journaled id is
only ever executed again when the broker's records prove it was not executed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mtponte._faults import crashpoint
from mtponte.bridge._executor_orders import OrdersMixin
from mtponte.bridge._executor_recovery import RecoveryMixin, _safe_name
from mtponte.bridge._parse import Parsed, parse_command
from mtponte.bridge.checks import ExecutorLimits, check_command
from mtponte.bridge.fileio import (
    BridgeDir,
    atomic_write_json,
    list_messages,
    move,
    now_ms,
    read_json,
)
from mtponte.bridge.journal import ExecutorJournal
from mtponte.bridge.protocol import (
    INBOX_NAME,
    Command,
    Kind,
    Reason,
    Result,
    Status,
)
from mtponte.bridge.snapshots import write_bars, write_state
from mtponte.bridge.watch import changes
from mtponte.brokers.base import TIMEOUT, Broker
from mtponte.domain.orders import ExecutionReport

log = logging.getLogger("mtponte.bridge.executor")


class Executor(OrdersMixin, RecoveryMixin):
    """Process the inbox of ``root`` against ``broker``.

    Parameters
    ----------
    root
        The bridge folder (``inbox/``, ``outbox/``, ``state/``, ``journal/``).
    broker
        Where orders go.
    limits
        Safeguards (defence in depth).
    magic
        Only positions with this magic are counted, closed by ``close_all`` and the kill
        switch.
    journal_path
        SQLite journal (default ``journal/executor.sqlite`` in ``root``).
    """

    def __init__(
        self,
        root: Path,
        broker: Broker,
        limits: ExecutorLimits | None = None,
        magic: int | None = None,
        journal_path: Path | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.dir = BridgeDir(Path(root)).create()
        self.broker = broker
        self.limits = limits or ExecutorLimits()
        self.magic = magic
        self.clock = clock
        self.journal = ExecutorJournal(journal_path or self.dir.journal / "executor.sqlite")
        self._state_seq = 0
        self.atr: dict[str, float] = {}
        self.bar_subscriptions: tuple[tuple[str, str], ...] = ()  # (symbol, timeframe)
        self.bar_count = 200
        self.timeout_grace_ms = 5000  # how long a timed-out order is looked for by its tag
        self.sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ loop
    def run(
        self,
        stop: threading.Event,
        *,
        polling: bool = False,
        poll_ms: int = 25,
        burst_ms: int = 50,
        state_every_ms: int = 1000,
    ) -> None:
        """Recover, then process the inbox on every change until ``stop`` is set.

        ``polling`` lists the inbox every ``poll_ms`` instead of using file events;
        ``burst_ms`` is the fast-poll window after activity (see :func:`changes`).
        """
        self.recover()
        self.process_inbox()
        self.write_state()
        last_state = self.clock()
        for _ in changes(self.dir.inbox, stop, polling=polling, poll_ms=poll_ms, burst_ms=burst_ms):
            self.process_inbox()
            if self.clock() - last_state >= state_every_ms:
                self.write_state()
                last_state = self.clock()

    def process_inbox(self) -> int:
        """Process every command file present, in seq order; return how many."""
        self.apply_kill_switch()
        files = list_messages(self.dir.inbox)
        for path in files:
            try:
                self.process_file(path)
            except Exception as exc:  # a bug must not stop the executor or loop on one file
                log.exception("internal error on %s", path.name)
                self._quarantine(path, exc)
        return len(files)

    def _quarantine(self, path: Path, exc: Exception) -> None:
        self.recover()  # settle it from the broker's records if it got as far as executing
        if not path.exists():
            return
        m = INBOX_NAME.match(path.name)
        cid = m.group(2).lower() if m else path.stem
        if self.journal.get(cid) is None:
            self._reject(
                path,
                cid,
                int(m.group(1)) if m else None,
                Reason.INVALID_FIELD,
                f"internal error: {type(exc).__name__}",
                self.clock(),
                None,
            )
        else:
            move(path, self.dir.journal / "done" / path.name)

    # ------------------------------------------------------------------ one file
    def process_file(self, path: Path) -> None:
        seen = self.clock()
        parsed = self.parse_command(path)
        if parsed is None:
            return  # vanished meanwhile (processed by a previous pass)
        if parsed.cmd is None:
            assert parsed.reason is not None
            self._reject(path, parsed.cid, parsed.seq, parsed.reason, parsed.message, seen, None)
            return
        cmd = parsed.cmd
        known = self.journal.get(cmd.id)
        if known is not None:
            seq, state, _, result = known
            if seq != cmd.seq:
                self._duplicate(path, cmd, seen)
            elif state == "done":
                self._replay(path, cmd, result)
            else:
                self._finish(path, cmd, self.resolve(cmd, seen))
            return
        ctx = self.context()
        rej = check_command(cmd, ctx, self.limits)
        if rej is not None:
            self._reject(path, cmd.id, cmd.seq, rej[0], rej[1], seen, cmd)
            return
        raw = cmd.model_dump_json(exclude_none=True)
        if self.limits.log_only:
            log.info("log_only %s %s", cmd.id, raw)
            res = self._final(
                cmd,
                seen,
                Status.DRY_RUN,
                message="log_only: validated, not sent",
            )
            self.journal.finish(res, path.name, raw)
            self._finish(path, cmd, res, journaled=True)
            return
        self.journal.begin(cmd.id, cmd.seq, path.name, raw, seen)  # durable before acting
        crashpoint("executor.after_begin")
        self.write_result(Result(id=cmd.id, seq=cmd.seq, status=Status.ACCEPTED, seen_at=seen))
        if self.clock() > cmd.expires_at():  # the TTL again, just before sending: never late
            self._finish(
                path,
                cmd,
                self._final(
                    cmd,
                    seen,
                    Status.REJECTED,
                    reason=Reason.EXPIRED,
                    message="expired before it could be sent",
                ),
            )
            return
        log.info(
            "execute %s %s strategy=%s confidence=%s",
            cmd.kind.value,
            cmd.id,
            cmd.strategy,
            cmd.confidence,
        )
        rep = self.execute(cmd)
        crashpoint("executor.after_execute")
        if rep.retcode == TIMEOUT:
            self._finish(path, cmd, self.settle_timeout(cmd, seen))
            return
        res = self._result(cmd, rep, seen)
        if cmd.kind is Kind.OPEN and rep.ok:
            res = self._protect_fill(cmd, rep, res, seen)
        self._finish(path, cmd, res)

    def _protect_fill(self, cmd: Command, rep: ExecutionReport, res: Result, seen: int) -> Result:
        """Review #11 (EA: ``ProtectFill``): an entry sent with a stop is checked after its
        fill. A position without its SL gets it (``modify_position``); if that fails, what
        the entry opened is closed and the result is ``failed``/``broker_error``."""
        if not cmd.sl or rep.ticket is None:
            return res
        pos = next((p for p in self.broker.positions() if p.ticket == rep.ticket), None)
        if pos is None or pos.sl:
            return res
        b = self.broker
        mod = b.modify_position(pos.ticket, cmd.sl, pos.tp)
        if mod.ok:
            log.warning("command %s: the fill had no stop loss; set to %s", cmd.id, cmd.sl)
            return res.model_copy(
                update={"message": f"{res.message}; stop loss missing after the fill, set again"}
            )
        vol = rep.volume if rep.volume and rep.volume < pos.volume else None
        closed = b.close_position(pos.ticket, vol, cmd.max_deviation_points, cmd.tag).ok
        msg = f"filled without its stop loss and setting it failed (retcode {mod.retcode}): " + (
            "position closed, never left without protection"
            if closed
            else "closing it failed too: the position is OPEN WITHOUT A STOP LOSS"
        )
        log.error("command %s: %s", cmd.id, msg)
        return self._final(
            cmd,
            seen,
            Status.FAILED,
            reason=Reason.BROKER_ERROR,
            retcode=mod.retcode,
            ticket=rep.ticket,
            order=rep.order,
            deal=rep.deal,
            price=rep.price,
            volume=rep.volume,
            message=msg,
        )

    def parse_command(self, path: Path) -> Parsed | None:
        """Decode, parse and shape-check one file; never raises for bad content."""
        return parse_command(path)

    # ------------------------------------------------------------------ results
    def _result(self, cmd: Command, rep: ExecutionReport, seen: int) -> Result:
        if rep.ok:
            return self._final(
                cmd,
                seen,
                Status.FILLED,
                retcode=rep.retcode,
                ticket=rep.ticket,
                order=rep.order,
                deal=rep.deal,
                price=rep.price,
                volume=rep.volume,
                message=rep.message,
            )
        reason = Reason.NO_QUOTE if rep.retcode == 10021 else Reason.BROKER_ERROR
        if cmd.kind in (Kind.CLOSE, Kind.MODIFY) and rep.retcode == 10036:
            reason = Reason.NO_SUCH_POSITION
        if cmd.kind is Kind.CANCEL and "no pending order" in rep.message:
            reason = Reason.NO_SUCH_ORDER
        return self._final(
            cmd,
            seen,
            Status.FAILED,
            reason=reason,
            retcode=rep.retcode,
            message=rep.message,
        )

    def _final(self, cmd: Command, seen: int, status: Status, **fields: object) -> Result:
        """A final result for ``cmd``, first seen at ``seen``, done now."""
        return Result.model_validate(
            {
                "id": cmd.id,
                "seq": cmd.seq,
                "status": status,
                "seen_at": seen,
                "done_at": self.clock(),
                **fields,
            }
        )

    def write_result(self, res: Result) -> None:
        atomic_write_json(self.dir.outbox / f"{res.id}.json", res, fsync=False)

    def _finish(
        self, path: Path | None, cmd: Command, res: Result, journaled: bool = False
    ) -> None:
        if not journaled:
            self.journal.finish(
                res, path.name if path else cmd.file_name, cmd.model_dump_json(exclude_none=True)
            )
        crashpoint("executor.after_finish")
        self.write_result(res)
        log.info("result %s %s %s %s", cmd.id, res.status.value, res.reason or "", res.message)
        crashpoint("executor.after_result")
        if path is not None and path.exists():
            move(path, self.dir.journal / "done" / path.name)

    def _reject(
        self,
        path: Path,
        cid: str,
        seq: int | None,
        reason: Reason,
        message: str,
        seen: int,
        cmd: Command | None,
    ) -> None:
        log.warning("reject %s: %s %s", path.name, reason.value, message)
        res = Result(
            id=cid,
            seq=seq,
            status=Status.REJECTED,
            reason=reason,
            message=message,
            seen_at=seen,
            done_at=self.clock(),
        )
        if cmd is None and seq is not None and self.journal.get(cid) is not None:
            # the id already has its one result: never overwrite it (like a duplicate)
            target = self.dir.journal / "rejected" / path.name
            move(path, target)
            atomic_write_json(target.with_suffix(".result.json"), res)
            return
        if cmd is not None or seq is not None:
            # every id that got a result is remembered, also one refused before it could
            # be parsed: a later file with that id is a replay or a duplicate, never run
            raw = cmd.model_dump_json(exclude_none=True) if cmd is not None else None
            self.journal.finish(res, path.name, raw)
        if _safe_name(cid):
            self.write_result(res)
        move(path, self.dir.journal / "rejected" / path.name)

    def _duplicate(self, path: Path, cmd: Command, seen: int) -> None:
        # The id's own outbox file holds the original result: never overwrite it.
        res = self._final(
            cmd,
            seen,
            Status.REJECTED,
            reason=Reason.DUPLICATE_ID,
            message="id already used by another command",
        )
        log.warning("reject %s: duplicate id", path.name)
        target = self.dir.journal / "rejected" / path.name
        move(path, target)
        atomic_write_json(target.with_suffix(".result.json"), res)

    def _replay(self, path: Path, cmd: Command, result: str | None) -> None:
        if result is not None:
            self._publish(Result.model_validate_json(result))
        move(path, self.dir.journal / "done" / path.name)

    def _publish(self, res: Result) -> None:
        """Make ``outbox`` hold the journaled final result (missing or stale → rewrite)."""
        out = self.dir.outbox / f"{res.id}.json"
        try:
            current = read_json(out)
        except ValueError:
            current = None
        if current is None or current.get("status") != res.status.value:
            self.write_result(res)

    # ------------------------------------------------------------------ state
    def write_state(self) -> None:
        """Publish heartbeat, account, positions, orders and symbols snapshots."""
        self._state_seq += 1
        # The account first, the bars last: a reader that sees a new closed bar finds
        # the positions, orders and deals as they were after that bar already written.
        write_state(
            self.dir,
            self.broker,
            self._state_seq,
            self.clock(),
            self.limits.log_only,
            self.python_heartbeat_age(),
        )
        write_bars(
            self.dir,
            self.broker,
            self._state_seq,
            self.clock(),
            self.bar_subscriptions,
            self.bar_count,
        )

    def close(self) -> None:
        self.journal.close()
