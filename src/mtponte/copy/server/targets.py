"""Target books on the server: the copy engine run per subscription, its state kept in
the database, the follower's targets versioned.

A master event steps every book of the master in the transaction that stores it
(:func:`step_master`, through :class:`~mtponte.copy.server._refresher.Refresher`).
Any other input (the master's snapshot or freshness, the settings version, the
follower's facts) is taken when a follower reads its book: lazily on read gives the
same answers as recomputing on every change, with no work for followers nobody reads.
A recompute runs under a lock on the subscription rows, so two readers never step the
engine twice on one input.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, Text, bindparam, cast, func, insert, select, update
from sqlalchemy.orm import Session

from mtponte.copy.engine import (
    BookState,
    CopySettings,
    FollowerFacts,
    MasterFacts,
    MasterOrder,
    MasterPosition,
    MasterView,
    reset_risk,
    step,
)
from mtponte.copy.server._facts import base_facts
from mtponte.copy.server.models import (
    Account,
    CopyDecision,
    Event,
    FollowerHeartbeat,
    Snapshot,
    Subscription,
    TargetBook,
    aware,
)
from mtponte.copy.server.schemas import TargetsPublic
from mtponte.copy.server.service import current_book, master_online


@dataclass(frozen=True, slots=True)
class BookRow:
    """A target book as stored (``target_books``), read and written without the ORM."""

    subscription_id: int
    state: dict[str, Any]
    targets: list[Any]
    version: int
    inputs: str
    master_time_ms: int | None
    updated_at: datetime


_View = tuple[tuple[int, str], tuple[MasterPosition, ...], tuple[MasterOrder, ...], int | None]
_Facts = tuple[FollowerFacts | None, str]  # facts without balance/equity, digest of the text
_FACTS_MAX = 10_000  # distinct fact texts kept (followers report a few each)


class _Cache:
    """What one database's batch steps parsed or wrote, so the next step does not read
    it again: the master's positions per seq and snapshot, each follower's facts per
    stored text, and each book as last written. A book is reused only while the stored
    row still has the same version, inputs and ``updated_at`` (another worker may have
    written it); anything else is read from the database."""

    def __init__(self) -> None:
        self.views: dict[int, _View] = {}
        self.facts: dict[str, _Facts] = {}
        self.books: dict[int, BookRow] = {}
        self.settings: dict[str, CopySettings] = {}


# Per database (the engine): two apps in one process may each have a master 1 at seq 3.
_caches: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(session: Session) -> _Cache:
    with _caches_lock:
        return _caches.setdefault(session.get_bind(), _Cache())


def commit_step(session: Session, master_id: int) -> None:
    """Commit a transaction that stepped ``master_id``'s books. If the commit fails,
    the master view cached while stepping is forgotten: it may hold an event that was
    never stored, whose seq the next event will be given."""
    try:
        session.commit()
    except BaseException:
        _cache(session).views.pop(master_id, None)
        raise


def _snap_at(session: Session, master_id: int) -> str:
    t = session.scalar(select(Snapshot.created_at).where(Snapshot.master_id == master_id))
    return "" if t is None else aware(t).isoformat()


def _inputs(master: Account, snap_at: str, fresh: bool, version: int, digest: str) -> str:
    return f"{master.last_seq}:{snap_at}:{int(fresh)}:{version}:{digest}"


class _Sub(NamedTuple):
    """What a step needs of a subscription."""

    id: int
    follower_id: int
    version: int
    settings: CopySettings


def _subs_of(session: Session, master_id: int) -> list[_Sub]:
    """The master's active subscriptions; settings are read as stored text and
    validated once per distinct text (most followers share a few)."""
    cache = _cache(session).settings
    out = []
    rows = session.execute(
        select(
            Subscription.id,
            Subscription.follower_id,
            Subscription.version,
            cast(Subscription.settings, Text),
        ).where(Subscription.master_id == master_id, Subscription.active)
    )
    for sid, fid, version, raw in rows:
        text = raw or "null"
        settings = cache.get(text)
        if settings is None:
            if len(cache) >= _FACTS_MAX:
                cache.clear()
            settings = CopySettings.model_validate(json.loads(text) or {})
            cache[text] = settings
        out.append(_Sub(sid, fid, version, settings))
    return out


def _facts(
    session: Session, follower_ids: list[int]
) -> dict[int, tuple[FollowerFacts | None, str]]:
    """Each follower's facts and their digest for the book's inputs. The facts are read
    as stored text and parsed once per distinct text (a heartbeat every few seconds
    rarely changes them)."""
    cache = _cache(session).facts
    rows = session.execute(
        select(
            FollowerHeartbeat.follower_id,
            FollowerHeartbeat.balance,
            FollowerHeartbeat.equity,
            cast(FollowerHeartbeat.facts, Text),
        ).where(FollowerHeartbeat.follower_id.in_(follower_ids))
    )
    out: dict[int, tuple[FollowerFacts | None, str]] = {}
    for fid, balance, equity, raw in rows:
        text = raw or "null"
        hit = cache.get(text)
        if hit is None:
            if len(cache) >= _FACTS_MAX:
                cache.clear()
            hit = (base_facts(json.loads(text)), hashlib.sha256(text.encode()).hexdigest())
            cache[text] = hit
        base, digest = hit
        facts = None if base is None else replace(base, balance=balance, equity=equity)
        mixed = hashlib.sha256(f"{digest}:{balance!r}:{equity!r}".encode()).hexdigest()[:16]
        out[fid] = (facts, mixed)
    return out


def _load_books(session: Session, sub_ids: list[int]) -> dict[int, BookRow]:
    """The stored books: from the cache when the row is the one last written here,
    else read (the JSON state and targets parsed only then)."""
    cache = _cache(session).books
    out: dict[int, BookRow] = {}
    miss: list[int] = []
    heads = session.execute(
        select(
            TargetBook.subscription_id,
            TargetBook.version,
            TargetBook.inputs,
            TargetBook.updated_at,
        ).where(TargetBook.subscription_id.in_(sub_ids))
    )
    for sid, version, inputs, at in heads:
        hit = cache.get(sid)
        if hit is not None and (hit.version, hit.inputs, hit.updated_at) == (
            version,
            inputs,
            aware(at),
        ):
            out[sid] = hit
        else:
            miss.append(sid)
    if miss:
        rows = session.execute(
            select(
                TargetBook.subscription_id,
                TargetBook.state,
                TargetBook.targets,
                TargetBook.version,
                TargetBook.inputs,
                TargetBook.master_time_ms,
                TargetBook.updated_at,
            ).where(TargetBook.subscription_id.in_(miss))
        )
        for sid, state, targets, version, inputs, master_ms, at in rows:
            out[sid] = BookRow(sid, state, targets, version, inputs, master_ms, aware(at))
    return out


def _table(model: type[Any]) -> Table:
    t = model.__table__
    assert isinstance(t, Table)
    return t


_BOOK_VALUES = ("state", "targets", "version", "inputs", "master_time_ms", "updated_at")


def _columns(row: BookRow) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies the state and targets.
    return {f.name: getattr(row, f.name) for f in fields(row)}


def _update_params(row: BookRow) -> dict[str, Any]:
    return {"b_id": row.subscription_id, **{f"b_{c}": getattr(row, c) for c in _BOOK_VALUES}}


def remember(session: Session, rows: list[BookRow]) -> None:
    """Keep books just committed for the next step (call after the commit)."""
    cache = _cache(session).books
    for r in rows:
        cache[r.subscription_id] = r


def _master_view(
    session: Session, master: Account, snap_at: str, fresh: bool
) -> tuple[MasterView, int | None]:
    """The master as the engine sees it. Its positions are computed once per master
    seq and snapshot (per worker), not once per follower: a master event re-steps every
    follower's book, and they all read the same book."""
    key = (master.last_seq, snap_at)
    views = _cache(session).views
    hit = views.get(master.id)
    if hit is not None and hit[0] == key:
        positions, orders, master_ms = hit[1], hit[2], hit[3]
    else:
        positions, orders, master_ms = _read_master(session, master)
        views[master.id] = (key, positions, orders, master_ms)
    facts = MasterFacts(cent=master.account_type == "cent")
    view = MasterView(positions, fresh, facts, orders)
    return view, master_ms


