"""Target books on the server: the copy engine run per subscription, its state kept in
the database, the follower's targets versioned.

A book is recomputed when a follower reads it and any of its inputs changed (the
master's seq or snapshot, its freshness, the settings version, the follower's facts):
lazily on read gives the same answers as recomputing on every change, with no work for
followers nobody reads. The recompute runs under a lock on the subscription row, so
two readers never step the engine twice on one input.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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


def _inputs(session: Session, sub: Subscription, master: Account, stale_s: int) -> str:
    snap_at = session.scalar(select(Snapshot.created_at).where(Snapshot.master_id == master.id))
    hb = session.get(FollowerHeartbeat, sub.follower_id)
    facts = (
        ""
        if hb is None or hb.facts is None
        else json.dumps([hb.facts, hb.balance, hb.equity], sort_keys=True, separators=(",", ":"))
    )
    fresh = master_online(master, stale_s)
    snap = "" if snap_at is None else f"{aware(snap_at).timestamp():.6f}"
    digest = hashlib.sha256(facts.encode()).hexdigest()[:16]
    return f"{master.last_seq}:{snap}:{int(fresh)}:{sub.version}:{digest}"


def _master_view(session: Session, master: Account, stale_s: int) -> tuple[MasterView, int | None]:
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
    view = MasterView(
        positions, master_online(master, stale_s), MasterFacts(cent=master.account_type == "cent")
    )
    return view, (int(t) if isinstance(t, int) else None)


def refresh_book(
    session: Session, sub: Subscription, stale_s: int, now: float | None = None
) -> TargetBook:
    """The subscription's target book, recomputed first if its inputs changed.

    Commits when it recomputed (the engine's state, the targets, its decisions).
    """
    master = session.get(Account, sub.master_id, populate_existing=True)
    assert master is not None
    row = session.get(TargetBook, sub.id, populate_existing=True)
    if row is not None and row.inputs == _inputs(session, sub, master, stale_s):
        return row
    # Lock the subscription row (an UPDATE takes the write lock on SQLite too), then
    # read everything again under it: another reader may have just done this.
    session.execute(
        update(Subscription).where(Subscription.id == sub.id).values(version=Subscription.version)
    )
    session.refresh(sub)
    session.refresh(master)
    inputs = _inputs(session, sub, master, stale_s)
    row = session.get(TargetBook, sub.id, populate_existing=True)
    if row is not None and row.inputs == inputs:
        session.commit()
        return row
    state = BookState.from_json(row.state) if row is not None else BookState(prefix=f"s{sub.id}")
    view, master_ms = _master_view(session, master, stale_s)
    settings = CopySettings.model_validate(sub.settings or {})
    facts = follower_facts(session.get(FollowerHeartbeat, sub.follower_id))
    t = time.time() if now is None else now
    res = step(state, view, settings, facts, int(t))
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
    last = session.execute(
        select(CopyDecision.action, CopyDecision.master_ticket, CopyDecision.reason)
        .where(CopyDecision.subscription_id == sub.id)
        .order_by(CopyDecision.id.desc())
        .limit(1)
    ).first()
    for d in res.decisions:
        if last is not None and tuple(last) == (d.action, d.master_ticket[:30], d.reason[:300]):
            continue  # a frozen book says so once, not at every heartbeat
        session.add(
            CopyDecision(
                subscription_id=sub.id,
                at=at,
                action=d.action,
                master_ticket=d.master_ticket[:30],
                reason=d.reason[:300],
                factors=_jsonable(d.to_json()["factors"]),
            )
        )
    session.commit()
    return row


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
