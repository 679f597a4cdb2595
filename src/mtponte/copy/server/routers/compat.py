"""Routes wire-compatible with the Sentra Master/Slave EAs (seed 003).

The token rides in the path (``/api/mt/copy/t/<token>/slave-signals``) so an existing
EA only needs its server URL changed; the token's scope must match the account asked
for. Responses are compact JSON with the keys in the order the EAs' substring parser
expects (``"success":true`` exact, ``ticket`` first and an unquoted integer). A stale
master answers ``{"success":false,...}`` — never an empty list, which would make every
slave close all its copies.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from mtponte.copy.server._edge import Edge
from mtponte.copy.server._grants import signals_key
from mtponte.copy.server.copy_settings import CopySettings
from mtponte.copy.server.deps import (
    FeedDep,
    Principal,
    SessionDep,
    SettingsDep,
    lookup_token,
)
from mtponte.copy.server.models import (
    Account,
    FollowerHeartbeat,
    Subscription,
    utcnow,
)
from mtponte.copy.server.security import token_hash
from mtponte.copy.server.service import (
    publish_event,
    save_snapshot,
)
from mtponte.copy.server.signals import load_book, names_master, poll_grant

router = APIRouter(tags=["sentra-compat"])
PREFIX = "/api/mt/copy/t/{token}"

DEFAULT_SETTINGS: dict[str, Any] = CopySettings().model_dump()


def fail(message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise HTTPException(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "body must be a JSON object")
    return data


def _num(data: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = data.get(key, default)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{key} must be a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise HTTPException(400, f"{key} must be finite")
    return f


def _ticket(data: dict[str, Any]) -> str:
    t = str(data.get("ticket", "")).strip()
    if not t.isdigit() or len(t) > 20:
        raise HTTPException(400, "ticket must be a positive integer")
    return str(int(t))


def _master_by(session: Session, account_number: str, email: str | None) -> Account | None:
    """The master named by its account number, else by e-mail (the EAs send either);
    the lowest id when one number exists at two brokers, as in ``signals``."""
    named = names_master(Account, account_number, email)
    if named is None:
        return None
    q = select(Account).where(Account.role == "master", named)
    return session.scalar(q.order_by(Account.id).limit(1))


def _auth(session: Session, token: str, scope: str, account: Account | None) -> Principal:
    p = lookup_token(session, token)
    if p.scope != "admin" and (p.scope != scope or account is None or p.account_id != account.id):
        raise HTTPException(403, f"this token may not {scope} for this account")
    return p


@router.post(PREFIX + "/master-signal")
async def master_signal(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    feed: FeedDep,
) -> JSONResponse:
    """``action`` open/close/modify → a sequenced event; heartbeat → full snapshot."""
    data = await _body(request)
    action = str(data.get("action", ""))
    master = _master_by(
        session,
        str(data.get("account_number", "")),
        data.get("master_email") or data.get("user_email"),
    )
    _auth(session, token, "publish", master)
    assert master is not None
    if action == "heartbeat":
        raw = data.get("positions") or []
        if not isinstance(raw, list):
            raise HTTPException(400, "positions must be a list")
        positions = [_position(p) for p in raw]
        save_snapshot(session, master, positions)
        session.commit()
        feed.snapshot_saved(master.id)
        return JSONResponse({"success": True, "positions_count": len(positions)})
    if action not in ("open", "close", "modify"):
        raise HTTPException(400, f"unknown action {action!r}")
    ticket = _ticket(data)
    payload: dict[str, Any] = {
        "kind": action,
        "ticket": ticket,
        "symbol": str(data.get("symbol", ""))[:40],
        "time": int(_num(data, "timestamp") * 1000),
    }
    if action == "open":
        payload |= {
            "side": "buy" if int(_num(data, "type")) == 0 else "sell",
            "volume": _num(data, "lots"),
            "price": _num(data, "open_price"),
            "open_time": int(_num(data, "open_time")),
        }
    if action in ("open", "modify"):
        for ours, theirs in (("sl", "stop_loss"), ("tp", "take_profit")):
            v = _num(data, theirs)
            if v > 0:
                payload[ours] = v
    if action == "close" and "close_price" in data:
        payload["price"] = _num(data, "close_price")
    key = f"{action}:{ticket}:{data.get('timestamp', '')}:{payload.get('sl')}:{payload.get('tp')}"
    ev, created = publish_event(
        session, master, action, key, ticket, payload, settings.retention_events
    )
    session.commit()
    if created:
        feed.published(ev)
    return JSONResponse({"success": True, "seq": ev.seq})


def _position(p: Any) -> dict[str, Any]:
    if not isinstance(p, dict):
        raise HTTPException(400, "each position must be an object")
    return {
        "ticket": _ticket(p),
        "symbol": str(p.get("symbol", ""))[:40],
        "side": "buy" if int(_num(p, "type")) == 0 else "sell",
        "volume": _num(p, "lots"),
        "open_price": _num(p, "open_price"),
        "sl": _num(p, "stop_loss") or None,
        "tp": _num(p, "take_profit") or None,
        "open_time": int(_num(p, "open_time")),
    }


def _follower_and_master(
    session: Session, token: str, master_account: str, master_email: str | None
) -> tuple[Account, Account]:
    p = lookup_token(session, token)
    follower = session.get(Account, p.account_id) if p.account_id else None
    if p.scope != "follow" or follower is None or follower.role != "follower":
        raise HTTPException(403, "this token may not follow")
    master = _master_by(session, master_account, master_email)
    if (
        master is None
        or session.scalar(
            select(Subscription).where(
                Subscription.follower_id == follower.id,
                Subscription.master_id == master.id,
                Subscription.active,
            )
        )
        is None
    ):
        raise HTTPException(403, "this follower does not follow that master")
    return follower, master


@router.get(PREFIX + "/slave-signals")
def slave_signals(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    master_account_id: str = "",
    master_email: str | None = None,
    slave_email: str | None = None,
) -> Response:
    """The master's current positions in the Sentra heartbeat format.

    Hot path (every slave polls every second): polls are answered by the edge from
    memory (see ``_edge``); this route serves the rest (a token new since the last read
    of the grants, a master just gone offline) and fills the edge's caches.
    """
    edge: Edge = request.app.state.edge
    auth_key = signals_key(token_hash(token), request.scope["query_string"])
    grant = edge.grants.get(auth_key)
    if grant is None:
        gen = edge.grants.generation()  # before the read: a revocation after it wins
        grant = poll_grant(session, auth_key[0], master_account_id, master_email)
        if grant is None:  # refused: let the detailed checks say why
            _follower_and_master(session, token, master_account_id, master_email)
            raise HTTPException(403, "this follower does not follow that master")
        edge.grants.put(auth_key, grant, gen)
    master_id = grant.master_id
    book = edge.books.get(master_id) or load_book(
        session, edge.books, master_id, settings.master_stale_s
    )
    if book is None:
        return fail("master not found")
    return Response(book.body, media_type="application/json")


@router.post(PREFIX + "/slave-heartbeat")
async def slave_heartbeat(token: str, request: Request, session: SessionDep) -> JSONResponse:
    data = await _body(request)
    follower, _ = _follower_and_master(session, token, str(data.get("master_account_id", "")), None)
    hb = session.get(FollowerHeartbeat, follower.id) or FollowerHeartbeat(follower_id=follower.id)
    hb.received_at = utcnow()
    hb.positions_count = int(_num(data, "positions_count"))
    hb.balance, hb.equity = _num(data, "balance"), _num(data, "equity")
    session.add(hb)
    follower.last_seen = utcnow()
    session.commit()
    return JSONResponse({"success": True})


@router.get(PREFIX + "/settings")
def settings_(
    token: str,
    session: SessionDep,
    user_email: str | None = None,
    master_account_id: str = "",
    slave_account_id: str | None = None,
) -> JSONResponse:
    follower, master = _follower_and_master(session, token, master_account_id, None)
    sub = session.scalar(
        select(Subscription).where(
            Subscription.follower_id == follower.id, Subscription.master_id == master.id
        )
    )
    merged = {**DEFAULT_SETTINGS, **(sub.settings if sub else {})}
    merged["isActive"] = bool(sub and sub.active and merged.get("isActive", True))
    return JSONResponse({"success": True, "settings": merged})


@router.post("/api/ea-license/validate")
async def license_validate(request: Request, session: SessionDep) -> JSONResponse:
    """Known accounts are licensed (the EAs refuse to start otherwise)."""
    data = await _body(request)
    number = str(data.get("accountNumber", ""))
    known = number and session.scalar(select(Account).where(Account.account_number == number))
    expiry = date(2099, 12, 31)
    days = (expiry - datetime.now(UTC).date()).days
    return JSONResponse(
        {
            "valid": bool(known),
            "expiryDate": expiry.isoformat(),
            "daysRemaining": days if known else 0,
            "message": "ok" if known else "unknown account",
        }
    )
