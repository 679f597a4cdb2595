"""Server-rendered dashboard: login, overview, settings editor, tokens.

Sessions are signed cookies (``SameSite=Strict``, HTTP-only); every form carries a
per-session CSRF token. No JavaScript build step: plain HTML forms and a meta refresh.
"""

from __future__ import annotations

import hmac
import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select

from mtponte.copy.server import admin
from mtponte.copy.server.book import apply_events
from mtponte.copy.server.copy_settings import CopySettings
from mtponte.copy.server.deps import IdPath, SessionDep, SettingsDep
from mtponte.copy.server.models import (
    Account,
    ApiToken,
    Event,
    ExecutionReport,
    FollowerHeartbeat,
    Operator,
    Snapshot,
    Subscription,
)
from mtponte.copy.server.security import verify_password
from mtponte.copy.server.service import events_after, master_online
from mtponte.errors import ConfigError

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
FOLLOWER_ONLINE_S = 60


def csrf_token(request: Request) -> str:
    tok = request.session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(24)
        request.session["csrf"] = tok
    return str(tok)


def check_csrf(request: Request, token: str) -> None:
    if not hmac.compare_digest(token, str(request.session.get("csrf", ""))):
        raise HTTPException(403, "invalid CSRF token; reload the page")


def operator(request: Request) -> str | None:
    op = request.session.get("operator")
    return str(op) if op else None


def page(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"csrf": csrf_token(request), "me": operator(request), **ctx}
    )


def login_required(request: Request) -> RedirectResponse | None:
    return None if operator(request) else RedirectResponse("/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    email: str = Form(...),
    password: str = Form(...),
    csrf: str = Form(...),
) -> Response:
    check_csrf(request, csrf)
    op = session.scalar(select(Operator).where(Operator.email == email))
    if op is None or not verify_password(password, op.password_hash):
        return page(request, "login.html", error="wrong e-mail or password")
    request.session.clear()
    request.session["operator"] = op.email
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form(...)) -> RedirectResponse:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _age(t: datetime | None) -> float | None:
    if t is None:
        return None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return (datetime.now(UTC) - t).total_seconds()


def _base_symbol(symbol: str) -> str:
    return symbol.split(".")[0].upper()


