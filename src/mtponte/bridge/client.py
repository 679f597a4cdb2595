"""The Python side of the bridge: writes commands, waits for results, never loses or
doubles one across its own crashes.

Every command is journaled (SQLite) ``pending`` before its file is written, ``sent``
after, then ``accepted`` and final as results arrive. :meth:`BridgeClient.recover`,
called on start before anything new is sent, settles each unfinished command:

* a result in ``outbox/`` → take it;
* its file still in ``inbox/`` (or archived by the executor) → it was delivered: wait;
* neither (the crash came before the file was written) → write it now if its TTL
  allows, else mark it ``rejected/expired`` locally; it never reached the executor.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mtponte._faults import crashpoint
from mtponte.bridge.fileio import BridgeDir, atomic_write_json, now_ms, read_json
from mtponte.bridge.journal import ClientJournal
from mtponte.bridge.protocol import (
    DEFAULT_TTL_MS,
    PROTOCOL_VERSION,
    Command,
    PythonHeartbeat,
    Reason,
    Result,
    Status,
    id_for_tag,
)
from mtponte.errors import MtponteError

log = logging.getLogger("mtponte.bridge.client")


class BridgeError(MtponteError):
    """The bridge cannot be used as it is (e.g. an executor of another protocol version)."""


class BridgeTimeout(MtponteError):
    """No final result within the wait."""


class BridgeClient:
    """Send commands through the bridge folder ``root``.

    Parameters
    ----------
    root
        The bridge folder shared with the executor.
    journal_path
        The client's SQLite journal (default ``journal/client.sqlite`` in ``root``).
    clock
        Epoch milliseconds for ``created_at`` and the heartbeat (default: the wall
        clock; a simulated market passes its own, as it does to the executor).
    """

    def __init__(
        self,
        root: Path,
        journal_path: Path | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        # looked up at each call, not bound here: tests patch this module's now_ms
        self.clock: Callable[[], int] = clock or (lambda: now_ms())
        self.dir = BridgeDir(Path(root)).create()
        self.journal = ClientJournal(journal_path or self.dir.journal / "client.sqlite")
        self._hb_seq = 0

    # ------------------------------------------------------------------ commands
    def command(
        self, kind: str, ttl_ms: int = DEFAULT_TTL_MS, tag: str | None = None, **fields: Any
    ) -> Command:
        """Build a new command with a fresh uuid4, the next seq and ``created_at`` = now;
        with ``tag`` (a command tag of the caller's, see :func:`id_for_tag`), an id that
        carries it."""
        cid = (id_for_tag(tag) if tag else None) or str(uuid.uuid4())
        return Command.model_validate(
            {
                "id": cid,
                "seq": self.journal.next_seq(),
                "created_at": self.clock(),
                "ttl_ms": ttl_ms,
                "kind": kind,
                **fields,
            }
        )

    def check_executor(self) -> None:
        """Refuse an executor that speaks another protocol version (a half-upgraded
        install: a new mtponte with an old EA, or the reverse), with a clear message.
        An executor that has not published its heartbeat yet is not refused here."""
        try:
            obj = read_json(self.dir.state / "heartbeat.json")
        except ValueError:
            return  # being rewritten: the next send checks again
        if not isinstance(obj, dict):
            return
        v = obj.get("v")
        if v != PROTOCOL_VERSION:
            who = obj.get("executor", "the executor")
            raise BridgeError(
                f"{who} in {self.dir.root} speaks bridge protocol v{v}; this mtponte speaks "
                f"v{PROTOCOL_VERSION}: install the matching EA (mql5/Experts/MtponteBridge.mq5 "
                "of this mtponte) or the matching mtponte; nothing was sent"
            )

    def send(self, cmd: Command) -> None:
        """Check the executor's protocol version, journal, then write
        ``inbox/<seq>-<id>.json`` atomically."""
        self.check_executor()
        raw = cmd.model_dump_json(exclude_none=True)
        self.journal.add(cmd.id, cmd.seq, raw, cmd.created_at)
        crashpoint("client.after_add")
        atomic_write_json(self.dir.inbox / cmd.file_name, cmd)
        crashpoint("client.after_write")
        self.journal.set_state(cmd.id, "sent")

    def result(self, cid: str) -> Result | None:
        """The latest result for ``cid`` (journaling it), or ``None``."""
        try:
            obj = read_json(self.dir.outbox / f"{cid}.json")
        except ValueError:
            return None
        if obj is None:
            return None
        try:
            res = Result.model_validate(obj)
        except ValidationError:
            log.error("malformed result for %s", cid)
            return None
        state = self.journal.state(cid)
        if state is not None and state != res.status.value:
            self.journal.set_state(cid, res.status.value, res.model_dump_json(exclude_none=True))
        return res

    def wait(self, cid: str, timeout_s: float = 10.0) -> Result:
        """Block until ``cid`` has a final result.

        Waits for its one expected file by ``stat`` polling, 0.2 ms apart at first and
        backing off to 5 ms: cheaper and faster than a second file watcher for a file
        whose name is known, and it costs CPU only while a command is in flight.
        """
        path = self.dir.outbox / f"{cid}.json"
        deadline = time.perf_counter() + timeout_s
        delay = 0.0002
        last_mtime = -1
        while True:
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = -1
            if mtime != last_mtime and mtime != -1:
                last_mtime = mtime
                res = self.result(cid)
                if res is not None and res.final:
                    return res
            if time.perf_counter() > deadline:
                raise BridgeTimeout(f"no final result for {cid} after {timeout_s}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.005)

    def call(
        self, kind: str, timeout_s: float = 10.0, tag: str | None = None, **fields: Any
    ) -> Result:
        """Send a command and wait for its final result."""
        cmd = self.command(kind, tag=tag, **fields)
        self.send(cmd)
        return self.wait(cmd.id, timeout_s)

    # ------------------------------------------------------------------ recovery
    def recover(self) -> list[Result]:
        """Settle every unfinished command of a previous run (see the module doc)."""
        settled = []
        for cid, state, raw in self.journal.unfinished():
            cmd = Command.model_validate_json(raw)
            res = self.result(cid)
            if res is not None and res.final:
                settled.append(res)
                continue
            delivered = (
                res is not None
                or (self.dir.inbox / cmd.file_name).exists()
                or (self.dir.journal / "done" / cmd.file_name).exists()
                or (self.dir.journal / "rejected" / cmd.file_name).exists()
            )
            if delivered:
                if state == "pending":
                    self.journal.set_state(cid, "sent")
                continue
            if self.clock() > cmd.expires_at():
                local = Result(
                    id=cid,
                    seq=cmd.seq,
                    status=Status.REJECTED,
                    reason=Reason.EXPIRED,
                    seen_at=self.clock(),
                    done_at=self.clock(),
                    message="never delivered before a crash; expired since",
                )
                self.journal.set_state(cid, "rejected", local.model_dump_json(exclude_none=True))
                settled.append(local)
            else:
                atomic_write_json(self.dir.inbox / cmd.file_name, cmd)
                self.journal.set_state(cid, "sent")
        return settled

    def unfinished(self) -> list[str]:
        return [cid for cid, _, _ in self.journal.unfinished()]

    # ------------------------------------------------------------------ heartbeat
    def heartbeat(self) -> None:
        """Write ``state/python-heartbeat.json`` (the executor's dead-man input)."""
        self._hb_seq += 1
        atomic_write_json(
            self.dir.state / "python-heartbeat.json",
            PythonHeartbeat(seq=self._hb_seq, time=self.clock(), pid=os.getpid()),
            fsync=False,
        )

    def close(self) -> None:
        self.journal.close()
