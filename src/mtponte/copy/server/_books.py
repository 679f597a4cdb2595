"""The rendered ``slave-signals`` answer per master, kept in memory by each worker."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_log = logging.getLogger("mtponte.copy")


@dataclass(frozen=True, slots=True)
class Book:
    """A master's rendered ``slave-signals`` answer."""

    version: tuple[int, float]  # (last_seq, last_seen epoch) it was built from
    body: bytes
    stale_at: float  # wall clock: the master counts as offline from then on
    fresh_until: float  # monotonic: re-check the database after this
    offline: bool = False  # the master is stale: body is its success:false answer


Loader = Callable[[int], "Book | None"]


class BookCache:
    """Rendered answers per master (an offline master's ``success:false`` included).

    ``fetch`` answers from memory: a fresh answer at once; one due for its periodic
    re-check is still served while a single background load re-reads the database
    (stale-while-revalidate); with none usable (a publish just emptied it, or the master
    passed its stale time) every poll waits for one shared load. ``invalidate`` and
    ``clear`` bump a generation, so a load that read the database before them is never
    stored.
    """

    def __init__(self, revalidate_s: float) -> None:
        self.revalidate_s = revalidate_s
        self.loader: Loader | None = None  # reads the database; set when the app starts
        self._books: dict[int, Book] = {}
        self._epoch = 0  # bumped by clear(): every master's generation moves
        self._gen: dict[int, int] = {}
        self._lock = threading.Lock()
        self._inflight: dict[int, asyncio.Future[Book | None]] = {}

    def generation(self, master_id: int) -> tuple[int, int]:
        with self._lock:
            return self._epoch, self._gen.get(master_id, 0)

    def get(self, master_id: int) -> Book | None:
        """The answer if it is still fresh and the master not stale (lock-free read)."""
        book = self._books.get(master_id)
        if book is None or time.monotonic() >= book.fresh_until or time.time() >= book.stale_at:
            return None
        return book

    def peek(self, master_id: int) -> Book | None:
        """The stored answer even when due for a re-check (its body may be reused)."""
        return self._books.get(master_id)

    def put(
        self,
        master_id: int,
        gen: tuple[int, int],
        version: tuple[int, float],
        body: bytes,
        stale_s: float,
        offline: bool = False,
    ) -> Book:
        """Store an answer read at generation ``gen`` (dropped if a publish came since).
        An online answer expires when the master turns stale; an offline one stands
        until the master publishes or the periodic re-check finds it back."""
        stale_at = math.inf if offline else version[1] + stale_s
        book = Book(version, body, stale_at, time.monotonic() + self.revalidate_s, offline)
        with self._lock:
            if (self._epoch, self._gen.get(master_id, 0)) == gen:
                self._books[master_id] = book
        return book

    def invalidate(self, master_id: int) -> None:
        with self._lock:
            self._gen[master_id] = self._gen.get(master_id, 0) + 1
            self._books.pop(master_id, None)
            self._inflight.pop(master_id, None)  # the next poll starts a fresh read

    def clear(self) -> None:
        """Forget every answer (after a gap in the cross-worker feed)."""
        with self._lock:
            self._epoch += 1
            self._books.clear()
            self._inflight.clear()

    async def fetch(self, master_id: int) -> Book | None:
        """The answer to serve now, or ``None`` (the route then answers)."""
        book = self._books.get(master_id)
        if book is not None and time.time() < book.stale_at:
            if time.monotonic() >= book.fresh_until:
                self._load(master_id)  # re-check in the background, serve this meanwhile
            return book
        if self.loader is None:
            return None
        return await asyncio.shield(self._load(master_id))

    def _load(self, master_id: int) -> asyncio.Future[Book | None]:
        fut = self._inflight.get(master_id)
        if fut is None:
            fut = asyncio.ensure_future(asyncio.to_thread(self._read, master_id))
            self._inflight[master_id] = fut

            def done(f: asyncio.Future[Book | None]) -> None:
                with self._lock:  # invalidate() may pop it from a worker thread
                    if self._inflight.get(master_id) is f:
                        del self._inflight[master_id]

            fut.add_done_callback(done)
        return fut

    def _read(self, master_id: int) -> Book | None:
        assert self.loader is not None
        try:
            book = self.loader(master_id)
        except Exception:  # the route will answer (and report) instead
            _log.exception("reading master %d for slave-signals failed", master_id)
            book = None
        if book is None:  # gone, or the read failed: polls go to the route
            with self._lock:
                self._books.pop(master_id, None)
        return book