@router.get("/", response_class=HTMLResponse, response_model=None)
def overview(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if (r := login_required(request)) is not None:
        return r
    masters = list(session.scalars(select(Account).where(Account.role == "master")))
    books: dict[int, list[dict[str, Any]]] = {}
    for m in masters:
        snap = session.get(Snapshot, m.id)
        evs = events_after(session, m, snap.seq if snap else 0, limit=10_000)
        books[m.id] = apply_events(
            snap.positions if snap else [], [(e.kind, e.ticket, e.payload) for e in evs]
        )
    rows = []
    for sub in session.scalars(select(Subscription)):
        f = session.get(Account, sub.follower_id)
        hb = session.get(FollowerHeartbeat, sub.follower_id)
        age = _age(hb.received_at if hb else None)
        want = Counter(_base_symbol(p["symbol"]) for p in books.get(sub.master_id, []))
        have = Counter(_base_symbol(p["symbol"]) for p in (hb.positions if hb else []))
        drift = {s: (want[s], have[s]) for s in set(want) | set(have) if want[s] != have[s]}
        rows.append(
            {
                "sub": sub,
                "follower": f,
                "age": age,
                "online": age is not None and age <= FOLLOWER_ONLINE_S,
                "hb": hb,
                "drift": drift,
            }
        )
    events = list(session.scalars(select(Event).order_by(Event.id.desc()).limit(20)))
    reports = list(
        session.scalars(select(ExecutionReport).order_by(ExecutionReport.id.desc()).limit(100))
    )
    lat = [r.latency_ms for r in reversed(reports) if r.latency_ms is not None]
    return page(
        request,
        "overview.html",
        masters=[
            {
                "m": m,
                "online": master_online(m, settings.master_stale_s),
                "age": _age(m.last_seen),
                "positions": len(books[m.id]),
            }
            for m in masters
        ],
        rows=rows,
        events=events,
        reports=reports[:20],
        latency=_sparkline(lat),
    )


def _sparkline(values: list[float], w: int = 400, h: int = 60) -> str:
    if len(values) < 2:
        return ""
    hi = max(values) or 1.0
    pts = " ".join(
        f"{i * w / (len(values) - 1):.1f},{h - v / hi * (h - 4) - 2:.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg width="{w}" height="{h}" role="img" aria-label="copy latency">'
        f'<polyline fill="none" stroke="#1f77b4" points="{pts}"/></svg>'
        f" max {hi:.0f} ms"
    )


@router.get("/subscriptions/{sub_id}", response_class=HTMLResponse, response_model=None)
def edit_settings(request: Request, sub_id: IdPath, session: SessionDep) -> Response:
    if (r := login_required(request)) is not None:
        return r
    sub = session.get(Subscription, sub_id)
    if sub is None:
        raise HTTPException(404, "no such subscription")
    values = CopySettings.model_validate({**CopySettings().model_dump(), **sub.settings})
    return page(request, "settings.html", sub=sub, values=values.model_dump(), errors=[])


@router.post("/subscriptions/{sub_id}", response_class=HTMLResponse, response_model=None)
async def save_settings(request: Request, sub_id: IdPath, session: SessionDep) -> Response:
    if (r := login_required(request)) is not None:
        return r
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    sub = session.get(Subscription, sub_id)
    if sub is None:
        raise HTTPException(404, "no such subscription")
    current = {**CopySettings().model_dump(), **sub.settings}
    raw: dict[str, Any] = {}
    for name, field in CopySettings.model_fields.items():
        if field.annotation is bool:
            raw[name] = name in form  # an unchecked box is not posted
        elif name not in form:
            raw[name] = current[name]
        elif name in ("allowedSymbols", "allowedDirections"):
            raw[name] = [x.strip() for x in str(form[name]).split(",") if x.strip()]
        else:
            raw[name] = form[name]
    try:
        values = CopySettings.model_validate(raw)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return page(request, "settings.html", sub=sub, values=raw, errors=errors)
    sub.settings = values.model_dump()
    sub.version += 1
    session.commit()
    return RedirectResponse("/", status_code=303)


@router.get("/tokens", response_class=HTMLResponse, response_model=None)
def tokens(request: Request, session: SessionDep, new: str | None = None) -> Response:
    if (r := login_required(request)) is not None:
        return r
    return page(
        request,
        "tokens.html",
        tokens=list(session.scalars(select(ApiToken))),
        accounts=list(session.scalars(select(Account))),
        new=request.session.pop("new_token", None),
    )


@router.post("/tokens", response_model=None)
def issue(
    request: Request,
    session: SessionDep,
    scope: str = Form(...),
    account: str = Form(""),
    days: str = Form(""),
    csrf: str = Form(...),
) -> Response:
    if (r := login_required(request)) is not None:
        return r
    check_csrf(request, csrf)
    acc = session.get(Account, int(account)) if account.isdigit() else None
    try:
        secret = admin.issue_token(session, scope, acc, int(days) if days.isdigit() else None)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    session.commit()
    request.session["new_token"] = secret  # shown once, then dropped from the session
    return RedirectResponse("/tokens", status_code=303)


@router.post("/tokens/{token_id}/revoke", response_model=None)
def revoke(
    request: Request, token_id: IdPath, session: SessionDep, csrf: str = Form(...)
) -> Response:
    if (r := login_required(request)) is not None:
        return r
    check_csrf(request, csrf)
    try:
        admin.revoke_token(session, token_id)
    except ConfigError:
        raise HTTPException(404, "no such token") from None
    session.commit()
    request.app.state.edge.grants.refresh_soon()  # every worker within about a second
    return RedirectResponse("/tokens", status_code=303)
