"""A small thread-safe TTL cache (per app instance, never module-global)."""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, ttl_s: float, max_items: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._data: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] < time.monotonic():
                self._data.pop(key, None)
                return None
            return item[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._data) >= self.max_items:
                self._data.clear()  # crude but bounded; entries are cheap to rebuild
            self._data[key] = (time.monotonic() + self.ttl_s, value)
