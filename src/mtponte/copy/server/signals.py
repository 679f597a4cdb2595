"""Database side of the Sentra ``slave-signals`` hot path: who may poll which master,
and the master's rendered answer."""

from __future__ import annotations

import math
import time
from datetime import datetime

from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, aliased

from mtponte.copy.server._books import Book, BookCache
from mtponte.copy.server._grants import Grant, GrantKey
from mtponte.copy.server.models import Account, ApiToken, Subscription, aware
from mtponte.copy.server.service import auth_epoch, current_book, seen_within

Master = aliased(Account, name="master")
Follower = aliased(Account, name="follower")


def _grants_query() -> Select[int, str, str, str, datetime | None, int]:
    return (
        select(
            Master.id,
            Master.account_number,
            Master.email,
            ApiToken.token_hash,
            ApiToken.expires_at,
            Subscription.id.label("sub_id"),
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


def names_master(
    model: type[Account], account_number: str, email: str | None
) -> ColumnElement[bool] | None:
    """The condition the Sentra EAs name a master by: its account number if sent, else
    its e-mail (``None``: neither sent). ``model`` is :class:`Account` or an alias."""
    if account_number:
        return model.account_number == account_number
    if email:
        return model.email == email
    return None


def poll_grant(
    session: Session, token_digest: str, master_account: str, master_email: str | None
) -> Grant | None:
    """The master a ``follow`` token may poll, in one query (``None``: refused). Named by
    account number, else by e-mail; when one number exists at two brokers the lowest id
    wins, as in :func:`all_grants`."""
    named = names_master(Master, master_account, master_email)
    if named is None:
        return None
    row = session.execute(
        _grants_query()
        .where(ApiToken.token_hash == token_digest, named)
        .order_by(Master.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    expires = _expiry(row.expires_at)
    return Grant(int(row.id), expires, int(row.sub_id)) if expires > time.time() else None


def all_grants(session: Session) -> tuple[int, dict[GrantKey, Grant]]:
    """Every poll authorization, keyed the ways the EAs ask (by account number or by
    e-mail), and the authorization epoch read before them."""
    epoch = auth_epoch(session)
    now = time.time()
    table: dict[GrantKey, Grant] = {}
    for row in session.execute(_grants_query().order_by(Master.id.desc())):
        expires = _expiry(row.expires_at)
        if expires <= now:
            continue
        g = Grant(int(row.id), expires, int(row.sub_id))
        table[(row.token_hash, row.account_number, None)] = g  # lowest id written last
        if row.email:
            table[(row.token_hash, "", row.email)] = g
    return epoch, table


OFFLINE = b'{"success":false,"error":"master offline"}'


def load_book(session: Session, books: BookCache, master_id: int, stale_s: int) -> Book | None:
    """Read the master's answer from the database into ``books``: its positions, or
    ``success:false`` when it is offline (stale) — never an empty list, which would make
    every slave close all its copies. ``None`` when the master is gone."""
    gen = books.generation(master_id)  # before the read: a publish after it wins
    row = session.execute(
        select(Account.last_seq, Account.last_seen).where(Account.id == master_id)
    ).first()
    if row is None:
        return None
    seen = 0.0 if row.last_seen is None else aware(row.last_seen).timestamp()
    version = (int(row.last_seq), seen)
    if row.last_seen is None or not seen_within(row.last_seen, stale_s):
        return books.put(master_id, gen, version, OFFLINE, stale_s, offline=True)
    cached = books.peek(master_id)
    body = cached.body if cached is not None and cached.version == version else None
    if body is None:
        body = _render_book(session, master_id, row.last_seq)
    return books.put(master_id, gen, version, body, stale_s)


def _render_book(session: Session, master_id: int, last_seq: int) -> bytes:
    """The master's positions (snapshot + later events) as the EA expects them."""
    current = session.get(Account, master_id)
    assert current is not None
    _, book = current_book(session, current)
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
