"""Target books on the server: the copy engine run per subscription, its state kept in
the database, the follower's targets versioned.

A book is recomputed when a follower reads it and any of its inputs changed (the
master's seq or snapshot, its freshness, the settings version, the follower's facts):
lazily on read gives the same answers as recomputing on every change, with no work for
followers nobody reads. The recompute runs under a lock on the subscription row, so
two readers never step the engine twice on one input.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mtponte.copy.engine import (
    BookState,
    CopySettings,
    FollowerFacts,
    MasterFacts,
    MasterPosition,
    MasterView,
    reset_risk,
    step,
)
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
from mtponte.domain.symbols import SymbolSpec


def follower_facts(hb: FollowerHeartbeat | None) -> FollowerFacts | None:
    """The facts of the follower's last heartbeat, or ``None`` before it sent any."""
    if hb is None or not hb.facts or hb.facts.get("symbols") is None:
        return None
    f = hb.facts
    specs = {
        s["name"]: SymbolSpec(
            name=s["name"],
            tick_size=s["tick_size"],
            tick_value=s["tick_value"],
            contract_size=s.get("contract_size", 1.0),
            digits=s.get("digits", 0),
            lot_min=s.get("lot_min", 0.01),
            lot_max=s.get("lot_max", 100.0),
            lot_step=s.get("lot_step", 0.01),
            currency=f.get("currency") or "USD",
        )
        for s in f["symbols"]
    }
    return FollowerFacts(
        symbols=specs,
        netting=bool(f.get("netting")),
        balance=hb.balance,
        equity=hb.equity,
        daily_pnl=float(f.get("daily_pnl") or 0.0),
        cent=bool(f.get("cent")),
    )


def _snap_at(session: Session, master_id: int) -> str:
    t = session.scalar(select(Snapshot.created_at).where(Snapshot.master_id == master_id))
    return "" if t is None else aware(t).isoformat()


def _inputs(
    master: Account, snap_at: str, fresh: bool, sub: Subscription, hb: FollowerHeartbeat | None
) -> str:
    facts = (
        ""
        if hb is None or hb.facts is None
        else json.dumps([hb.facts, hb.balance, hb.equity], sort_keys=True, separators=(",", ":"))
    )
    digest = hashlib.sha256(facts.encode()).hexdigest()[:16]
    return f"{master.last_seq}:{snap_at}:{int(fresh)}:{sub.version}:{digest}"


_View = tuple[tuple[int, str], tuple[MasterPosition, ...], int | None]
# Per database (the engine): two apps in one process may each have a master 1 at seq 3.
_views: weakref.WeakKeyDictionary[Any, dict[int, _View]] = weakref.WeakKeyDictionary()
_views_lock = threading.Lock()


def _master_view(
    session: Session, master: Account, snap_at: str, fresh: bool
) -> tuple[MasterView, int | None]:
    """The master as the engine sees it. Its positions are computed once per master
    seq and snapshot (per worker), not once per follower: a master event re-steps every
    follower's book, and they all read the same book."""
    key = (master.last_seq, snap_at)
    with _views_lock:
        views = _views.setdefault(session.get_bind(), {})
        hit = views.get(master.id)
    if hit is not None and hit[0] == key:
        positions, master_ms = hit[1], hit[2]
    else:
        positions, master_ms = _read_master(session, master)
        with _views_lock:
            views[master.id] = (key, positions, master_ms)
    view = MasterView(positions, fresh, MasterFacts(cent=master.account_type == "cent"))
    return view, master_ms


def _read_master(
    session: Session, master: Account
) -> tuple[tuple[MasterPosition, ...], int | None]:
    _, book = current_book(session, master)
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
        )
        for p in book
    )
    last = session.scalar(
        select(Event.payload).where(Event.master_id == master.id, Event.seq == master.last_seq)
    )
    t = last.get("time") if isinstance(last, dict) else None
    return positions, (int(t) if isinstance(t, int) else None)


def refresh_book(
    session: Session, sub: Subscription, stale_s: int, now: float | None = None
) -> TargetBook:
    """The subscription's target book, recomputed first if its inputs changed (then
    committed: the engine's state, the targets, its decisions)."""
    master = session.get(Account, sub.master_id, populate_existing=True)
    assert master is not None
    row = session.get(TargetBook, sub.id, populate_existing=True)
    hb = session.get(FollowerHeartbeat, sub.follower_id, populate_existing=True)
    snap_at = _snap_at(session, master.id)
    fresh = master_online(master, stale_s)
    if row is not None and row.inputs == _inputs(master, snap_at, fresh, sub, hb):
        return row
    # Lock the subscription row (an UPDATE takes the write lock on SQLite too), then
    # read everything again under it: another reader may have just done this.
    session.execute(
        update(Subscription).where(Subscription.id == sub.id).values(version=Subscription.version)
    )
    for obj in (sub, master):
        session.refresh(obj)
    row = session.get(TargetBook, sub.id, populate_existing=True)
    hb = session.get(FollowerHeartbeat, sub.follower_id, populate_existing=True)
    snap_at = _snap_at(session, master.id)
    fresh = master_online(master, stale_s)
    last = _last_decisions(session, [sub.id]).get(sub.id)
    row = _step_one(session, sub, master, snap_at, fresh, hb, row, last, now)
    session.commit()
    return row


