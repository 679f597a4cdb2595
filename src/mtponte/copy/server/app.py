"""``create_app(settings)``: the copy server as an ASGI app (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.middleware.sessions import SessionMiddleware

from mtponte.copy.server import signals
from mtponte.copy.server._books import Book
from mtponte.copy.server._edge import Edge, EdgeMiddleware, mask_tokens
from mtponte.copy.server._grants import Grant, GrantKey
from mtponte.copy.server._refresher import Refresher
from mtponte.copy.server.db import make_engine, session_factory, upgrade
from mtponte.copy.server.feed import EventFeed
from mtponte.copy.server.notifier import Notifier, RedisNotifier
from mtponte.copy.server.routers import compat, dashboard, followers, masters, target_stream
from mtponte.copy.server.service import auth_epoch
from mtponte.copy.server.settings import ServerSettings


class RedactTokens(logging.Filter):
    """Access logs must never show a path token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(mask_tokens(a) if isinstance(a, str) else a for a in record.args)
        record.msg = mask_tokens(str(record.msg))
        return True


GC_THRESHOLD = (50_000, 20, 100)  # the server process's collector thresholds (freeze_gc)


def create_app(settings: ServerSettings | None = None, *, freeze_gc: bool = False) -> FastAPI:
    """Build the app; the database is opened (and migrated) when it starts.

    ``freeze_gc``: once started, move every object alive to the collector's permanent
    generation (``gc.freeze``) and collect less often (:data:`GC_THRESHOLD`). For a
    process that serves only this app (``mtponte copy serve``): a full collection
    otherwise walks the whole heap of imported libraries and stalls every follower's
    push by ~100 ms. Not for an app built inside a test run, where the frozen objects of
    earlier tests would never be freed.
    """
    cfg = settings or ServerSettings()
    edge = Edge(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(cfg.database_url)
        if cfg.create_schema:
            upgrade(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        notifier: Notifier
        if cfg.redis_url:
            notifier = RedisNotifier(cfg.redis_url)
            notifier.add_reset_listener(edge.books.clear)
            await notifier.start()
        else:
            notifier = Notifier()
        notifier.add_listener(edge.books.invalidate)
        app.state.refresher = Refresher(app.state.sessions, cfg.master_stale_s)
        app.state.feed = EventFeed(app.state.sessions, notifier, app.state.refresher)

        def read_book(master_id: int) -> Book | None:
            with app.state.sessions() as session:
                return signals.load_book(session, edge.books, master_id, cfg.master_stale_s)

        def read_grants() -> tuple[int, dict[GrantKey, Grant]]:
            with app.state.sessions() as session:
                return signals.all_grants(session)

        def read_epoch() -> int:
            with app.state.sessions() as session:
                return auth_epoch(session)

        edge.books.loader = read_book
        edge.grants.loader, edge.grants.epoch_reader = read_grants, read_epoch
        edge.grants.load_now()
        # Revocations: re-read the table and wake every waiting follower to re-check.
        watcher = asyncio.create_task(edge.grants.watch(notifier.wake_all))
        app.state.notifier = notifier
        app.state.settings = cfg
        access = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, RedactTokens) for f in access.filters):
            access.addFilter(RedactTokens())
        if freeze_gc:
            gc.collect()
            gc.freeze()
            # A master event allocates tens of thousands of objects per batch step; at
            # the default threshold (700) the young collections promote them and full
            # collections of the books' heap follow, mid-push (bench_follow at 1,000
            # followers: p99 427 → 169 ms; at 100: 38–42 → 31–34 ms).
            gc.set_threshold(*GC_THRESHOLD)
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if isinstance(notifier, RedisNotifier):
            await notifier.stop()
        engine.dispose()

    app = FastAPI(
        title="mtponte copy server",
        version="1",
        lifespan=lifespan,
        description="Sequenced master events, scoped tokens, Sentra-compatible routes.",
    )

    app.add_middleware(
        SessionMiddleware,
        secret_key=cfg.secret_key or secrets.token_urlsafe(32),
        session_cookie="mtponte_session",
        same_site="strict",
        https_only=cfg.https_only_cookies,
        max_age=cfg.session_max_age_s,
    )
    app.add_middleware(EdgeMiddleware, edge=edge)  # outermost: before sessions and routing
    app.state.edge = edge

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the input, which may hold NaN or Infinity (not JSON:
        # the answer itself would fail with a 500) or a secret. Say where and what only.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        # e.g. PostgreSQL refusing a NUL character in text: the client's input, not us.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return JSONResponse({"detail": f"a value cannot be stored: {reason}"}, status_code=400)

    app.include_router(dashboard.router)
    app.include_router(masters.router)
    app.include_router(followers.router)
    app.include_router(target_stream.router)
    app.include_router(compat.router)
    return app


def serve_app() -> FastAPI:
    """The app of a server process (``mtponte copy serve``, uvicorn's factory): settings
    from the environment, the collector frozen after start-up (see :func:`create_app`)."""
    return create_app(freeze_gc=True)
