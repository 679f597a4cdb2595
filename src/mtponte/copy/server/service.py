"""Server-side operations shared by the native and the Sentra-compatible routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mtponte.copy.server.book import apply_events, positions_only
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
    one (Sentra EAs send no id), :func:`sentra_seen` decides from the ticket's stored
    events whether the post is a retry or is superseded (the stored event it answers
    with), or new.

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
        history = list(
            session.scalars(
                select(Event)
                .where(Event.master_id == master.id, Event.ticket == ticket)
                .order_by(Event.seq)
            )
        )
        seen = sentra_seen(history, kind, payload, datetime.now(UTC))
        if seen is not None:
            session.rollback()
            return seen, False
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


RETRY_AFTER_S = 2.0  # the Master EA re-sends a failed post from its queue after >= 5 s


def sentra_seen(
    history: list[Event], kind: str, payload: dict[str, Any], now: datetime
) -> Event | None:
    """The stored event a Sentra post repeats or is superseded by (``None``: store it).

    ``history`` is every stored event of the post's ticket, in seq order. The EAs send
    no event id and re-send a failed post later with its original ``timestamp``, so:

    - equal to the ticket's latest event (its time aside): a retry, or no change;
    - equal, time included, to an event stored over ``RETRY_AFTER_S`` ago that a later
      event followed: a late retry (a modify back to an earlier SL *within* that
      time is a real change and is kept);
    - an ``open`` when the ticket already has an open or a close; a ``close`` when it
      has a close; a ``modify`` after a close, or older by the master's clock than an
      event already stored for the ticket: superseded.
    A retried open is stored even after a later modify of its ticket was, so a copy is
    never lost to the order in which a flaky network delivered them.
    """
    if not history:
        return None
    latest = history[-1]

    def bare(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k != "time"}

    if latest.kind == kind and bare(latest.payload) == bare(payload):
        return latest
    for e in history[:-1]:
        if (
            e.kind == kind
            and e.payload == payload
            and (now - aware(e.created_at)).total_seconds() > RETRY_AFTER_S
        ):
            return e
    by_kind = {e.kind: e for e in history}  # the latest of each kind
    if kind == "open" and ("open" in by_kind or "close" in by_kind):
        return by_kind.get("close") or by_kind["open"]
    if kind == "close" and "close" in by_kind:
        return by_kind["close"]
    if kind == "modify":
        if "close" in by_kind:
            return by_kind["close"]
        t = int(payload.get("time") or 0)
        newer = [e for e in history if int(e.payload.get("time") or 0) > t]
        if newer:
            return newer[-1]
    return None


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


def lock_master(session: Session, master: Account) -> int:
    """Take the per-master lock (as :func:`publish_event` does) and return the master's
    current ``last_seq``, read under it."""
    return int(
        session.execute(
            update(Account)
            .where(Account.id == master.id)
            .values(last_seq=Account.last_seq)
            .returning(Account.last_seq)
        ).scalar_one()
    )


def save_snapshot(session: Session, master: Account, positions: list[dict[str, Any]]) -> Snapshot:
    """Store the master's full position set as of its latest event. Under the master's
    lock: no event or compaction can slip in between (which would give the snapshot a
    stale seq, or two first snapshots)."""
    seq = lock_master(session, master)
    snap = session.get(Snapshot, master.id, populate_existing=True)
    if snap is None:
        snap = Snapshot(master_id=master.id, seq=seq, positions=positions)
        session.add(snap)
    else:
        snap.seq = seq
        snap.positions = positions
        snap.created_at = datetime.now(UTC)
    touch(session, master)
    return snap


def events_after(
    session: Session, master: Account, after: int, limit: int | None = 500
) -> list[Event]:
    q = select(Event).where(Event.master_id == master.id, Event.seq > after).order_by(Event.seq)
    return list(session.scalars(q if limit is None else q.limit(limit)))


def current_book(
    session: Session, master: Account, pending: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """The master's positions now: its snapshot with every later event applied, and the
    seq they are current at. With ``pending`` its working pending orders too (entries
    with an ``order_type``); without, readers that know only positions never see them."""
    while True:
        snap = session.get(Snapshot, master.id, populate_existing=True)
        since = snap.seq if snap is not None else 0
        evs = events_after(session, master, since, limit=None)
        # A compaction may have committed between the two reads (each statement sees
        # the latest commits): then events up to its cut are gone. Read again.
        again = session.scalar(select(Snapshot.seq).where(Snapshot.master_id == master.id))
        if (again or 0) == since:
            break
    positions = apply_events(
        snap.positions if snap is not None else [], [(e.kind, e.ticket, e.payload) for e in evs]
    )
    return (evs[-1].seq if evs else since), positions if pending else positions_only(positions)


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
    # Events are committed in seq order (under the master's lock), so once ``last`` is
    # read every event up to it is visible: a gap between the cursor and the first
    # event read means the ones between were trimmed.
    last = int(session.scalar(select(Account.last_seq).where(Account.id == master.id)) or 0)
    evs = events_after(session, master, cursor)
    if cursor > last or (cursor < last and (not evs or evs[0].seq != cursor + 1)):
        seq, positions = current_book(session, master)
        return seq, [], positions
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