def refresh_master(
    session: Session, master_id: int, stale_s: int, now: float | None = None
) -> dict[int, TargetsPublic]:
    """Step every active subscription of a master in one transaction (a master event
    changes all of them at once), reading each table once, and return each follower's
    answer by subscription id."""
    # Lock every subscription of the master (as refresh_book locks one).
    session.execute(
        update(Subscription)
        .where(Subscription.master_id == master_id, Subscription.active)
        .values(version=Subscription.version)
    )
    master = session.get(Account, master_id, populate_existing=True)
    if master is None:
        return {}
    subs = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.master_id == master_id, Subscription.active)
            .execution_options(populate_existing=True)
        )
    )
    ids = [s.id for s in subs]
    books = {
        b.subscription_id: b
        for b in session.scalars(
            select(TargetBook)
            .where(TargetBook.subscription_id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    beats = {
        h.follower_id: h
        for h in session.scalars(
            select(FollowerHeartbeat)
            .where(FollowerHeartbeat.follower_id.in_([s.follower_id for s in subs]))
            .execution_options(populate_existing=True)
        )
    }
    snap_at = _snap_at(session, master_id)
    fresh = master_online(master, stale_s)
    last = _last_decisions(session, ids)
    out: dict[int, TargetsPublic] = {}
    for sub in subs:
        row = _step_one(
            session,
            sub,
            master,
            snap_at,
            fresh,
            beats.get(sub.follower_id),
            books.get(sub.id),
            last.get(sub.id),
            now,
        )
        out[sub.id] = render(row, fresh)
    session.commit()
    return out


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


def _step_one(
    session: Session,
    sub: Subscription,
    master: Account,
    snap_at: str,
    fresh: bool,
    hb: FollowerHeartbeat | None,
    row: TargetBook | None,
    last: tuple[str, str, str] | None,
    now: float | None,
) -> TargetBook:
    """Step one subscription's book if its inputs changed (no commit)."""
    inputs = _inputs(master, snap_at, fresh, sub, hb)
    if row is not None and row.inputs == inputs:
        return row
    state = BookState.from_json(row.state) if row is not None else BookState(prefix=f"s{sub.id}")
    view, master_ms = _master_view(session, master, snap_at, fresh)
    settings = CopySettings.model_validate(sub.settings or {})
    t = time.time() if now is None else now
    res = step(state, view, settings, follower_facts(hb), int(t))
    targets = [x.to_json() for x in res.targets]
    if row is None:
        row = TargetBook(subscription_id=sub.id, state={}, targets=[], version=0)
        session.add(row)
    if targets != row.targets or row.version == 0:
        row.version += 1
    row.state = res.state.to_json()
    row.targets = targets
    row.inputs = inputs
    row.master_time_ms = master_ms if master_ms is not None else row.master_time_ms
    row.updated_at = datetime.now(UTC)
    at = datetime.fromtimestamp(t, UTC)
    for d in res.decisions:
        key = (d.action, d.master_ticket[:30], d.reason[:300])
        if key == last:
            continue  # a frozen book says so once, not at every heartbeat
        last = key
        session.add(
            CopyDecision(
                subscription_id=sub.id,
                at=at,
                action=d.action,
                master_ticket=key[1],
                reason=key[2],
                factors=_jsonable(d.to_json()["factors"]),
            )
        )
    return row


def render(row: TargetBook, online: bool) -> TargetsPublic:
    """The follower's answer for a book."""
    return TargetsPublic(
        version=row.version,
        targets=row.targets,
        master_online=online,
        master_time_ms=row.master_time_ms,
        computed_at_ms=int(aware(row.updated_at).timestamp() * 1000),
        risk=str(row.state.get("risk", "ok")),
    )


class Refresher:
    """Per worker: one batch refresh of a master's books at a time, shared by every
    follower waiting on that master, and the answers it rendered (by subscription).

    A follower woken by a master event at seq ``n`` waits for a refresh that started
    after ``n`` was published (one that started before may not have seen it).
    """

    def __init__(self, sessions: Callable[[], Session], stale_s: int) -> None:
        self.sessions = sessions
        self.stale_s = stale_s
        self.answers: dict[int, TargetsPublic] = {}
        self._inflight: dict[int, tuple[int, asyncio.Future[None]]] = {}

    def put(self, sub_id: int, answer: TargetsPublic) -> None:
        self.answers[sub_id] = answer

    async def refresh(self, master_id: int, seq: int) -> None:
        """Make sure the books of ``master_id`` reflect every event up to ``seq``."""
        while True:
            current = self._inflight.get(master_id)
            if current is None:
                break
            started_at, fut = current
            await asyncio.shield(fut)
            if started_at >= seq:
                return
        fut = asyncio.get_running_loop().create_future()
        self._inflight[master_id] = (seq, fut)
        try:
            out = await run_in_threadpool(self._refresh, master_id)
            self.answers.update(out)
            fut.set_result(None)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters that join later re-raise it themselves
            raise
        finally:
            del self._inflight[master_id]

    def _refresh(self, master_id: int) -> dict[int, TargetsPublic]:
        with self.sessions() as session:
            return refresh_master(session, master_id, self.stale_s)


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
