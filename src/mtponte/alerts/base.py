"""The notifier port and the retry policy its HTTP adapters share."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from mtponte.alerts.events import Alert


class Notifier(ABC):
    """Somewhere alerts go (a chat, a webhook, a mailbox, the log).

    :meth:`send` is called from the alert manager's background thread, never from the
    trading loop, so it may block (retries, rate limits); it raises
    :class:`~mtponte.errors.AlertError` when it gives up.
    """

    name: str = "notifier"

    @abstractmethod
    def send(self, alert: Alert, text: str) -> None:
        """Deliver one alert.

        Parameters
        ----------
        alert
            The event.
        text
            Its rendered text in the configured language.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (default: nothing to release)."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff.

    Attributes
    ----------
    attempts
        Tries in all (the first one included).
    base_s
        Wait after the first failure; doubles each time.
    cap_s
        Longest wait (also caps a server's ``retry_after``).
    """

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, failure: int) -> float:
        """Seconds to wait after the ``failure``-th failed try (1-based)."""
        return float(min(self.cap_s, self.base_s * 2 ** (failure - 1)))


class RateLimiter:
    """At most one send every ``min_interval_s`` (blocks the caller's thread).

    Parameters
    ----------
    min_interval_s
        Shortest gap between two sends (0: no limit).
    clock, sleep
        Injected for tests.
    """

    def __init__(
        self,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_interval_s = min_interval_s
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until the next send is allowed, and count it as sent."""
        now = self._clock()
        if self._last is not None:
            gap = self._last + self.min_interval_s - now
            if gap > 0:
                self._sleep(gap)
                now += gap
        self._last = now