def _read_master(
    session: Session, master: Account
) -> tuple[tuple[MasterPosition, ...], tuple[MasterOrder, ...], int | None]:
    _, book = current_book(session, master, pending=True)
    positions = tuple(
        MasterPosition(
            ticket=str(p["ticket"]),
            symbol=str(p["symbol"]),
            side=p.get("side", "buy"),
            volume=float(p["volume"]),
            open_price=float(p.get("open_price") or 0.0),
            sl=p.get("sl"),
            tp=p.get("tp"),
            open_time=int(p.get("open_time") or 0),
            from_order=str(p.get("from_order") or ""),
        )
        for p in book
        if "order_type" not in p
    )
    orders = tuple(
        MasterOrder(
            ticket=str(p["ticket"]),
            symbol=str(p["symbol"]),
            side=p.get("side", "buy"),
            order_type=p["order_type"],
            volume=float(p["volume"]),
            price=float(p.get("open_price") or 0.0),
            sl=p.get("sl"),
            tp=p.get("tp"),
            expiry=int(p.get("expiry") or 0),
        )
        for p in book
        if "order_type" in p
    )
    last = session.scalar(
        select(Event.payload).where(Event.master_id == master.id, Event.seq == master.last_seq)
    )
    t = last.get("time") if isinstance(last, dict) else None
    return positions, orders, (int(t) if isinstance(t, int) else None)


