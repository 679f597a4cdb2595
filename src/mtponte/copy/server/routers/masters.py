"""Masters publish events and snapshots (scope ``publish``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from mtponte.copy.server.deps import (
    FeedDep,
    IdPath,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    get_account,
    require,
)
from mtponte.copy.server.schemas import EventCreate, EventPublic, SnapshotCreate
from mtponte.copy.server.service import KeyConflict, publish_event, save_snapshot

router = APIRouter(prefix="/api/v1/masters", tags=["masters"])


@router.post(
    "/{master_id}/events",
    response_model=EventPublic,
    status_code=201,
    responses={
        200: {"description": "Already stored under this idempotency key"},
        409: {"description": "The idempotency key was used for a different event"},
    },
)
def post_event(
    master_id: IdPath,
    body: EventCreate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    feed: FeedDep,
    response: Response,
) -> EventPublic:
    """Publish an open/close/modify/partial_close event; returns its ``seq``."""
    master = get_account(session, master_id, "master")
    require(principal, "publish", master)
    payload = body.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    try:
        ev, created = publish_event(
            session,
            master,
            body.kind,
            body.idempotency_key,
            body.ticket,
            payload,
            settings.retention_events,
        )
    except KeyConflict as exc:
        raise HTTPException(409, str(exc)) from None
    feed.commit(session, ev, created)
    if not created:
        response.status_code = 200
    return EventPublic(
        seq=ev.seq, kind=ev.kind, ticket=ev.ticket, payload=ev.payload, created_at=ev.created_at
    )


@router.post("/{master_id}/snapshots", status_code=204)
def post_snapshot(
    master_id: IdPath,
    body: SnapshotCreate,
    session: SessionDep,
    principal: PrincipalDep,
    feed: FeedDep,
) -> Response:
    """The master's full position set (also its heartbeat)."""
    master = get_account(session, master_id, "master")
    require(principal, "publish", master)
    save_snapshot(session, master, [p.model_dump(exclude_none=True) for p in body.positions])
    session.commit()
    feed.snapshot_saved(master.id)
    return Response(status_code=204)
