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
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mtponte.copy.server._edge import Edge, Slot
from mtponte.copy.server._refresher import Refresher
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
    CopyDecision,
    Event,
    ExecutionReport,
    FollowerHeartbeat,
    Subscription,
    aware,
    utcnow,
)
from mtponte.copy.server.schemas import (
    EventPublic,
    EventsPublic,
    HeartbeatCreate,
    ReportCreate,
    TargetsPublic,
)
from mtponte.copy.server.service import current_book, master_online, read_after
from mtponte.copy.server.targets import refresh_book, render

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


def _read_book(
    request: Request,
    principal: Principal,
    follower_id: int,
    master_id: int,
    stale_s: int,
    recheck: bool = False,
) -> tuple[int, TargetsPublic, float]:
    """The follower's book (stepped first if its inputs changed): its subscription id,
    the answer, and when the token expires. ``recheck``: the token is read again from
    the database (revoked or expired since the request began: 401). In a worker thread."""
    with request.app.state.sessions() as session:
        follower = get_account(session, follower_id, "follower")
        who = lookup_digest(session, principal.token_digest) if recheck else principal
        require(who, "follow", follower)
        sub = _subscription(session, follower, master_id)
        master = get_account(session, master_id, "master")
        row = refresh_book(session, sub, stale_s)
        return sub.id, render(row, master_online(master, stale_s)), who.expires


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


@router.get("/{follower_id}/masters/{master_id}/targets", response_model=TargetsPublic)
async def get_targets(
    follower_id: IdPath,
    master_id: IdPath,
    request: Request,
    principal: ShortPrincipalDep,
    settings: SettingsDep,
    notifier: NotifierDep,
    version: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The follower's target book: the exact positions it should hold, sized and named
    for its broker by the copy engine. ``ETag`` is the book's version (``If-None-Match``
    → 304). With ``version`` and ``wait``, waits up to ``wait`` seconds for a book other
    than ``version`` (long poll; answers 304 when none came)."""
    if version is None and if_none_match and if_none_match.strip('"').isdigit():
        version = int(if_none_match.strip('"'))

    refresher: Refresher = request.app.state.refresher
    grants = request.app.state.edge.grants

    def load(recheck: bool = False) -> tuple[int, TargetsPublic]:
        sub_id, out, _ = _read_book(
            request, principal, follower_id, master_id, settings.master_stale_s, recheck
        )
        return sub_id, out

    # Read before the book: an event published while it loads must still wake us.
    seq = notifier.latest(master_id)
    sub_id, out = await run_in_threadpool(load)
    refresher.put(sub_id, out)
    if out.version == version and wait > 0:
        slot = _slot(request, principal)
        try:
            left = min(wait, settings.long_poll_max_s, max(0.0, principal.expires - time.time()))
            deadline = time.monotonic() + left
            epoch, full_at = grants.epoch, time.monotonic()
            # A master event wakes every follower of it: one batch refresh of all their
            # books (shared), then each answers from memory. A revocation (the grants
            # epoch moves) and, every few seconds, settings or facts changed elsewhere
            # are read from the database for this follower alone.
            while left > 0:
                woke = await notifier.wait(master_id, seq, min(1.0, left))
                if await request.is_disconnected():
                    raise HTTPException(499, "client closed the request")
                # A master event first (the shared refresh): followers woken by one
                # event all reach their 5 s re-read together, and an event landing then
                # would wait behind every one of them.
                if grants.epoch == epoch and woke and notifier.latest(master_id) > seq:
                    seq = notifier.latest(master_id)
                    await refresher.refresh(master_id, seq)
                    out = refresher.answers.get(sub_id, out)
                elif grants.epoch != epoch or time.monotonic() - full_at >= 5.0:
                    sub_id, out = await run_in_threadpool(load, True)
                    epoch, full_at = grants.epoch, time.monotonic()
                if out.version != version:
                    break
                left = deadline - time.monotonic()
        finally:
            slot.release()
    etag = f'"{out.version}"'
    if out.version == version:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": etag})


@router.get("/{follower_id}/masters/{master_id}/decisions")
def get_decisions(
    follower_id: IdPath,
    master_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The copy engine's latest decisions for this subscription, newest first: what it
    opened, resized, modified, closed or skipped, and why (every lot factor)."""
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    sub = _subscription(session, follower, master_id)
    rows = session.scalars(
        select(CopyDecision)
        .where(CopyDecision.subscription_id == sub.id)
        .order_by(CopyDecision.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": aware(d.at).isoformat(),
            "action": d.action,
            "master_ticket": d.master_ticket,
            "reason": d.reason,
            "factors": d.factors,
        }
        for d in rows
    ]


