"""Database side of the Sentra ``slave-signals`` hot path: who may poll which master,
and the master's rendered answer."""

from __future__ import annotations

import math
import time
from datetime import datetime

from fastapi.responses import JSONResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from mtponte.copy.server._books import Book, BookCache
from mtponte.copy.server._grants import Grant, GrantKey
from mtponte.copy.server.book import apply_events
from mtponte.copy.server.models import Account, ApiToken, Snapshot, Subscription, aware
from mtponte.copy.server.service import auth_epoch, events_after, seen_within

Master = aliased(Account, name="master")
Follower = aliased(Account, name="follower")


def _grants_query() -> Select[int, str, str, str, datetime | None]:
    return (
        select(
            Master.id, Master.account_number, Master.email, ApiToken.token_hash, ApiToken.expires_at
        )
        .select_from(ApiToken)
        .join(Follower, Follower.id == ApiToken.account_id)
        .join(Subscription, Subscription.follower_id == Follower.id)
        .join(Master, Master.id == Subscription.master_id)
        .where(
            ApiToken.scope == "follow",
            ApiToken.revoked.is_(False),
            Follower.role == "follower",
            Subscription.active.is_(True),
            Master.role == "master",
        )
    )


def _expiry(expires_at: datetime | None) -> float:
    return math.inf if expires_at is None else aware(expires_at).timestamp()


def poll_grant(
    session: Session, token_digest: str, master_account: str, master_email: str | None
) -> Grant | None:
    """The master a ``follow`` token may poll, in one query (``None``: refused). When
    several match (one account number at two brokers) the lowest id wins, as in
    :func:`all_grants`."""
    conds = []
    if master_account:
        conds.append(Master.account_number == master_account)
    if master_email:
        conds.append(Master.email == master_email)
    if not conds:
        return None
    row = session.execute(
        _grants_query()
        .where(ApiToken.token_hash == token_digest, or_(*conds))
        .order_by(Master.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    expires = _expiry(row.expires_at)
    return Grant(int(row.id), expires) if expires > time.time() else None


def all_grants(session: Session) -> tuple[int, dict[GrantKey, Grant]]:
    """Every poll authorization, keyed the ways the EAs ask (by account number, by
    e-mail, or both), and the authorization epoch read before them."""
    epoch = auth_epoch(session)
    now = time.time()
    table: dict[GrantKey, Grant] = {}
    for row in session.execute(_grants_query().order_by(Master.id.desc())):
        expires = _expiry(row.expires_at)
        if expires <= now:
            continue
        g = Grant(int(row.id), expires)
        table[(row.token_hash, row.account_number, None)] = g  # lowest id written last
        if row.email:
            table[(row.token_hash, "", row.email)] = g
            table[(row.token_hash, row.account_number, row.email)] = g
    return epoch, table


def load_book(session: Session, books: BookCache, master_id: int, stale_s: int) -> Book | None:
    """Read the master's answer from the database into ``books``; ``None`` when the
    master is offline (stale) or gone."""
    gen = books.generation(master_id)  # before the read: a publish after it wins
    row = session.execute(
        select(Account.last_seq, Account.last_seen).where(Account.id == master_id)
    ).first()
    if row is None or row.last_seen is None or not seen_within(row.last_seen, stale_s):
        return None
    version = (int(row.last_seq), aware(row.last_seen).timestamp())
    cached = books.peek(master_id)
    body = cached.body if cached is not None and cached.version == version else None
    if body is None:
        body = _render_book(session, master_id, row.last_seq)
    return books.put(master_id, gen, version, body, stale_s)


def _poll_grant(
    session: Session, token_digest: str, master_account: str, master_email: str | None
) -> Grant | None:
    """The master a ``follow`` token may poll, in one query (``None``: refused)."""
    conds = []
    if master_account:
        conds.append(Master.account_number == master_account)
    if master_email:
        conds.append(Master.email == master_email)
    if not conds:
        return None
    row = session.execute(
        select(Master.id, ApiToken.expires_at)
        .select_from(ApiToken)
        .join(Follower, Follower.id == ApiToken.account_id)
        .join(Subscription, Subscription.follower_id == Follower.id)
        .join(Master, Master.id == Subscription.master_id)
        .where(
            ApiToken.token_hash == token_digest,
            ApiToken.scope == "follow",
            ApiToken.revoked.is_(False),
            Follower.role == "follower",
            Subscription.active.is_(True),
            Master.role == "master",
            or_(*conds),
        )
        .limit(1)
    ).first()
    if row is None:
        return None
    expires = math.inf if row.expires_at is None else aware(row.expires_at).timestamp()
    return Grant(int(row.id), expires) if expires > time.time() else None


def _render_book(session: Session, master_id: int, last_seq: int) -> bytes:
    """The master's positions (snapshot + later events) as the EA expects them."""
    current = session.get(Account, master_id)
    assert current is not None
    snap = session.get(Snapshot, master_id)
    book = apply_events(
        snap.positions if snap else [],
        [
            (e.kind, e.ticket, e.payload)
            for e in events_after(session, current, snap.seq if snap else 0, limit=10_000)
        ],
    )
    positions = [
        {
            "ticket": int(p["ticket"]),
            "symbol": p["symbol"],
            "type": 0 if p["side"] == "buy" else 1,
            "lots": p["volume"],
            "open_price": p["open_price"],
            "stop_loss": p.get("sl") or 0,
            "take_profit": p.get("tp") or 0,
            "open_time": p.get("open_time", 0),
        }
        for p in book
    ]
    return bytes(
        JSONResponse(
            {
                "success": True,
                "action": "heartbeat",
                "positions": positions,
                "positions_count": len(positions),
                "seq": last_seq,
            }
        ).body
    )
