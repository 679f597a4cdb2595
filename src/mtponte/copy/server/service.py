"""Server-side operations shared by the native and the Sentra-compatible routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mtponte.copy.server.book import apply_events
from mtponte.copy.server.models import Account, Event, ServerState, Snapshot, aware
from mtponte.errors import MtponteError


def touch(session: Session, account: Account) -> None:
    account.last_seen = datetime.now(UTC)


class KeyConflict(MtponteError):
    """An idempotency key was reused for a different event."""


def publish_event(
    session: Session,
    master: Account,
    kind: str,
    key: str | None,
    ticket: str,
    payload: dict[str, Any],
    retention: int,
) -> tuple[Event, bool]:
    """Store an event with the master's next ``seq``.

    With a ``key`` (native API), a repeated key returns the stored event (``created``
    False) when it carries the same event, and raises :class:`KeyConflict` when it
    carries another one (a close must never be answered with a stored open). Without
    one (Sentra EAs send no id), a post equal to the ticket's latest event (a retry),
    or older than it by the master's clock (a queued post re-sent late), returns that
    event instead of a new one; anything else is a new event, so a modify back to an
    earlier SL in the same second is not lost.

    Every ``retention_events`` the oldest events are trimmed, never past what the
    snapshot covers: the snapshot is first compacted forward (snapshot + events), so a
    follower that resyncs still sees every open position.
    """
    if key is not None:
        existing = session.scalar(
            select(Event).where(Event.master_id == master.id, Event.idempotency_key == key)
        )
        if existing is not None:
            return _same_or_conflict(existing, kind, ticket, payload), False
    # Per-master lock (row lock on PostgreSQL, write lock on SQLite): everything below
    # sees every event committed before it.
    seq = session.execute(
        update(Account)
        .where(Account.id == master.id)
        .values(last_seq=Account.last_seq + 1)
        .returning(Account.last_seq)
    ).scalar_one()
    if key is not None:
        existing = session.scalar(
            select(Event).where(Event.master_id == master.id, Event.idempotency_key == key)
        )
        if existing is not None:  # raced in from another worker
            session.rollback()
            return _same_or_conflict(existing, kind, ticket, payload), False
    else:
        latest = session.scalar(
            select(Event)
            .where(Event.master_id == master.id, Event.ticket == ticket)
            .order_by(Event.seq.desc())
            .limit(1)
        )
        if latest is not None and _repeat_or_older(latest, kind, payload):
            session.rollback()
            return latest, False
        key = f"auto:{seq}"
    ev = Event(
        master_id=master.id, seq=seq, kind=kind, idempotency_key=key, ticket=ticket, payload=payload
    )
    session.add(ev)
    touch(session, master)
    try:
        session.flush()
    except IntegrityError:  # cannot happen under the lock; kept as a last guard
        session.rollback()
        again = session.scalar(
            select(Event).where(Event.master_id == master.id, Event.idempotency_key == key)
        )
        if again is None:
            raise
        return _same_or_conflict(again, kind, ticket, payload), False
    if seq % 100 == 0:  # trim old events now and then
        _trim(session, master.id, seq - retention)
    return ev, True


def _same_or_conflict(stored: Event, kind: str, ticket: str, payload: dict[str, Any]) -> Event:
    if (stored.kind, stored.ticket, stored.payload) != (kind, ticket, payload):
        raise KeyConflict(
            f"idempotency key {stored.idempotency_key!r} was used for another event "
            f"(seq {stored.seq}, {stored.kind} of ticket {stored.ticket})"
        )
    return stored


def _repeat_or_older(latest: Event, kind: str, payload: dict[str, Any]) -> bool:
    """``payload`` repeats ``latest`` (a retry), or the master stamped it earlier."""
    same = latest.kind == kind and {k: v for k, v in latest.payload.items() if k != "time"} == {
        k: v for k, v in payload.items() if k != "time"
    }
    return same or int(payload.get("time") or 0) < int(latest.payload.get("time") or 0)


def _trim(session: Session, master_id: int, cut: int) -> None:
    """Delete events up to ``cut``, compacting them into the snapshot first."""
    if cut <= 0:
        return
    snap = session.get(Snapshot, master_id)
    if snap is None or snap.seq < cut:
        base = snap.positions if snap is not None else []
        since = snap.seq if snap is not None else 0
        evs = session.scalars(
            select(Event)
            .where(Event.master_id == master_id, Event.seq > since, Event.seq <= cut)
            .order_by(Event.seq)
        )
        positions = apply_events(base, [(e.kind, e.ticket, e.payload) for e in evs])
        if snap is None:
            session.add(Snapshot(master_id=master_id, seq=cut, positions=positions))
        else:
            snap.seq, snap.positions = cut, positions
        session.flush()
    session.execute(delete(Event).where(Event.master_id == master_id, Event.seq <= cut))


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


def events_after(
    session: Session, master: Account, after: int, limit: int | None = 500
) -> list[Event]:
    q = select(Event).where(Event.master_id == master.id, Event.seq > after).order_by(Event.seq)
    return list(session.scalars(q if limit is None else q.limit(limit)))


def current_book(session: Session, master: Account) -> tuple[int, list[dict[str, Any]]]:
    """The master's positions now: its snapshot with every later event applied, and the
    seq they are current at."""
    snap = session.get(Snapshot, master.id)
    since = snap.seq if snap is not None else 0
    evs = events_after(session, master, since, limit=None)
    positions = apply_events(
        snap.positions if snap is not None else [], [(e.kind, e.ticket, e.payload) for e in evs]
    )
    return (evs[-1].seq if evs else since), positions


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
    """What a follower at ``cursor`` needs: ``(new cursor, events, None)``, or a resync
    ``(cursor, [], positions)`` with the master's current book (see :func:`current_book`)
    when the events after ``cursor`` are no longer all kept or the cursor is beyond the
    newest event. The resync cursor is where the book is current, never behind the
    oldest kept event: reading on from it does not resync again unless more is trimmed
    meanwhile."""
    oldest = oldest_seq(session, master)
    first_kept = oldest if oldest is not None else master.last_seq + 1
    if cursor > master.last_seq or cursor < first_kept - 1:
        seq, positions = current_book(session, master)
        return seq, [], positions
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