@router.post(
    "/{follower_id}/heartbeats",
    status_code=204,
    responses={409: {"description": "Another follower instance holds this account"}},
)
def post_heartbeat(
    follower_id: IdPath,
    request: Request,
    body: HeartbeatCreate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> Response:
    """The follower's heartbeat: its copies and its account facts (see
    :class:`HeartbeatCreate`); also its lease on the account."""
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    # Lock the follower row so two instances cannot both take the lease.
    session.execute(
        update(Account).where(Account.id == follower.id).values(last_seq=Account.last_seq)
    )
    hb = session.get(FollowerHeartbeat, follower.id, populate_existing=True)
    now = utcnow()
    if (
        hb is not None
        and body.instance
        and hb.instance
        and hb.instance != body.instance
        and (now - aware(hb.received_at)).total_seconds() < settings.follower_lease_s
    ):
        session.rollback()
        raise HTTPException(
            409,
            f"another follower instance holds account {follower.id} (heard "
            f"{(now - aware(hb.received_at)).total_seconds():.0f} s ago); stop it, or wait "
            f"{settings.follower_lease_s:.0f} s after it stopped",
        )
    hb = hb or FollowerHeartbeat(follower_id=follower.id)
    hb.received_at = now
    hb.positions = [p.model_dump(exclude_none=True) for p in body.positions]
    hb.positions_count = len(body.positions)
    hb.balance, hb.equity, hb.cursor = body.balance, body.equity, body.cursor
    hb.instance = body.instance
    if body.symbols is not None:
        hb.facts = {
            "netting": body.netting,
            "cent": body.cent,
            "daily_pnl": body.daily_pnl,
            "currency": body.currency,
            "symbols": [s.model_dump() for s in body.symbols],
        }
    session.add(hb)
    follower.last_seen = now
    session.commit()
    # Step every book of this follower now: what the master holds from its first report
    # on is copied as it happens, not as a late join at its first read.
    subs = session.scalars(
        select(Subscription).where(Subscription.follower_id == follower.id, Subscription.active)
    )
    master_ids = []
    for sub in list(subs):
        row = refresh_book(session, sub, settings.master_stale_s)
        master_ids.append((sub.id, sub.master_id, row))
    refresher: Refresher = request.app.state.refresher
    for sub_id, mid, row in master_ids:
        master = session.get(Account, mid)
        online = master is not None and master_online(master, settings.master_stale_s)
        refresher.put(sub_id, render(row, online))
    return Response(status_code=204)


@router.post("/{follower_id}/reports", status_code=204)
def post_report(
    follower_id: IdPath, body: ReportCreate, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Execution report: copied / skipped (with reason) / failed, latency, slippage.

    A report whose ``report_id`` this follower sent already is answered 204 and not
    stored again (a resend after a lost answer, or after a crash)."""
    follower = get_account(session, follower_id, "follower")
    require(principal, "follow", follower)
    _subscription(session, follower, body.master_id)
    if body.report_id is not None and _report_seen(session, follower.id, body.report_id):
        return Response(status_code=204)
    data = body.model_dump(exclude={"retcode", "latency"})
    details: dict[str, Any] = {}
    if body.retcode is not None:
        details["retcode"] = body.retcode
    if body.latency is not None:
        lat = body.latency.model_dump()
        details["latency"] = lat
        if data["latency_ms"] is None and lat["master_ms"] and lat["filled_ms"]:
            data["latency_ms"] = max(0.0, float(lat["filled_ms"] - lat["master_ms"]))
    session.add(ExecutionReport(follower_id=follower.id, details=details or None, **data))
    try:
        session.commit()
    except IntegrityError:
        # Two copies of one report raced past the check: the other one is stored.
        session.rollback()
        if body.report_id is None or not _report_seen(session, follower.id, body.report_id):
            raise
    return Response(status_code=204)


def _report_seen(session: Session, follower_id: int, report_id: str) -> bool:
    return (
        session.scalar(
            select(ExecutionReport.id).where(
                ExecutionReport.follower_id == follower_id,
                ExecutionReport.report_id == report_id,
            )
        )
        is not None
    )
