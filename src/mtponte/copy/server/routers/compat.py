"""Routes wire-compatible with the Sentra Master/Slave EAs (seed 003).

The token rides in the path (``/api/mt/copy/t/<token>/slave-signals``) so an existing
EA only needs its server URL changed; the token's scope must match the account asked
for. Responses are compact JSON with the keys in the order the EAs' substring parser
expects (``"success":true`` exact, ``ticket`` first and an unquoted integer). A stale
master answers ``{"success":false,...}`` — never an empty list, which would make every
slave close all its copies.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
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
from mtponte.copy.server.feed import EventFeed
from mtponte.copy.server.legacy import heartbeat_is_newest, master_event_ignored, slave_answer
from mtponte.copy.server.models import (
    Account,
    FollowerHeartbeat,
    LegacySlave,
    Subscription,
    utcnow,
)
from mtponte.copy.server.schemas import (
    SentraLicense,
    SentraSignal,
    SentraSlaveHeartbeat,
    sentra_positions,
)
from mtponte.copy.server.security import token_hash
from mtponte.copy.server.service import (
    current_book,
    lock_master,
    publish_event,
    save_snapshot,
    touch,
)
from mtponte.copy.server.signals import load_book, names_master, poll_grant

router = APIRouter(tags=["sentra-compat"])
_log = logging.getLogger("mtponte.copy")
PREFIX = "/api/mt/copy/t/{token}"


def fail(message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status)


async def raw_body(request: Request) -> bytes:
    """The request body, read on the event loop so the route itself can be a plain
    ``def``: FastAPI then runs its database work in the thread pool, and a busy SQLite
    lock never stalls the polls and streams this worker serves."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
M = TypeVar("M", bound=BaseModel)


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with its ``$ref``s to ``$defs`` replaced by what they name."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (the EAs' bodies are read raw, then
    validated by ``model``): documents it, and lets API fuzzers reach the parser."""
    schema = model.model_json_schema()
    body = _inline(schema, schema.get("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


def parse(model: type[M], raw: bytes) -> M:
    """``raw`` JSON validated by ``model`` (the same strict types as the native API);
    anything else is a 400 that names the field."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise HTTPException(400, describe(exc)) from None


def describe(exc: ValidationError, most: int = 3) -> str:
    """A validation error as one line: ``field: problem; ...``."""
    parts = []
    for e in exc.errors(include_url=False)[:most]:
        where = ".".join(str(x) for x in e["loc"] if x not in ("int", "str"))
        parts.append(f"{where}: {e['msg']}" if where else str(e["msg"]))
    more = len(exc.errors()) - most
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _master_by(session: Session, account_number: str, email: str | None) -> Account | None:
    """The master named by its account number, else by e-mail (admin tokens only); the
    lowest id when one number exists at two brokers, as in ``signals``."""
    named = names_master(Account, account_number, email)
    if named is None:
        return None
    q = select(Account).where(Account.role == "master", named)
    return session.scalar(q.order_by(Account.id).limit(1))


def _publisher(session: Session, p: Principal, sig: SentraSignal) -> Account:
    """The master a post is for: the publish token's own account (so one account number
    at two brokers is never ambiguous); the body may name it, and must not name another.
    An admin token names the master in the body."""
    number = sig.account_number or ""
    email = sig.master_email or sig.user_email
    if p.scope == "admin":
        master = _master_by(session, number, email)
        if master is None:
            raise HTTPException(404, "no master with that account number or e-mail")
        return master
    master = session.get(Account, p.account_id) if p.account_id else None
    if p.scope != "publish" or master is None or master.role != "master":
        raise HTTPException(403, "this token may not publish")
    if (number and number != master.account_number) or (
        not number and email and email != master.email
    ):
        raise HTTPException(403, "this token may not publish for that account")
    return master


