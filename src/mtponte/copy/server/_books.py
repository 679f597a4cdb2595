"""The rendered ``slave-signals`` answer per master, kept in memory by each worker."""

from __future__ import annotations

import asyncio
import logging
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


Loader = Callable[[int], "Book | None"]


class BookCache:
    """Rendered answers per master.

    ``fetch`` answers from memory: a fresh answer at once; one due for its periodic
    re-check is still served while a single background load re-reads the database
    (stale-while-revalidate); with none usable (a publish just emptied it, or the master
    passed its stale time) every poll waits for one shared load. ``invalidate`` bumps a
    generation, so a load that read the database before it is never stored.
    """

    def __init__(self, revalidate_s: float) -> None:
        self.revalidate_s = revalidate_s
        self.loader: Loader | None = None  # reads the database; set when the app starts
        self._books: dict[int, Book] = {}
        self._gen: dict[int, int] = {}
        self._lock = threading.Lock()
        self._inflight: dict[int, asyncio.Future[Book | None]] = {}

    def generation(self, master_id: int) -> int:
        with self._lock:
            return self._gen.get(master_id, 0)

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
        self, master_id: int, gen: int, version: tuple[int, float], body: bytes, stale_s: float
    ) -> Book:
        """Store an answer read at generation ``gen`` (dropped if a publish came since)."""
        book = Book(version, body, version[1] + stale_s, time.monotonic() + self.revalidate_s)
        with self._lock:
            if self._gen.get(master_id, 0) == gen:
                self._books[master_id] = book
        return book

    def invalidate(self, master_id: int) -> None:
        with self._lock:
            self._gen[master_id] = self._gen.get(master_id, 0) + 1
            self._books.pop(master_id, None)
            self._inflight.pop(master_id, None)  # the next poll starts a fresh read

    async def fetch(self, master_id: int) -> Book | None:
        """The answer to serve now, or ``None`` (the route then answers, e.g. offline)."""
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
        if book is None:  # offline or gone: polls go to the route, which says so
            with self._lock:
                self._books.pop(master_id, None)
        return book