def refresh_book(
    session: Session, sub: Subscription, stale_s: int, now: float | None = None
) -> BookRow:
    """The subscription's target book, recomputed first if its inputs changed (then
    committed: the engine's state, the targets, its decisions)."""
    master = session.get(Account, sub.master_id, populate_existing=True)
    assert master is not None
    row = _load_books(session, [sub.id]).get(sub.id)
    digest = _facts(session, [sub.follower_id]).get(sub.follower_id, (None, "-"))[1]
    fresh = master_online(master, stale_s)
    if row is not None and row.inputs == _inputs(
        master, _snap_at(session, master.id), fresh, sub.version, digest
    ):
        return row
    # Lock the subscription row (an UPDATE takes the write lock on SQLite too), then
    # read everything again under it: another reader may have just done this.
    session.execute(
        update(Subscription).where(Subscription.id == sub.id).values(version=Subscription.version)
    )
    for obj in (sub, master):
        session.refresh(obj)
    one = _Sub(
        sub.id, sub.follower_id, sub.version, CopySettings.model_validate(sub.settings or {})
    )
    out, written = _step(session, master, [one], stale_s, now)
    commit_step(session, master.id)
    remember(session, written)
    return out[sub.id]


def refresh_master(
    session: Session, master_id: int, stale_s: int, now: float | None = None
) -> dict[int, TargetsPublic]:
    """Step every active subscription of a master in one transaction (a master event
    changes all of them at once), reading each table once, and return each follower's
    answer by subscription id."""
    stepped = step_master(session, master_id, stale_s, now)
    commit_step(session, master_id)
    if stepped is None:
        return {}
    remember(session, stepped.written)
    return stepped.answers()


@dataclass(frozen=True, slots=True)
class Stepped:
    """A master's books as stepped in a transaction not yet committed."""

    master_id: int
    books: dict[int, BookRow]
    written: list[BookRow]
    online: bool

    def answers(self) -> dict[int, TargetsPublic]:
        return {sid: render(row, self.online) for sid, row in self.books.items()}


def step_master(
    session: Session, master_id: int, stale_s: int, now: float | None = None
) -> Stepped | None:
    """Step every active subscription of a master inside the caller's transaction
    (no commit): its books, or ``None`` for an unknown master."""
    # Lock every subscription of the master (as refresh_book locks one).
    session.execute(
        update(Subscription)
        .where(Subscription.master_id == master_id, Subscription.active)
        .values(version=Subscription.version)
    )
    master = session.get(Account, master_id, populate_existing=True)
    if master is None:
        return None
    out, written = _step(session, master, _subs_of(session, master_id), stale_s, now)
    return Stepped(master_id, out, written, master_online(master, stale_s))


