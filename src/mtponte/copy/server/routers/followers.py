"""Followers read events and settings, report heartbeats and executions (scope ``follow``)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from mtponte.copy.server._edge import Edge, Slot
from mtponte.copy.server.deps import (
    MAX_INT,
    IdPath,
    NotifierDep,
    Principal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    ShortPrincipalDep,
    get_account,
    lookup_digest,
    require,
)
from mtponte.copy.server.feed import EventFeed
from mtponte.copy.server.models import (
    Account,
    Event,
    ExecutionReport,
    FollowerHeartbeat,
    Subscription,
    utcnow,
)
from mtponte.copy.server.schemas import EventPublic, EventsPublic, HeartbeatCreate, ReportCreate
from mtponte.copy.server.service import current_book, master_online, read_after

router = APIRouter(prefix="/api/v1/followers", tags=["followers"])


def _subscription(session: Session, follower: Account, master_id: int) -> Subscription:
    sub = session.scalar(
        select(Subscription).where(
            Subscription.follower_id == follower.id,
            Subscription.master_id == master_id,
            Subscription.active,
        )
    )
    if sub is None:
        raise HTTPException(404, f"follower {follower.id} does not follow master {master_id}")
    return sub


@router.get("/{follower_id}/masters/{master_id}/events", response_model=EventsPublic)
async def get_events(
    follower_id: IdPath,
    master_id: IdPath,
    request: Request,
    principal: ShortPrincipalDep,
    settings: SettingsDep,
    notifier: NotifierDep,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    resync: Annotated[bool, Query()] = False,
) -> EventsPublic:
    """Events after ``after``; waits up to ``wait`` seconds for one (long poll). A cursor
    older than the retained events (or beyond the newest) answers ``resync`` with the
    master's current positions and the cursor they are current at; ``resync=true``
    asks for that answer (how a new follower starts: positions the master held before
    its first event exist only in its snapshots)."""

    def load(recheck: bool = False) -> EventsPublic:
        with request.app.state.sessions() as session:
            return _load(session, recheck)

    def _load(session: Session, recheck: bool) -> EventsPublic:
        follower = get_account(session, follower_id, "follower")
        # After a wait the token may have been revoked meanwhile: check it again.
        who = lookup_digest(session, principal.token_digest) if recheck else principal
        require(who, "follow", follower)
        _subscription(session, follower, master_id)
        master = get_account(session, master_id, "master")
        online = master_online(master, settings.master_stale_s)
        evs: list[Event]
        snapshot: list[Any] | None
        if resync:
            cursor, book = current_book(session, master)
            evs, snapshot = [], list(book)
        else:
            cursor, evs, snapshot = read_after(session, master, after)
        return EventsPublic(
            events=[
                EventPublic(
                    seq=e.seq,
                    kind=e.kind,
                    ticket=e.ticket,
                    payload=e.payload,
                    created_at=e.created_at,
                )
                for e in evs
            ],
            cursor=cursor,
            resync=snapshot is not None,
            snapshot=snapshot,
            master_online=online,
        )

    out = await run_in_threadpool(load)
    if out.events or out.resync or wait <= 0:
        return out
    slot = _slot(request, principal)
    try:
        left = min(wait, settings.long_poll_max_s, max(0.0, principal.expires - time.time()))
        deadline = time.monotonic() + left
        # In steps, so a client that went away gives its slot back within a second.
        while left > 0 and not await notifier.wait(master_id, after, min(1.0, left)):
            if await request.is_disconnected():
                raise HTTPException(499, "client closed the request")
            left = deadline - time.monotonic()
    finally:
        slot.release()
    return await run_in_threadpool(load, True)


def _slot(request: Request, principal: Principal) -> Slot:
    """A stream slot for this token, or 429 when it holds too many already."""
    edge: Edge = request.app.state.edge
    slot = edge.streams.acquire(principal.token_digest)
    if slot is None:
        raise HTTPException(
            429,
            f"this token already holds {edge.streams.cap} open streams or long polls; "
            "close one first",
            headers={"Retry-After": "5"},
        )
    return slot


def _event_id(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 19) or int(value) > MAX_INT:
        raise HTTPException(400, f"Last-Event-ID must be an event seq (0 to {MAX_INT})")
    return int(value)


@router.get(
    "/{follower_id}/masters/{master_id}/stream",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    follower_id: IdPath,
    master_id: IdPath,
    request: Request,
    principal: ShortPrincipalDep,
    notifier: NotifierDep,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: one ``event: <kind>`` per master event (``id`` = seq), or
    ``event: resync`` with the snapshot; resumable with ``Last-Event-ID``. Keep-alive
    comments every 15 s. No database session is held while waiting. The stream ends
    within about a second of its token being revoked, when its token expires, or
    (checked every minute) when its subscription ends. A token holds at most
    ``max_streams_per_token`` streams and long polls at once (429 beyond)."""
    cursor = _event_id(last_event_id, after)
    sessions = request.app.state.sessions
    feed: EventFeed = request.app.state.feed
    grants = request.app.state.edge.grants

    def authorize() -> float:
        """The token's expiry, after checking it still may read this stream."""
        with sessions() as s:
            follower = get_account(s, follower_id, "follower")
            who = lookup_digest(s, principal.token_digest)
            require(who, "follow", follower)
            _subscription(s, follower, master_id)
            get_account(s, master_id, "master")
            return who.expires

    # Errors surface as 4xx before the stream starts.
    expires = await run_in_threadpool(authorize)
    slot = _slot(request, principal)

    async def body() -> AsyncIterator[bytes]:
        try:
            # Tells the client how soon to reconnect, and opens the stream through proxies.
            yield b"retry: 2000\n\n"
            cur, checked, epoch = cursor, time.monotonic(), grants.epoch
            while True:
                batch = await feed.after(master_id, cur, notifier.latest(master_id))
                if batch.sse:
                    yield batch.sse
                cur = batch.cursor
                left = expires - time.time()
                if left <= 0:
                    return  # the token expired: the client must come back with a new one
                # Starlette cancels this generator when the client goes away.
                if not await notifier.wait(master_id, cur, min(15.0, left)):
                    yield b": keep-alive\n\n"
                # A revocation anywhere moves the epoch (and wakes us): re-check the token.
                if grants.epoch != epoch or time.monotonic() - checked > 60:
                    epoch = grants.epoch
                    try:
                        await run_in_threadpool(authorize)
                    except HTTPException:
                        return
                    checked = time.monotonic()
        finally:
            slot.release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{follower_id}/masters/{master_id}/settings")
