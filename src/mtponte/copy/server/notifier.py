"""Wake long-polling followers when a master publishes (in-process)."""

from __future__ import annotations

import asyncio
import threading


class Notifier:
    """Per-master "latest seq" with async waiters; ``publish`` is thread-safe."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._waiters: dict[int, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    def publish(self, master_id: int, seq: int) -> None:
        with self._lock:
            self._latest[master_id] = max(seq, self._latest.get(master_id, 0))
            waiters = self._waiters.pop(master_id, [])
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    async def wait(self, master_id: int, after: int, timeout: float) -> None:
        """Return when ``master_id`` has an event beyond ``after`` or after ``timeout``."""
        ev = asyncio.Event()
        with self._lock:
            if self._latest.get(master_id, 0) > after:
                return
            self._waiters.setdefault(master_id, []).append((asyncio.get_running_loop(), ev))
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except TimeoutError:
            with self._lock:
                lst = self._waiters.get(master_id, [])
                self._waiters[master_id] = [w for w in lst if w[1] is not ev]
