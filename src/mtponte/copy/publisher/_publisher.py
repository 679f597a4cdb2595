"""The publisher: watch a master account through a :class:`Broker`, queue its position
changes on disk, deliver them to the copy server in order, and post snapshots."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mtponte.brokers.base import Broker
from mtponte.copy.publisher._diff import Pos, diff, link_fills, select, select_orders
from mtponte.copy.publisher._outbox import Outbox, Queued
from mtponte.copy.publisher.settings import PublisherSettings
from mtponte.errors import MtponteError

log = logging.getLogger("mtponte.copy.publisher")

# Statuses that say "this request will never be accepted": the event is dead-lettered.
# 401/403/404 are not among them: they say the token or the master id is wrong, which
# an operator fixes (the events wait in the outbox meanwhile).
_BLOCKED = (401, 403, 404)
_RETRY = (408, 425, 429)  # and every 5xx


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What one :meth:`Publisher.poll_once` did.

    Attributes
    ----------
    queued
        Events added to the outbox by this poll's diff.
    delivered
        Events the server stored (or already had) during this poll.
    dead
        Events the server refused for good during this poll (see the dead letters).
    pending
        Events still in the outbox.
    snapshot
        A snapshot was posted.
    server_ok
        The last request of this poll reached the server and was answered (``None``:
        no request was made).
    broker_ok
        The broker's positions could be read.
    """

    queued: int = 0
    delivered: int = 0
    dead: int = 0
    pending: int = 0
    snapshot: bool = False
    server_ok: bool | None = None
    broker_ok: bool = True


