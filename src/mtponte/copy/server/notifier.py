"""Wake long-polling followers when a master publishes (in-process), and tell caches
that a master's positions changed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable


class Notifier:
    """Per-master "latest seq" with async waiters; ``publish`` is thread-safe.

    ``publish(master, seq)`` announces a new event; ``touch(master)`` a new snapshot
    (positions may differ, no new event). Listeners hear both.
    """

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._waiters: dict[int, set[asyncio.Future[bool]]] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []

    def add_listener(self, fn: Callable[[int], None]) -> None:
        """Call ``fn(master_id)`` whenever a master publishes or is touched."""
        self._listeners.append(fn)

    def latest(self, master_id: int) -> int:
        """Highest seq this process has been told about for ``master_id``."""
        with self._lock:
            return self._latest.get(master_id, 0)

    def publish(self, master_id: int, seq: int) -> None:
        self._deliver(master_id, seq)

    def touch(self, master_id: int) -> None:
        self._deliver(master_id, 0)

    def _deliver(self, master_id: int, seq: int) -> None:
        for fn in self._listeners:
            fn(master_id)
        with self._lock:
            if seq <= self._latest.get(master_id, 0):
                return  # nothing new to wake anyone for
            self._latest[master_id] = seq
            waiters = self._waiters.pop(master_id, set())
        # One hand-over per event loop, not one per waiter: a thousand followers of one
        # master are woken in a single loop callback.
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[bool]]] = {}
        for fut in waiters:
            by_loop.setdefault(fut.get_loop(), []).append(fut)
        for loop, futs in by_loop.items():
            loop.call_soon_threadsafe(_settle, futs, True)

    async def wait(self, master_id: int, after: int, timeout: float) -> bool:
        """Wait until ``master_id`` publishes beyond ``after``: ``True``, or ``False``
        after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            if self._latest.get(master_id, 0) > after:
                return True
            self._waiters.setdefault(master_id, set()).add(fut)
        # A plain future and a timer: cheaper than wait_for(Event.wait()), which makes a
        # task per waiter.
        timer = loop.call_later(timeout, _settle, [fut], False)
        try:
            return await fut
        finally:
            timer.cancel()
            with self._lock:
                self._waiters.get(master_id, set()).discard(fut)


def _settle(futs: list[asyncio.Future[bool]], value: bool) -> None:
    for fut in futs:
        if not fut.done():
            fut.set_result(value)


class RedisNotifier(Notifier):
    """Also fans events out through Redis pub/sub, so a follower waiting on worker B is
    woken at once by an event posted to worker A."""

    CHANNEL = "mtponte:copy:events"

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self._url = url
        self._sync = redis.Redis.from_url(url)
        self._task: asyncio.Task[None] | None = None

    def _deliver(self, master_id: int, seq: int) -> None:
        super()._deliver(master_id, seq)  # local waiters at once
        self._sync.publish(self.CHANNEL, f"{master_id}:{seq}")

    async def start(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._url)
        pubsub = client.pubsub()
        await pubsub.subscribe(self.CHANNEL)
        ready = asyncio.Event()

        async def listen() -> None:
            ready.set()
            try:
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    m, _, s = msg["data"].decode().partition(":")
                    Notifier._deliver(self, int(m), int(s))
            finally:
                await pubsub.aclose()
                await client.aclose()

        self._task = asyncio.create_task(listen())
        await ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._sync.close()
