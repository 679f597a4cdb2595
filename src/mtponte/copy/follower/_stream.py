"""The follower's target book over the server's push stream, with the long poll as
fallback (``GET .../targets/stream``, Server-Sent Events)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from mtponte.copy.engine.changes import apply_changes
from mtponte.copy.engine.model import Target
from mtponte.copy.follower._http import HttpLink
from mtponte.copy.follower.follower import TargetBook

_log = logging.getLogger("mtponte.copy")


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` per Server-Sent Event; comments (keep-alives) yield
    ``("", "")`` so a reader can notice it is alive."""
    kind, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield kind, "\n".join(data)
            kind, data = "message", list[str]()
        elif line.startswith(":"):
            yield "", ""
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)


def _book(d: dict[str, Any], targets: list[dict[str, Any]]) -> TargetBook:
    return TargetBook(
        version=int(d["version"]),
        targets=tuple(Target.from_json(t) for t in targets),
        master_online=bool(d.get("master_online", True)),
        master_time_ms=d.get("master_time_ms"),
        computed_at_ms=d.get("computed_at_ms"),
    )


class StreamLink:
    """A follower :class:`~mtponte.copy.follower.follower.Link` that receives its book's
    changes as the server pushes them.

    The full book is read (``GET .../targets``) at the first call and whenever the
    stream shows a gap (a ``changes`` frame whose ``from`` is not the version held:
    changes were missed); otherwise each change is applied to the book held, in order.
    While the stream is down (or the server has none: 404), :meth:`targets` long-polls
    as :class:`HttpLink` does and the stream is tried again after ``retry_s``.
    Heartbeats and reports go through ``http``.
    """

    def __init__(self, http: HttpLink, retry_s: float = 5.0, read_timeout_s: float = 20.0) -> None:
        self.http = http
        self.retry_s = retry_s
        self.read_timeout_s = read_timeout_s  # > the server's 5 s keep-alive
        self.full_reads = 0  # how often the full book was read (start and gaps)
        self.applied = 0  # change frames applied
        self._cond = threading.Condition()
        self._book: TargetBook | None = None
        self._json: list[dict[str, Any]] = []
        self._gap = False
        self._alive = False
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._closed = False

    # ------------------------------------------------------------ Link
    def heartbeat(self, facts: dict[str, Any]) -> None:
        self.http.heartbeat(facts)

    def report(self, reports: list[dict[str, Any]]) -> None:
        self.http.report(reports)

    def targets(self, version: int | None, wait_s: float) -> TargetBook | None:
        """The book, or ``None`` when it is still at ``version`` after ``wait_s``."""
        with self._cond:
            need_full = version is None or self._gap or self._book is None
        if need_full:
            return self._full()
        if wait_s <= 0:  # "now": the server's current book (304 when unchanged)
            got = self.http.targets(version, 0.0)
            if got is not None:
                self._hold(got)
            return got
        self._ensure_stream()
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                book = self._book
                if self._gap or not self._alive or (book is not None and book.version != version):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            gap, alive = self._gap, self._alive
        if gap:
            return self._full()
        if book is not None and book.version != version:
            return book
        # No stream: long-poll for what is left of the wait.
        assert not alive
        got = self.http.targets(version, max(0.0, deadline - time.monotonic()))
        if got is not None:
            self._hold(got)
        return got

    def close(self) -> None:
        """Stop the stream (it ends at its next frame or keep-alive)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ------------------------------------------------------------ internals
    def _hold(self, book: TargetBook) -> None:
        with self._cond:
            if self._book is None or book.version >= self._book.version:
                self._book = book
                self._json = [t.to_json() for t in book.targets]
            self._gap = False
            self._cond.notify_all()

    def _full(self) -> TargetBook:
        got = self.http.targets(None, 0.0)
        assert got is not None  # a read without a version always answers
        self.full_reads += 1
        self._hold(got)
        self._ensure_stream()
        with self._cond:
            assert self._book is not None
            return self._book

    def _ensure_stream(self) -> None:
        with self._cond:
            if self._closed or self._book is None:
                return
            if self._thread is not None and self._thread.is_alive():
                return
            if time.monotonic() < self._retry_at:
                return
            self._thread = threading.Thread(
                target=self._run, args=(self._book.version,), name="follower-stream", daemon=True
            )
            self._thread.start()
            # Give it a moment to connect, so the first wait already rides the stream.
            self._cond.wait_for(lambda: self._alive or self._retry_at > time.monotonic(), 2.0)

    def _run(self, version: int) -> None:
        http = self.http
        url = f"{http.base}/masters/{http.master_id}/targets/stream"
        try:
            with http.client.stream(
                "GET",
                url,
                params={"version": version},
                headers=http._headers,
                timeout=httpx.Timeout(10.0, read=self.read_timeout_s),
            ) as r:
                if r.status_code != 200:
                    _log.info("no target stream (HTTP %d): long-polling", r.status_code)
                    return
                with self._cond:
                    self._alive = True
                    self._cond.notify_all()
                for kind, data in sse_events(r.iter_lines()):
                    if self._closed:
                        return
                    if kind in ("book", "changes"):
                        self._on(kind, json.loads(data))
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            _log.info("target stream ended (%s): long-polling meanwhile", type(exc).__name__)
        finally:
            with self._cond:
                self._alive = False
                self._retry_at = time.monotonic() + self.retry_s
                self._cond.notify_all()

    def _on(self, kind: str, d: dict[str, Any]) -> None:
        with self._cond:
            held = self._book
            if kind == "book":
                targets = list(d["targets"])
            elif held is None or int(d["version"]) <= held.version:
                return  # already in the book held (read in full meanwhile)
            elif int(d["from"]) != held.version:
                self._gap = True  # changes were missed: read the full book
                self._cond.notify_all()
                return
            else:
                try:
                    targets = apply_changes(self._json, d["changes"])
                except ValueError:
                    self._gap = True
                    self._cond.notify_all()
                    return
                self.applied += 1
            book = _book(d, targets)
            if held is None or book.version > held.version or kind == "book":
                self._book, self._json = book, targets
            self._cond.notify_all()
