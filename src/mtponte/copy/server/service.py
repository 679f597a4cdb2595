"""Server-side operations shared by the native and the Sentra-compatible routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mtponte.copy.server.models import Account, Event, ServerState, Snapshot, aware


def touch(session: Session, account: Account) -> None:
    account.last_seen = datetime.now(UTC)


def publish_event(
    session: Session,
    master: Account,
    kind: str,
    key: str,
    ticket: str,
    payload: dict[str, Any],
    retention: int,
) -> tuple[Event, bool]:
    """Store an event with the master's next ``seq``; a repeated ``key`` returns the
    stored event (``created`` False) instead of a second one."""
    existing = session.scalar(
        select(Event).where(Event.master_id == master.id, Event.idempotency_key == key)
    )
    if existing is not None:
        return existing, False
    # Atomic per-master increment (row lock on PostgreSQL, write lock on SQLite).
    seq = session.execute(
        update(Account)
        .where(Account.id == master.id)
        .values(last_seq=Account.last_seq + 1)
        .returning(Account.last_seq)
    ).scalar_one()
    ev = Event(
        master_id=master.id, seq=seq, kind=kind, idempotency_key=key, ticket=ticket, payload=payload
    )
    session.add(ev)
    touch(session, master)
    try:
        session.flush()
    except IntegrityError:  # the same key raced in from another worker
        session.rollback()
        again = session.scalar(
            select(Event).where(Event.master_id == master.id, Event.idempotency_key == key)
        )
        assert again is not None
        return again, False
    if seq % 100 == 0:  # trim old events now and then
        session.execute(
            delete(Event).where(Event.master_id == master.id, Event.seq <= seq - retention)
        )
    return ev, True


def save_snapshot(session: Session, master: Account, positions: list[dict[str, Any]]) -> Snapshot:
    snap = session.get(Snapshot, master.id)
    if snap is None:
        snap = Snapshot(master_id=master.id, seq=master.last_seq, positions=positions)
        session.add(snap)
    else:
        snap.seq = master.last_seq
        snap.positions = positions
        snap.created_at = datetime.now(UTC)
    touch(session, master)
    return snap


def events_after(session: Session, master: Account, after: int, limit: int = 500) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(Event.master_id == master.id, Event.seq > after)
            .order_by(Event.seq)
            .limit(limit)
        )
    )


def oldest_seq(session: Session, master: Account) -> int | None:
    return session.scalar(select(func.min(Event.seq)).where(Event.master_id == master.id))


def master_online(master: Account, stale_s: int) -> bool:
    return seen_within(master.last_seen, stale_s)


def seen_within(last_seen: datetime | None, stale_s: int) -> bool:
    if last_seen is None:
        return False
    return datetime.now(UTC) - aware(last_seen) <= timedelta(seconds=stale_s)


def read_after(
    session: Session, master: Account, cursor: int
) -> tuple[int, list[Event], list[Any] | None]:
    """What a follower at ``cursor`` needs: ``(new cursor, events, None)``, or
    ``(snapshot seq, [], positions)`` — a resync — when the cursor is older than the
    retained events or beyond the newest one."""
    oldest = oldest_seq(session, master)
    if cursor > master.last_seq or (oldest is not None and cursor < oldest - 1):
        snap = session.get(Snapshot, master.id)
        return (snap.seq if snap else master.last_seq), [], (snap.positions if snap else [])
    evs = events_after(session, master, cursor)
    return (evs[-1].seq if evs else cursor), evs, None


def auth_epoch(session: Session) -> int:
    """The authorization epoch (see :class:`ServerState`)."""
    return int(session.scalar(select(ServerState.auth_epoch).where(ServerState.id == 1)) or 0)


def bump_auth_epoch(session: Session) -> None:
    """Tell every worker to drop its cached authorizations (call in the same
    transaction as the change that takes access away)."""
    session.execute(
        update(ServerState).where(ServerState.id == 1).values(auth_epoch=ServerState.auth_epoch + 1)
    )
