"""Coalesced event reads for push: when one event wakes a thousand streams waiting at
the same cursor, the database is asked once and every stream shares the answer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from mtponte.copy.server._refresher import Refresher
from mtponte.copy.server.models import Account, Event, aware
from mtponte.copy.server.notifier import Notifier
from mtponte.copy.server.service import read_after
from mtponte.copy.server.targets import commit_step


@dataclass(frozen=True)
class Batch:
    """Events after a cursor (already rendered as SSE text), or a resync."""

    cursor: int
    sse: bytes
    resync: bool


def render(events: list[Event]) -> bytes:
    """Events as SSE frames (``id`` = seq, ``event`` = kind, JSON data)."""
    return "".join(
        f"id: {e.seq}\nevent: {e.kind}\ndata: "
        + json.dumps(
            {
                "seq": e.seq,
                "kind": e.kind,
                "ticket": e.ticket,
                "payload": e.payload,
                "created_at": aware(e.created_at).isoformat(),
            }
        )
        + "\n\n"
        for e in events
    ).encode()


class EventFeed:
    """The push side: publishing routes announce commits here; streams and long polls
    read what is new through it."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        refresher: Refresher | None = None,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._refresher = refresher
        self._inflight: dict[tuple[int, int, int], asyncio.Future[Batch]] = {}
        self._primed: dict[int, tuple[int, Batch]] = {}  # master -> (cursor, its batch)

    def commit(self, session: Session, event: Event, created: bool) -> None:
        """Commit the transaction that stored ``event`` (``created``: new, not a repeat)
        and announce it. The master's target books are stepped in that same transaction
        (one commit, one fsync, before the publisher's answer), so every follower it
        wakes is answered from memory."""
        refresher = self._refresher if created else None
        stepped = refresher.step_in(session, event.master_id) if refresher else None
        commit_step(session, event.master_id)
        if not created:
            return
        if refresher is not None:
            refresher.committed(session, stepped, event.seq)
        self.published(event)

    def published(self, event: Event) -> None:
        """An event was just committed (any thread). Its rendering is kept first, so the
        followers woken at the previous seq are answered from memory, not each by a
        read; then every waiter and cache hears of it (every worker with Redis)."""
        batch = Batch(event.seq, render([event]), False)
        self._primed[event.master_id] = (event.seq - 1, batch)
        self._notifier.publish(event.master_id, event.seq)

    def snapshot_saved(self, master_id: int) -> None:
        """A snapshot was just committed: positions may differ, no new event."""
        self._notifier.touch(master_id)

    async def after(self, master_id: int, cursor: int, latest: int) -> Batch:
        """Events of ``master_id`` after ``cursor``; ``latest`` (the notifier's newest seq)
        is part of the key, so a stream woken by a new event never gets an older answer."""
        primed = self._primed.get(master_id)
        if primed is not None and primed[0] == cursor and primed[1].cursor == latest:
            return primed[1]
        key = (master_id, cursor, latest)
        fut = self._inflight.get(key)
        if fut is None:
            # The read is its own task: a follower that leaves (its stream cancelled)
            # never cancels the read the others are waiting for.
            fut = asyncio.ensure_future(run_in_threadpool(self._load, master_id, cursor))
            self._inflight[key] = fut
            loop = asyncio.get_running_loop()

            def done(f: asyncio.Future[Batch]) -> None:
                if f.cancelled() or f.exception() is not None:
                    self._forget(key, f)  # the next stream retries the read
                else:  # keep it for streams woken a moment later at the same cursor
                    loop.call_later(0.5, self._forget, key, f)

            fut.add_done_callback(done)
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            return fut.result()  # most of a fan-out: answered without a suspension
        return await asyncio.shield(fut)

    def _forget(self, key: tuple[int, int, int], fut: asyncio.Future[Batch]) -> None:
        if self._inflight.get(key) is fut:
            del self._inflight[key]

    def _load(self, master_id: int, cursor: int) -> Batch:
        with self._sessions() as s:
            master = s.get(Account, master_id)
            if master is None:
                return Batch(cursor, b"", False)
            seq, evs, snapshot = read_after(s, master, cursor)
            if snapshot is not None:
                text = f"id: {seq}\nevent: resync\ndata: {json.dumps(snapshot)}\n\n"
                return Batch(seq, text.encode(), True)
            return Batch(seq, render(evs), False)