@router.post(PREFIX + "/master-signal", openapi_extra=documented(SentraSignal))
def master_signal(
    token: str,
    raw: RawBody,
    session: SessionDep,
    settings: SettingsDep,
    feed: FeedDep,
) -> JSONResponse:
    """``action`` open/close/modify → a sequenced event; heartbeat → full snapshot."""
    principal = lookup_token(session, token)  # 401 before anything in the body is read
    if principal.scope not in ("publish", "admin"):
        raise HTTPException(403, "this token may not publish")
    sig = parse(SentraSignal, raw)
    master = _publisher(session, principal, sig)
    lock_master(session, master)  # the Master EA's state below is read and written under it
    session.refresh(master)
    if sig.action == "heartbeat":
        assert sig.positions is not None  # the model requires the list
        return _heartbeat(session, master, sig, feed)
    why = master_event_ignored(master, sig, current_book(session, master)[1])
    session.commit()  # the EA state may have changed (a ticket dealt again): kept even
    # when publish_event below finds the post a repeat and rolls back
    if why:
        return JSONResponse({"success": True, "ignored": why})
    assert sig.ticket is not None
    payload: dict[str, Any] = {"kind": sig.action, "ticket": sig.ticket}
    symbol = sig.symbol or _symbol_of(session, master, sig.ticket)  # close/modify carry none
    if symbol:
        payload["symbol"] = symbol
    payload["time"] = int(sig.timestamp * 1000)
    if sig.action == "open":
        payload |= {
            "side": "buy" if sig.type == 0 else "sell",
            "volume": sig.lots,
            "price": sig.open_price,
            "open_time": sig.open_time,
        }
        for ours, level in (("sl", sig.stop_loss), ("tp", sig.take_profit)):
            if level > 0:
                payload[ours] = level
    if sig.action == "modify":  # the EA sends both levels; 0 means the level was removed
        payload["sl"] = sig.stop_loss or None
        payload["tp"] = sig.take_profit or None
    if sig.action == "close" and sig.close_price > 0:
        payload["price"] = sig.close_price
    # No idempotency key: the EAs send none that tells events apart (see publish_event).
    ev, created = publish_event(
        session, master, sig.action, None, sig.ticket, payload, settings.retention_events
    )
    feed.commit(session, ev, created)
    return JSONResponse({"success": True, "seq": ev.seq})


def _symbol_of(session: Session, master: Account, ticket: str) -> str | None:
    for p in current_book(session, master)[1]:
        if p["ticket"] == ticket:
            return str(p["symbol"])
    return None


def _heartbeat(
    session: Session, master: Account, sig: SentraSignal, feed: EventFeed
) -> JSONResponse:
    """Store the Master's full position list. A position that does not validate never
    rejects the others: it is kept as the book last knew it (so no copy of it is
    closed), or left out when it was never known; the answer lists it. A heartbeat
    older (by its ``timestamp``) than one already stored is ignored: the EA re-sends
    failed posts from its queue after newer ones."""
    assert sig.positions is not None
    good, bad = sentra_positions(sig.positions)
    positions = [p.native() for p in good]
    before = current_book(session, master)[1]
    if not heartbeat_is_newest(master, sig.timestamp, before, positions):
        touch(session, master)  # the master is alive; its newer book stands
        session.commit()
        return JSONResponse({"success": True, "ignored": "older than the last heartbeat"})
    if bad:
        known = {p["ticket"]: p for p in before}
        have = {p["ticket"] for p in positions}
        for ticket, _ in bad:
            t = str(ticket) if isinstance(ticket, int | str) else ""
            if t in known and t not in have:
                positions.append(known[t])
                have.add(t)
        _log.warning(
            "master %d heartbeat: %d position(s) unreadable, kept as last known: %s",
            master.id,
            len(bad),
            "; ".join(f"ticket {t!r}: {why}" for t, why in bad[:5]),
        )
    save_snapshot(session, master, positions)
    session.commit()
    feed.snapshot_saved(master.id)
    answer: dict[str, Any] = {"success": True, "positions_count": len(positions)}
    if bad:
        answer["rejected"] = [{"ticket": str(t), "error": why} for t, why in bad[:20]]
    return JSONResponse(answer)