def get_settings_(
    follower_id: IdPath,
    master_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Copy settings of this subscription, with an ETag (``If-None-Match`` → 304)."""
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    sub = _subscription(session, follower, master_id)
    body = json.dumps(sub.settings, sort_keys=True, separators=(",", ":"))
    etag = '"' + hashlib.sha256(f"{sub.version}:{body}".encode()).hexdigest()[:16] + '"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.post("/{follower_id}/heartbeats", status_code=204)
def post_heartbeat(
    follower_id: IdPath, body: HeartbeatCreate, session: SessionDep, principal: PrincipalDep
) -> Response:
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    hb = session.get(FollowerHeartbeat, follower.id) or FollowerHeartbeat(follower_id=follower.id)
    hb.received_at = utcnow()
    hb.positions = [p.model_dump(exclude_none=True) for p in body.positions]
    hb.positions_count = len(body.positions)
    hb.balance, hb.equity, hb.cursor = body.balance, body.equity, body.cursor
    session.add(hb)
    follower.last_seen = utcnow()
    session.commit()
    return Response(status_code=204)


@router.post("/{follower_id}/reports", status_code=204)
def post_report(
    follower_id: IdPath, body: ReportCreate, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Execution report: copied / skipped (with reason) / failed, latency, slippage."""
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    _subscription(session, follower, body.master_id)
    session.add(ExecutionReport(follower_id=follower.id, **body.model_dump()))
    session.commit()
    return Response(status_code=204)