class _Unavailable(Exception):
    """The server could not be reached or answered with a status worth retrying."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Publisher:
    """Publish a master account's positions to the copy server.

    Parameters
    ----------
    broker
        The master account (any :class:`~mtponte.brokers.base.Broker`: paper, bridge,
        mt5, or the live monitor's own broker).
    client
        HTTP client whose ``base_url`` is the copy server (a FastAPI ``TestClient``
        in tests). The publisher adds the bearer token to each request itself.
    master_id
        The master account's id on the server.
    state_dir
        Folder of the durable outbox; restart with the same folder to resume.
    settings
        Token, intervals, filters and backoff (:class:`PublisherSettings`).
    rng
        Source of the backoff jitter (injectable for tests).

    Notes
    -----
    Each poll reads the broker, diffs against the last recorded position set, records
    the events and the new set in one transaction, then posts the outbox oldest first
    and stops at the first failure (event n+1 is never posted before n is delivered).
    A snapshot of the recorded set is posted only when the outbox is empty.
    """

    def __init__(
        self,
        broker: Broker,
        client: httpx.Client,
        master_id: int,
        state_dir: Path,
        settings: PublisherSettings,
        rng: random.Random | None = None,
    ) -> None:
        self.broker = broker
        self.client = client
        self.master_id = master_id
        self.settings = settings
        self.outbox = Outbox(Path(state_dir), master_id)
        self._rng = rng or random.Random()
        self._auth = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self._base = f"/api/v1/masters/{master_id}"
        self._snapshot_due = True  # a (re)start posts a snapshot once the outbox drains
        self._last_snapshot: float | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._outage_since: float | None = None
        self._broker_down = False
        self._snapshot_refused = False

    def close(self) -> None:
        """Release the state file (everything is already durable)."""
        self.outbox.close()

    # ------------------------------------------------------------------ HTTP
    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            r = self.client.post(self._base + path, json=body, headers=self._auth)
        except httpx.HTTPError as exc:
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from None
        if r.status_code in _BLOCKED or r.status_code in _RETRY or r.status_code >= 500:
            raise _Unavailable(f"HTTP {r.status_code}", r.status_code)
        return r

    @staticmethod
    def _detail(r: httpx.Response) -> str:
        try:
            detail = r.json().get("detail", "")
        except ValueError:
            detail = r.text
        text = str(detail).replace("\n", " ")
        return text[:300]

    def _failed(self, exc: _Unavailable, now: float) -> None:
        self._failures += 1
        step = min(
            self.settings.backoff_max_s,
            self.settings.backoff_initial_s * 2 ** min(self._failures - 1, 30),
        )
        self._retry_at = now + step * (0.5 + 0.5 * self._rng.random())
        pending = self.outbox.pending_count()
        if self._outage_since is None:
            self._outage_since = now
            if exc.status in _BLOCKED:
                log.error(
                    "copy server refuses master %d (%s): check the token and master_id; "
                    "%d events wait in the outbox",
                    self.master_id,
                    exc.reason,
                    pending,
                )
            else:
                log.warning(
                    "copy server unavailable (%s); retrying with backoff, %d events queued",
                    exc.reason,
                    pending,
                )
        else:
            log.debug("copy server still unavailable (%s); %d queued", exc.reason, pending)

    def _recovered(self, now: float) -> None:
        if self._outage_since is not None:
            log.info(
                "copy server reachable again after %.1f s; %d events to deliver",
                now - self._outage_since,
                self.outbox.pending_count(),
            )
        self._outage_since = None
        self._failures = 0
        self._retry_at = 0.0

    # ----------------------------------------------------------------- steps
    def _read(self, before: dict[str, Pos]) -> dict[str, Pos] | None:
        try:
            positions = self.broker.positions()
            orders = self.broker.orders() if self.settings.pending else []
        except MtponteError as exc:
            if not self._broker_down:
                log.warning("cannot read the master account: %s", exc)
            self._broker_down = True
            return None
        if self._broker_down:
            log.info("master account readable again")
        self._broker_down = False
        out = select(positions, self.settings.magic, self.settings.symbols)
        if not self.settings.pending:
            return out
        out.update(select_orders(orders, self.settings.magic, self.settings.symbols))
        gone = any(p.pending and t not in out for t, p in before.items())
        try:
            deals = self.broker.deals() if gone else None
        except MtponteError as exc:
            # Without the deals a fill cannot be told from a cancel: read again later.
            log.warning("cannot read the master's deals: %s", exc)
            return None
        link_fills(before, out, deals)
        return out

    def _deliver(self, item: Queued, now: float) -> bool:
        """Post one queued event; ``True`` when it left the outbox (stored or dead)."""
        r = self._post("/events", item.body)
        if r.status_code in (200, 201):
            self.outbox.delivered(item.n)
            return True
        reason = self._detail(r)
        self.outbox.kill(item, r.status_code, reason, int(now * 1000))
        what = "reused for another event" if r.status_code == 409 else "refused"
        log.error(
            "event %s (%s of ticket %s) %s by the server (HTTP %d: %s); kept in the dead "
            "letters of %s",
            item.key,
            item.body.get("kind"),
            item.body.get("ticket"),
            what,
            r.status_code,
            reason,
            self.outbox.path,
        )
        return False

    def _snapshot(self, positions: dict[str, Pos]) -> None:
        body = {"positions": [positions[t].as_json() for t in sorted(positions, key=int)]}
        r = self._post("/snapshots", body)
        if r.status_code == 204:
            self._snapshot_refused = False
            return
        level = logging.DEBUG if self._snapshot_refused else logging.ERROR
        log.log(
            level, "snapshot refused by the server (HTTP %d: %s)", r.status_code, self._detail(r)
        )
        self._snapshot_refused = True

    def poll_once(self, now: float | None = None) -> PollSummary:
        """Read the broker, diff, queue, deliver, and maybe snapshot.

        Parameters
        ----------
        now
            Epoch seconds (UTC); default: the clock. Event times and the backoff and
            snapshot timers use it.

        Returns
        -------
        PollSummary
        """
        now = time.time() if now is None else now
        queued = delivered = dead = 0
        before = self.outbox.positions()
        current = self._read(before)
        if current is not None:
            d = diff(before, current)
            if not d.empty or not self.outbox.initialized():
                queued = len(self.outbox.record(d.changes, current, int(now * 1000)))
                self._snapshot_due = self._snapshot_due or not d.empty
        server_ok: bool | None = None
        snapshot = False
        if now >= self._retry_at:
            try:
                for item in self.outbox.pending():
                    server_ok = True
                    if self._deliver(item, now):
                        delivered += 1
                    else:
                        dead += 1
                if current is not None and self._snapshot_wanted(now):
                    self._snapshot(self.outbox.positions())
                    server_ok = snapshot = True
                    self._snapshot_due = False
                    self._last_snapshot = now
            except _Unavailable as exc:
                server_ok = False
                self._failed(exc, now)
            else:
                if server_ok:
                    self._recovered(now)
        return PollSummary(
            queued,
            delivered,
            dead,
            self.outbox.pending_count(),
            snapshot,
            server_ok,
            current is not None,
        )

    def _snapshot_wanted(self, now: float) -> bool:
        if self.outbox.pending_count():
            return False
        return (
            self._snapshot_due
            or self._last_snapshot is None
            or now - self._last_snapshot >= self.settings.snapshot_interval_s
        )

    def run(self, stop: threading.Event) -> None:
        """Poll every ``poll_interval_s`` until ``stop`` is set.

        Parameters
        ----------
        stop
            Set it (from a signal handler or another thread) to return after the
            current poll.
        """
        log.info(
            "publishing master %d to %s (state %s)",
            self.master_id,
            self.settings.server_url,
            self.outbox.path,
        )
        dead = len(self.outbox.dead())
        if dead:
            log.warning("%d dead-lettered events in %s (table dead)", dead, self.outbox.path)
        while not stop.is_set():
            self.poll_once()
            stop.wait(self.settings.poll_interval_s)
