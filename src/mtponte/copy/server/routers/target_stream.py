"""The push stream of a follower's target changes (scope ``follow``)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from mtponte.copy.engine.changes import diff_targets
from mtponte.copy.server._refresher import Refresher
from mtponte.copy.server.deps import (
    MAX_INT,
    IdPath,
    NotifierDep,
    SettingsDep,
    ShortPrincipalDep,
)
from mtponte.copy.server.routers.followers import _event_id, _read_book, _slot
from mtponte.copy.server.schemas import TargetsPublic

router = APIRouter(prefix="/api/v1/followers", tags=["followers"])

KEEPALIVE_S = 5.0  # also how soon a follower notices a dead stream
RECHECK_S = 5.0  # settings, facts and the token re-read from the database this often


def _frame(kind: str, version: int, data: dict[str, object]) -> bytes:
    return f"id: {version}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def book_frame(out: TargetsPublic) -> bytes:
    """The full book (``event: book``): the follower replaces what it holds."""
    return _frame("book", out.version, out.model_dump())


def changes_frame(sent: TargetsPublic, out: TargetsPublic) -> bytes:
    """What changed from ``sent`` to ``out`` (``event: changes``), with ``from`` = the
    version it applies to: a follower holding another version has missed some."""
    data = out.model_dump()
    data["from"] = sent.version
    data["changes"] = diff_targets(sent.model_dump()["targets"], data.pop("targets"))
    return _frame("changes", out.version, data)


@router.get(
    "/{follower_id}/masters/{master_id}/targets/stream",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def target_stream(
    follower_id: IdPath,
    master_id: IdPath,
    request: Request,
    principal: ShortPrincipalDep,
    settings: SettingsDep,
    notifier: NotifierDep,
    version: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events of the follower's target book, sequenced by its version
    (``id``). First, unless the client already holds the current version (``version``
    or ``Last-Event-ID``), ``event: book`` with the full book; then one ``event:
    changes`` per new version: ``{"from", "version", "changes": [{"op": "open" |
    "modify", "target"} | {"op": "close", "target_id"}], ...}``. A follower whose
    version is not ``from`` missed changes and reads the full book (``GET .../targets``).
    Keep-alive comments every 5 s; the stream ends when the token is revoked or expires
    or the subscription ends. Counts against ``max_streams_per_token``."""
    held = _event_id(last_event_id, -1) if version is None else version
    refresher: Refresher = request.app.state.refresher
    grants = request.app.state.edge.grants
    stale_s = settings.master_stale_s

    def load(recheck: bool = False) -> tuple[int, TargetsPublic, float]:
        return _read_book(request, principal, follower_id, master_id, stale_s, recheck)

    # Errors (token, subscription) surface as 4xx before the stream starts.
    seq = notifier.latest(master_id)
    sub_id, out, expires = await run_in_threadpool(load)
    refresher.put(sub_id, out)
    slot = _slot(request, principal)

    async def body() -> AsyncIterator[bytes]:
        nonlocal seq
        try:
            yield b"retry: 2000\n\n"
            sent = out
            if sent.version != held:
                yield book_frame(sent)
            epoch = grants.epoch
            recheck_at = time.monotonic() + RECHECK_S * (0.5 + random.random())
            while True:
                left = expires - time.time()
                if left <= 0:
                    return  # the token expired: the client comes back with a new one
                woke = await notifier.wait(master_id, seq, min(KEEPALIVE_S, left))
                now = sent
                # A master event is answered by the shared batch refresh first; the
                # periodic re-read (token, settings, facts) only when nothing came, and
                # at a jittered pace, so a thousand streams opened together do not all
                # read the database in the same instant an event arrives.
                if grants.epoch == epoch and woke and notifier.latest(master_id) > seq:
                    seq = notifier.latest(master_id)
                    await refresher.refresh(master_id, seq)
                    now = refresher.answers.get(sub_id, sent)
                elif grants.epoch != epoch or time.monotonic() >= recheck_at:
                    try:
                        _, now, _ = await run_in_threadpool(load, True)
                    except HTTPException:
                        return  # revoked, or no longer subscribed
                    epoch = grants.epoch
                    recheck_at = time.monotonic() + RECHECK_S * (0.5 + random.random())
                if now.version > sent.version:
                    yield changes_frame(sent, now)
                    sent = now
                elif now.version < sent.version:
                    yield book_frame(now)  # cannot happen short of a restored database
                    sent = now
                elif not woke:
                    yield b": keep-alive\n\n"
        finally:
            slot.release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
