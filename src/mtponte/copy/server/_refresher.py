"""Per worker: the answers of target books that waiting followers are served from."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mtponte.copy.server.schemas import TargetsPublic
from mtponte.copy.server.targets import Stepped, refresh_master, remember, step_master

_log = logging.getLogger("mtponte.copy")


class Refresher:
    """Per worker: one batch refresh of a master's books at a time, shared by every
    follower waiting on that master, and the answers it rendered (by subscription).

    A follower woken by a master event at seq ``n`` waits for a refresh that started
    after ``n`` was published (one that started before may not have seen it), or for
    the books stepped in the very transaction that stored ``n`` (:meth:`step_in`).
    """

    def __init__(self, sessions: Callable[[], Session], stale_s: int) -> None:
        self.sessions = sessions
        self.stale_s = stale_s
        self.answers: dict[int, TargetsPublic] = {}
        self._inflight: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self._done: dict[int, int] = {}  # master -> every event up to this seq is in answers
        self._lock = threading.Lock()

    def put(self, sub_id: int, answer: TargetsPublic) -> None:
        self._keep({sub_id: answer})

    def _keep(self, answers: dict[int, TargetsPublic]) -> None:
        # Never back: a batch that started earlier may finish after a newer one.
        with self._lock:
            for sid, a in answers.items():
                held = self.answers.get(sid)
                if held is None or a.version >= held.version:
                    self.answers[sid] = a

    def step_in(self, session: Session, master_id: int) -> Stepped | None:
        """Step the master's books inside the transaction that is storing its event (a
        savepoint; no commit), so the event's push needs no second transaction and no
        second fsync. A failure here is logged and rolled back to the savepoint: the
        event is stored all the same and the books are stepped when next read."""
        try:
            with session.begin_nested():
                return step_master(session, master_id, self.stale_s)
        except Exception:
            _log.exception("stepping the target books of master %s with its event", master_id)
            return None

    def committed(self, session: Session, stepped: Stepped | None, seq: int) -> None:
        """The transaction of :meth:`step_in` committed with the master's event ``seq``:
        its answers are served to the followers it wakes (call before announcing it)."""
        if stepped is None:
            return
        remember(session, stepped.written)
        self._keep(stepped.answers())
        with self._lock:
            if seq > self._done.get(stepped.master_id, 0):
                self._done[stepped.master_id] = seq

    async def refresh(self, master_id: int, seq: int) -> None:
        """Make sure the books of ``master_id`` reflect every event up to ``seq``."""
        while True:
            if self._done.get(master_id, 0) >= seq:
                return
            current = self._inflight.get(master_id)
            if current is None:
                break
            started_at, fut = current
            await asyncio.shield(fut)
            if started_at >= seq:
                return
        fut = asyncio.get_running_loop().create_future()
        self._inflight[master_id] = (seq, fut)
        try:
            out = await run_in_threadpool(self._refresh, master_id)
            self._keep(out)
            fut.set_result(None)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters that join later re-raise it themselves
            raise
        finally:
            del self._inflight[master_id]

    def _refresh(self, master_id: int) -> dict[int, TargetsPublic]:
        with self.sessions() as session:
            return refresh_master(session, master_id, self.stale_s)