def _step(
    session: Session,
    master: Account,
    subs: list[_Sub],
    stale_s: int,
    now: float | None,
) -> tuple[dict[int, BookRow], list[BookRow]]:
    """Step each subscription whose inputs changed and write its book and decisions
    with one statement per table (no commit). Returns every book by subscription id,
    and the ones written."""
    snap_at = _snap_at(session, master.id)
    fresh = master_online(master, stale_s)
    facts = _facts(session, [s.follower_id for s in subs])
    rows = _load_books(session, [s.id for s in subs])
    out: dict[int, BookRow] = {}
    todo: list[tuple[_Sub, str]] = []
    for sub in subs:
        digest = facts.get(sub.follower_id, (None, "-"))[1]
        inputs = _inputs(master, snap_at, fresh, sub.version, digest)
        row = rows.get(sub.id)
        if row is not None and row.inputs == inputs:
            out[sub.id] = row
        else:
            todo.append((sub, inputs))
    if not todo:
        return out, []
    last = _last_decisions(session, [s.id for s, _ in todo])
    view, master_ms = _master_view(session, master, snap_at, fresh)
    t = time.time() if now is None else now
    at = datetime.fromtimestamp(t, UTC)
    stamp = datetime.now(UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    written: list[BookRow] = []
    for sub, inputs in todo:
        row = rows.get(sub.id)
        state = (
            BookState.from_json(row.state) if row is not None else BookState(prefix=f"s{sub.id}")
        )
        res = step(state, view, sub.settings, facts.get(sub.follower_id, (None, ""))[0], int(t))
        targets = [x.to_json() for x in res.targets]
        version = 0 if row is None else row.version
        if row is None or targets != row.targets or version == 0:
            version += 1
        new = BookRow(
            subscription_id=sub.id,
            state=res.state.to_json(),
            targets=targets,
            version=version,
            inputs=inputs,
            master_time_ms=master_ms
            if master_ms is not None or row is None
            else row.master_time_ms,
            updated_at=stamp,
        )
        if row is None:
            inserts.append(_columns(new))
        else:
            updates.append(_update_params(new))
        out[sub.id] = new
        written.append(new)
        prev = last.get(sub.id)
        for d in res.decisions:
            key = (d.action, d.master_ticket[:30], d.reason[:300])
            if key == prev:
                continue  # a frozen book says so once, not at every heartbeat
            prev = key
            decisions.append(
                {
                    "subscription_id": sub.id,
                    "at": at,
                    "action": key[0],
                    "master_ticket": key[1],
                    "reason": key[2],
                    "factors": _jsonable(d.to_json()["factors"]),
                }
            )
    # Core statements: one executemany each, no per-row objects or RETURNING.
    if inserts:
        session.execute(insert(_table(TargetBook)), inserts)
    if updates:
        books = _table(TargetBook)
        stmt = (
            update(books)
            .where(books.c.subscription_id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _BOOK_VALUES})
        )
        session.execute(stmt, updates)
    if decisions:
        session.execute(insert(_table(CopyDecision)), decisions)
    return out, written


def _last_decisions(session: Session, sub_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    newest = (
        select(func.max(CopyDecision.id))
        .where(CopyDecision.subscription_id.in_(sub_ids))
        .group_by(CopyDecision.subscription_id)
    )
    rows = session.execute(
        select(
            CopyDecision.subscription_id,
            CopyDecision.action,
            CopyDecision.master_ticket,
            CopyDecision.reason,
        ).where(CopyDecision.id.in_(newest))
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def render(row: BookRow, online: bool) -> TargetsPublic:
    """The follower's answer for a book."""
    return TargetsPublic(
        version=row.version,
        targets=row.targets,
        master_online=online,
        master_time_ms=row.master_time_ms,
        computed_at_ms=int(row.updated_at.timestamp() * 1000),
        risk=str(row.state.get("risk", "ok")),
    )


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def reset_book_risk(session: Session, sub: Subscription) -> None:
    """Clear a tripped daily-loss stop of this subscription (the explicit reset)."""
    row = session.get(TargetBook, sub.id, populate_existing=True)
    if row is None:
        return
    row.state = reset_risk(BookState.from_json(row.state)).to_json()
    row.inputs = ""  # recompute on the next read
    session.add(
        CopyDecision(
            subscription_id=sub.id,
            at=datetime.now(UTC),
            action="reset",
            master_ticket="",
            reason="daily-loss stop reset by an operator",
            factors=[],
        )
    )
