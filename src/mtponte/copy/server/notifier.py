"""Wake long-polling followers when a master publishes (in-process), and tell caches
that a master's positions changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable

_log = logging.getLogger("mtponte.copy")


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

    def wake_all(self) -> None:
        """Wake every waiter (thread-safe): they re-read and re-check what they need to,
        e.g. whether their token was revoked."""
        with self._lock:
            waiters = [f for fs in self._waiters.values() for f in fs]
            self._waiters.clear()
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
    woken at once by an event posted to worker A.

    Redis is a speed-up, never a dependency of a post: messages go out from a
    background thread (a post never waits on Redis, and a stalled Redis never blocks the
    event loop), failures are logged, and the listener reconnects with backoff. After
    any gap it resets (every cache emptied, every waiter woken to re-read the database),
    since messages may have been missed.
    """

    CHANNEL = "mtponte:copy:events"
    TIMEOUT_S = 2.0

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self._url = url
        self._sync = redis.Redis.from_url(
            url, socket_timeout=self.TIMEOUT_S, socket_connect_timeout=self.TIMEOUT_S
        )
        self._out: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._reset_listeners: list[Callable[[], None]] = []
        self.connected = False

    def add_reset_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` after a gap in the Redis feed (caches must forget everything)."""
        self._reset_listeners.append(fn)

    def _deliver(self, master_id: int, seq: int) -> None:
        super()._deliver(master_id, seq)  # local waiters at once
        self._out.put(f"{master_id}:{seq}")

    def _send_loop(self) -> None:
        failing = False
        while (msg := self._out.get()) is not None:
            try:
                self._sync.publish(self.CHANNEL, msg)
                if failing:
                    _log.info("Redis publish works again")
                failing = False
            except Exception as exc:  # redis.RedisError, OSError: log once per outage
                if not failing:
                    _log.warning(
                        "Redis publish failed (%s): other workers see new events only "
                        "when they re-check the database",
                        exc,
                    )
                failing = True

    def _reset(self) -> None:
        for fn in self._reset_listeners:
            fn()
        self.wake_all()

    async def start(self) -> None:
        self._sender = threading.Thread(target=self._send_loop, name="redis-publish", daemon=True)
        self._sender.start()
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(subscribed))
        # Start serving even if Redis is down: the listener keeps trying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), self.TIMEOUT_S)

    async def _listen(self, subscribed: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        delay, first = 0.5, True
        while True:
            client = aioredis.Redis.from_url(self._url, socket_connect_timeout=self.TIMEOUT_S)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.CHANNEL)
                self.connected, delay = True, 0.5
                if not first:
                    _log.info("Redis listener reconnected")
                    self._reset()
                first = False
                subscribed.set()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    m, _, sq = msg["data"].decode().partition(":")
                    Notifier._deliver(self, int(m), int(sq))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected or first:
                    _log.warning("Redis listener lost (%s); retrying", exc)
                self.connected, first = False, False
                self._reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sender is not None:
            self._out.put(None)
            await asyncio.to_thread(self._sender.join, 5)
        self._sync.close()
