"""Wake long-polling followers when a master publishes (in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Notifier:
    """Per-master "latest seq" with async waiters; ``publish`` is thread-safe."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._waiters: dict[int, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    def latest(self, master_id: int) -> int:
        """Highest seq this process has been told about for ``master_id``."""
        with self._lock:
            return self._latest.get(master_id, 0)

    def publish(self, master_id: int, seq: int) -> None:
        with self._lock:
            self._latest[master_id] = max(seq, self._latest.get(master_id, 0))
            waiters = self._waiters.pop(master_id, [])
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    async def wait(self, master_id: int, after: int, timeout: float) -> bool:
        """Wait until ``master_id`` publishes beyond ``after``: ``True``, or ``False``
        after ``timeout`` seconds."""
        ev = asyncio.Event()
        with self._lock:
            if self._latest.get(master_id, 0) > after:
                return True
            self._waiters.setdefault(master_id, []).append((asyncio.get_running_loop(), ev))
        try:
            await asyncio.wait_for(ev.wait(), timeout)
            return True
        except TimeoutError:
            with self._lock:
                lst = self._waiters.get(master_id, [])
                self._waiters[master_id] = [w for w in lst if w[1] is not ev]
            return False


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

    def publish(self, master_id: int, seq: int) -> None:
        super().publish(master_id, seq)  # local waiters at once
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
                    Notifier.publish(self, int(m), int(s))
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