def _follower_and_master(
    session: Session, p: Principal, master_account: str, master_email: str | None
) -> tuple[Account, Account]:
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
    of the grants, a master just gone offline) and fills the edge's caches. The master
    asked for is read from the raw query string by :func:`signals_key`, exactly as the
    edge reads it, so both always mean the same master.
    """
    edge: Edge = request.app.state.edge
    auth_key = signals_key(token_hash(token), request.scope["query_string"])
    grant = edge.grants.get(auth_key)
    if grant is None:
        gen = edge.grants.generation()  # before the read: a revocation after it wins
        grant = poll_grant(session, *auth_key)
        if grant is None:  # refused: let the detailed checks say why
            _follower_and_master(session, lookup_token(session, token), *auth_key[1:])
            raise HTTPException(403, "this follower does not follow that master")
        edge.grants.put(auth_key, grant, gen)
    master_id = grant.master_id
    book = edge.books.get(master_id) or load_book(
        session, edge.books, master_id, settings.master_stale_s
    )
    if book is None:
        return fail("master not found")
    if book.offline:
        return Response(book.body, media_type="application/json")
    sub_id = grant.sub_id or _subscription_id(session, grant.master_id, token)
    body, steady = slave_answer(session, sub_id, book.body, settings.master_stale_s)
    if steady:
        edge.slaves.put(sub_id, book.body, body)
    else:
        edge.slaves.forget(sub_id)
    return Response(body, media_type="application/json")


def _subscription_id(session: Session, master_id: int, token: str) -> int:
    p = lookup_token(session, token)
    sub = session.scalar(
        select(Subscription.id).where(
            Subscription.follower_id == p.account_id, Subscription.master_id == master_id
        )
    )
    if sub is None:
        raise HTTPException(403, "this follower does not follow that master")
    return int(sub)


@router.post(PREFIX + "/slave-heartbeat", openapi_extra=documented(SentraSlaveHeartbeat))
def slave_heartbeat(token: str, raw: RawBody, session: SessionDep) -> JSONResponse:
    principal = lookup_token(session, token)
    hb_in = parse(SentraSlaveHeartbeat, raw)
    follower, _ = _follower_and_master(session, principal, hb_in.master_account_id or "", None)
    hb = session.get(FollowerHeartbeat, follower.id) or FollowerHeartbeat(follower_id=follower.id)
    hb.received_at = utcnow()
    hb.positions_count = hb_in.positions_count
    hb.balance, hb.equity = hb_in.balance, hb_in.equity
    session.add(hb)
    follower.last_seen = utcnow()
    session.commit()
    return JSONResponse({"success": True})


@router.get(PREFIX + "/settings")
def settings_(
    token: str,
    request: Request,
    session: SessionDep,
    user_email: str | None = None,
    master_account_id: str = "",
    slave_account_id: str | None = None,
) -> JSONResponse:
    principal = lookup_token(session, token)
    follower, master = _follower_and_master(session, principal, master_account_id, None)
    sub = session.scalar(
        select(Subscription).where(
            Subscription.follower_id == follower.id, Subscription.master_id == master.id
        )
    )
    # Only the keys the legacy EA knows: its substring parser could match ours.
    merged = CopySettings.model_validate(sub.settings if sub else {}).legacy()
    merged["isActive"] = bool(sub and sub.active and merged.get("isActive", True))
    # The Slave EA reads its settings only when it starts, with an empty map of copies
    # (kept in memory only): from now on it holds what it is told again.
    told = session.get(LegacySlave, sub.id) if sub else None
    if told is not None and told.held:
        told.held = {}
        session.commit()
    if sub is not None:
        request.app.state.edge.slaves.forget(sub.id)
    return JSONResponse({"success": True, "settings": ea_lists(merged)})


def ea_lists(settings: dict[str, object]) -> dict[str, object]:
    """``settings`` as the Slave EA reads them: every list as one comma-joined string
    (it reads a value that is not quoted only up to its first comma, so
    ``["EURUSD","GBPUSD"]`` would be one symbol, and splits a quoted one on commas);
    a daily limit of 0 (none) as one never reached (the EA refuses every trade once
    its counter, which starts at 0, is ``>=`` the limit)."""
    out = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in settings.items()}
    if not out.get("maxDailyLoss"):
        out["maxDailyLoss"] = NO_LIMIT
    if not out.get("maxDailyTrades"):
        out["maxDailyTrades"] = int(NO_LIMIT)
    return out


NO_LIMIT = 1e12


LICENSE_EXPIRY = date(2099, 12, 31)


@router.post("/api/ea-license/validate", openapi_extra=documented(SentraLicense))
def license_validate(raw: RawBody) -> JSONResponse:
    """Every well-formed account number is licensed (the EAs refuse to start otherwise).
    The answer is the same for every account, known or not, so the route tells nothing
    about who is registered; it reads no database and is rate-limited per address."""
    parse(SentraLicense, raw)
    days = (LICENSE_EXPIRY - datetime.now(UTC).date()).days
    return JSONResponse(
        {
            "valid": True,
            "expiryDate": LICENSE_EXPIRY.isoformat(),
            "daysRemaining": days,
            "message": "ok",
        }
    )
