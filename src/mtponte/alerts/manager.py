"""Fan alerts out to the notifiers without ever blocking the caller.

:meth:`AlertManager.emit` filters and de-duplicates, then appends to one bounded queue
per notifier and returns; a daemon thread per notifier sends. A full queue drops its
oldest alert and counts it (:attr:`AlertManager.dropped`). A notifier that fails is
logged (one line, no secret) and the next alert is tried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mtponte.alerts.base import Notifier
from mtponte.alerts.config import AlertsConfig
from mtponte.alerts.events import Alert, AlertKind, Language, render
from mtponte.errors import MtponteError

log = logging.getLogger("mtponte.alerts")


@dataclass
class _Lane:
    notifier: Notifier
    queue: deque[Alert]
    size: int
    cond: threading.Condition = field(default_factory=threading.Condition)
    busy: bool = False
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    thread: threading.Thread | None = None


class AlertManager:
    """Send alerts to every enabled notifier in the background.

    Parameters
    ----------
    notifiers
        Where alerts go.
    language
        Template language.
    events
        Kinds sent (``None``: all).
    dedup_window_s
        The same alert within this long is suppressed.
    queue_size
        Bound of each notifier's queue.
    clock
        Monotonic seconds (tests).
    """

    def __init__(
        self,
        notifiers: Iterable[Notifier],
        language: Language = "pt",
        events: Iterable[AlertKind] | None = None,
        dedup_window_s: float = 300.0,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.language: Language = language
        self.events = frozenset(events) if events is not None else None
        self.dedup_window_s = dedup_window_s
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._lanes = [_Lane(n, deque(), queue_size) for n in notifiers]
        self._closed = False
        self.suppressed = 0
        self.recent: deque[tuple[float, str]] = deque(maxlen=50)  # (epoch, text)
        for lane in self._lanes:
            lane.thread = threading.Thread(
                target=self._work, args=(lane,), name=f"alerts-{lane.notifier.name}", daemon=True
            )
            lane.thread.start()

    @property
    def notifiers(self) -> list[Notifier]:
        """The enabled notifiers."""
        return [lane.notifier for lane in self._lanes]

    @property
    def dropped(self) -> int:
        """Alerts dropped because a queue was full."""
        return sum(lane.dropped for lane in self._lanes)

    @property
    def sent(self) -> int:
        """Deliveries that succeeded (one per alert and notifier)."""
        return sum(lane.sent for lane in self._lanes)

    @property
    def failed(self) -> int:
        """Deliveries a notifier gave up on."""
        return sum(lane.failed for lane in self._lanes)

    def emit(self, alert: Alert) -> bool:
        """Queue ``alert`` for every notifier; never blocks.

        Parameters
        ----------
        alert
            The event.

        Returns
        -------
        bool
            Whether it was queued (``False``: kind not enabled, duplicate, or closed).
        """
        if self._closed or (self.events is not None and alert.kind not in self.events):
            return False
        key, now = alert.dedup_key(), self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.dedup_window_s:
                self.suppressed += 1
                return False
            self._seen[key] = now
            if len(self._seen) > 10_000:  # forget what is out of the window
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.dedup_window_s}
        self.recent.append((time.time(), render(alert, self.language, icon=False)))
        for lane in self._lanes:
            with lane.cond:
                if len(lane.queue) >= lane.size:
                    lane.queue.popleft()
                    lane.dropped += 1
                lane.queue.append(alert)
                lane.cond.notify()
        return True

    def _work(self, lane: _Lane) -> None:
        while True:
            with lane.cond:
                while not lane.queue and not self._closed:
                    lane.cond.wait()
                if not lane.queue:
                    return
                alert = lane.queue.popleft()
                lane.busy = True
            try:
                lane.notifier.send(alert, render(alert, self.language))
                lane.sent += 1
            except MtponteError as exc:
                lane.failed += 1
                log.error("alert %s not sent by %s: %s", alert.kind, lane.notifier.name, exc)
            except Exception as exc:  # a notifier bug must not kill the lane
                lane.failed += 1
                log.error(
                    "alert %s not sent by %s: %s",
                    alert.kind,
                    lane.notifier.name,
                    type(exc).__name__,
                )
            finally:
                with lane.cond:
                    lane.busy = False
                    lane.cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queue is empty and no send is running.

        Returns
        -------
        bool
            Whether that happened within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        for lane in self._lanes:
            with lane.cond:
                while lane.queue or lane.busy:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    lane.cond.wait(left)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (up to ``timeout_s``), stop the threads, close notifiers."""
        self.flush(timeout_s)
        self._closed = True
        for lane in self._lanes:
            with lane.cond:
                lane.queue.clear()
                lane.cond.notify_all()
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(timeout=1.0)
            lane.notifier.close()

    def __enter__(self) -> AlertManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_notifiers(cfg: AlertsConfig, logs_dir: Path | None = None) -> list[Notifier]:
    """The notifiers ``cfg`` enables (each adapter imported only when enabled).

    Parameters
    ----------
    cfg
        The ``[alerts]`` section.
    logs_dir
        Folder a relative ``history_file`` is taken from (``None``: no history).

    Returns
    -------
    list of Notifier
    """
    out: list[Notifier] = []
    if cfg.log:
        from mtponte.alerts.channels import LogNotifier

        out.append(LogNotifier(cfg.language))
    hist = history_path(cfg, logs_dir)
    if hist is not None:
        from mtponte.alerts.channels import HistoryNotifier

        out.append(HistoryNotifier(hist, cfg.language))
    if cfg.telegram is not None:
        from mtponte.alerts.telegram import TelegramNotifier

        out.append(TelegramNotifier(cfg.telegram))
    if cfg.webhook is not None:
        from mtponte.alerts.channels import WebhookNotifier

        out.append(WebhookNotifier(cfg.webhook))
    if cfg.email is not None:
        from mtponte.alerts.channels import EmailNotifier

        out.append(EmailNotifier(cfg.email))
    return out


def history_path(cfg: AlertsConfig, logs_dir: Path | None) -> Path | None:
    """Where the alert history goes (``None``: nowhere)."""
    h = cfg.history_file
    if h is None or str(h) in ("", "."):
        return None
    if h.is_absolute():
        return h
    return None if logs_dir is None else logs_dir / h


def build_manager(
    cfg: AlertsConfig, extra: Iterable[Notifier] = (), logs_dir: Path | None = None
) -> AlertManager:
    """An :class:`AlertManager` with the notifiers ``cfg`` enables (plus ``extra``); a
    relative ``history_file`` is kept in ``logs_dir``."""
    return AlertManager(
        [*build_notifiers(cfg, logs_dir), *extra],
        language=cfg.language,
        events=cfg.events,
        dedup_window_s=cfg.dedup_window_s,
        queue_size=cfg.queue_size,
    )
