"""The server's edge: what every request passes before FastAPI routes it.

- **Size limit**: ``Content-Length`` above the limit is refused at once; a chunked body
  is counted while it is read and refused when it crosses the limit.
- **Rate limits**: a token bucket per API token (path token of the compat routes or
  ``Authorization: Bearer``), and per client address for dashboard log-ins. Buckets
  live in the worker process: with W workers a token may get up to W times the rate
  (a shared Redis counter would cost a round trip on every poll).
- **Access log** (logger ``mtponte.access``): one line per request with the path
  token masked; successful ``slave-signals`` polls are counted and summed up once a
  minute instead (200 slaves polling every second would be 200 lines a second).
- **Hot path** of the Sentra ``GET .../slave-signals`` (every slave polls it every
  second): when the token's authorization and the master's rendered answer are both
  cached, the answer is sent from here without the routing and dependency stack. The
  route fills both caches; the notifier empties a master's entry the moment it
  publishes (on every worker when Redis is configured), and entries are re-checked
  against the database at least every ``book_revalidate_s``.

Written as plain ASGI on purpose: Starlette's ``BaseHTTPMiddleware`` costs more per
request than the whole cached answer.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mtponte.copy.server._books import BookCache
from mtponte.copy.server._grants import Grants, signals_key
from mtponte.copy.server.legacy import SlaveAnswers
from mtponte.copy.server.security import token_hash
from mtponte.copy.server.settings import ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("mtponte.access")
COMPAT_PREFIX = "/api/mt/copy/t/"
SIGNALS_SUFFIX = "/slave-signals"
LOGIN_PATH = "/login"


class TokenBuckets:
    """Token buckets: ``rate`` per second sustained, ``burst`` at once, per key."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._b: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        tokens, at = self._b.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._b[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._b) >= self.max_keys and key not in self._b:
            self._forget_idle(now)
        self._b[key] = (tokens - 1.0, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        full = self.burst / self.rate
        self._b = {k: v for k, v in self._b.items() if now - v[1] < full}
        if len(self._b) >= self.max_keys:  # under a flood of distinct keys: start over
            self._b.clear()


class Edge:
    """State shared by the edge middleware and the routes (one per app)."""

    def __init__(self, cfg: ServerSettings) -> None:
        self.cfg = cfg
        self.grants = Grants(cfg.auth_cache_s, cfg.revocation_check_s)
        self.books = BookCache(cfg.book_revalidate_s)
        self.slaves = SlaveAnswers()
        self.token_limit = (
            TokenBuckets(cfg.rate_limit_per_s, cfg.rate_limit_burst)
            if cfg.rate_limit_per_s > 0
            else None
        )
        self.login_limit = (
            TokenBuckets(cfg.login_rate_per_min / 60.0, cfg.login_rate_per_min)
            if cfg.login_rate_per_min > 0
            else None
        )
        self.license_limit = (
            TokenBuckets(cfg.license_rate_per_min / 60.0, cfg.license_rate_per_min)
            if cfg.license_rate_per_min > 0
            else None
        )
        self.streams = StreamSlots(cfg.max_streams_per_token)


class StreamSlots:
    """Long-lived responses (SSE streams, waiting long polls) open per token in this
    worker, capped so one token cannot hold every file descriptor of the server."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, digest: str) -> Slot | None:
        """A slot, or ``None`` when the token already holds ``cap`` of them."""
        with self._lock:
            n = self._open.get(digest, 0)
            if n >= self.cap:
                return None
            self._open[digest] = n + 1
        return Slot(self, digest)

    def count(self, digest: str) -> int:
        return self._open.get(digest, 0)

    def _release(self, digest: str) -> None:
        with self._lock:
            n = self._open.get(digest, 0) - 1
            if n > 0:
                self._open[digest] = n
            else:
                self._open.pop(digest, None)


class Slot:
    """One held stream slot; released once, by :meth:`release` or, for a response that
    never started (its client left first), when it is garbage-collected."""

    def __init__(self, owner: StreamSlots, digest: str) -> None:
        self._owner: StreamSlots | None = owner
        self._digest = digest

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._release(self._digest)

    def __del__(self) -> None:
        self.release()


async def _send_json(send: Send, status: int, body: bytes, extra: list[Any] | None = None) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


def _error(detail: str) -> bytes:
    return json.dumps({"detail": detail}, separators=(",", ":")).encode()


def _path_token(path: str) -> str | None:
    if path.startswith(COMPAT_PREFIX):
        token, _, _ = path[len(COMPAT_PREFIX) :].partition("/")
        return token or None
    return None


def _bearer(scope: Scope) -> str | None:
    for k, v in scope["headers"]:
        if k == b"authorization":
            scheme, _, cred = v.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return cred.strip() or None
    return None


class PollCounter:
    """Counts successful ``slave-signals`` polls; logs the sum once a ``period_s``."""

    def __init__(self, period_s: float = 60.0) -> None:
        self.period_s = period_s
        self.n = 0
        self.since = time.monotonic()

    def add(self) -> None:
        self.n += 1
        now = time.monotonic()
        if now - self.since >= self.period_s:
            span = now - self.since
            log.info("slave-signals: %d polls in %.0f s (%.1f/s)", self.n, span, self.n / span)
            self.n, self.since = 0, now


_TOKEN_IN_PATH = re.compile(r"/t/[^/\s?]+", re.IGNORECASE)
# Our tokens (``mtp_`` + 43 URL-safe characters) anywhere, whatever the case of the
# prefix, and any run long enough to be a secret pasted without its prefix.
_SECRET_LIKE = re.compile(r"mtp_[A-Za-z0-9_\-]*|[A-Za-z0-9_\-]{32,}", re.IGNORECASE)


def mask_tokens(path: str) -> str:
    """The path with anything that may be a token masked, wherever it sits: after
    ``/t/`` in any case, after ``//``, in another segment or without ``/t/`` at all."""
    return _SECRET_LIKE.sub("***", _TOKEN_IN_PATH.sub("/t/***", path))


_SLASHES = re.compile(r"/{2,}")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")
LICENSE_PATH = "/api/ea-license/validate"


class EdgeMiddleware:
    """Size limit, rate limits, access log and the cached ``slave-signals`` answer (see
    the module)."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge
        self.polls = PollCounter()
        self.headers = SECURITY_HEADERS + ([HSTS] if edge.cfg.https_only_cookies else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 0

        headers = self.headers

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        if "//" in scope["path"]:
            # An EA base URL with a trailing slash gives ``/t//<token>/``: same route.
            path = _SLASHES.sub("/", scope["path"])
            scope = dict(scope, path=path, raw_path=path.encode())

        try:
            await self._handle(scope, receive, send_logged)
        finally:
            if status == 200 and scope["path"].endswith(SIGNALS_SUFFIX):
                self.polls.add()
            elif log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                log.info(
                    '%s - "%s %s" %d %.1f ms',
                    client[0] if client else "-",
                    scope["method"],
                    mask_tokens(scope["path"]),
                    status or 500,
                    (time.perf_counter() - t0) * 1000,
                )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        edge, path = self.edge, scope["path"]
        qs = scope["query_string"]
        if "\x00" in path or b"%00" in qs or b"\x00" in qs:
            await _send_json(send, 400, _error("NUL characters are not allowed in the URL"))
            return
        path_token = _path_token(path)
        token = path_token or _bearer(scope)
        digest = token_hash(token) if token is not None else ""  # once per request
        if token is not None and edge.token_limit is not None:
            wait = edge.token_limit.take(digest)
            if wait:
                await self._too_many(send, wait, f"{edge.cfg.rate_limit_per_s:g}/s per token")
                return
        by_address = None
        if path == LOGIN_PATH and scope["method"] == "POST":
            by_address = edge.login_limit, f"{edge.cfg.login_rate_per_min} log-in attempts/min"
        elif path == LICENSE_PATH:
            by_address = edge.license_limit, f"{edge.cfg.license_rate_per_min} look-ups/min"
        if by_address is not None and by_address[0] is not None:
            client = scope.get("client")
            wait = by_address[0].take(client[0] if client else "?")
            if wait:
                await self._too_many(send, wait, f"{by_address[1]} per address")
                return
        if (
            path_token is not None
            and scope["method"] == "GET"
            and path == COMPAT_PREFIX + path_token + SIGNALS_SUFFIX
        ):
            grant = edge.grants.get(signals_key(digest, qs))
            book = await edge.books.fetch(grant.master_id) if grant is not None else None
            if book is not None and grant is not None:
                # An offline master's answer as is; else this slave's own answer, when
                # it was computed from this very master answer (see legacy.py).
                body = book.body if book.offline else edge.slaves.get(grant.sub_id, book.body)
                if body is not None:
                    await _send_json(send, 200, body)
                    return
        try:
            bounded = await self._bounded(scope, receive)
        except _ClientGone:
            return
        if bounded is None:
            limit = edge.cfg.max_body_bytes
            await _send_json(send, 413, _error(f"body larger than {limit} bytes"))
            return
        await self.app(scope, bounded, send)

    async def _too_many(self, send: Send, wait: float, what: str) -> None:
        retry = max(1, math.ceil(wait))
        await _send_json(
            send,
            429,
            _error(f"rate limit exceeded ({what}); retry in {retry} s"),
            [(b"retry-after", str(retry).encode())],
        )

    async def _bounded(self, scope: Scope, receive: Receive) -> Receive | None:
        """``receive`` for the app, or ``None`` when the body is over the limit."""
        limit = self.edge.cfg.max_body_bytes
        length = None
        for k, v in scope["headers"]:
            if k == b"content-length":
                length = v
                break
        if length is not None:
            return receive if length.isdigit() and int(length) <= limit else None
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        # Chunked (no Content-Length): read it here, counting, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                # The client left mid-body: nothing to run (a cut-off form must not be
                # taken as a whole one).
                raise _ClientGone
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not msg.get("more_body", False):
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return replay


class _ClientGone(Exception):
    """The client disconnected while its chunked body was being read."""
