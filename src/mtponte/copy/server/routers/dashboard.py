"""Server-rendered dashboard: login, overview, settings editor, tokens.

Sessions are signed cookies (``SameSite=Strict``, HTTP-only); every form carries a
per-session CSRF token. No JavaScript build step: plain HTML forms and a meta refresh.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mtponte.copy.server import admin
from mtponte.copy.server.copy_settings import CopySettings
from mtponte.copy.server.deps import MAX_INT, IdPath, SessionDep, SettingsDep
from mtponte.copy.server.models import (
    Account,
    ApiToken,
    Event,
    ExecutionReport,
    FollowerHeartbeat,
    LegacySlave,
    Operator,
    Subscription,
)
from mtponte.copy.server.security import hash_password, verify_password
from mtponte.copy.server.service import current_book, master_online
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


def operator(request: Request, session: Session) -> Operator | None:
    """The logged-in operator, checked against the database on every page: a session
    ends when its operator is removed, logs out anywhere (the epoch moves), or is older
    than ``session_max_age_s`` however active it has been."""
    email = request.session.get("operator")
    if not email:
        return None
    op = session.scalar(select(Operator).where(Operator.email == str(email)))
    max_age = request.app.state.settings.session_max_age_s
    login_at = request.session.get("login_at")
    if (
        op is None
        or request.session.get("epoch") != op.session_epoch
        or not isinstance(login_at, int | float)
        or time.time() - login_at > max_age
    ):
        request.session.clear()
        return None
    return op


def page(request: Request, name: str, me: Operator | None, **ctx: Any) -> HTMLResponse:
    r = templates.TemplateResponse(
        request, name, {"csrf": csrf_token(request), "me": me.email if me else None, **ctx}
    )
    r.headers["Cache-Control"] = "no-store"  # pages may show a new token's secret
    return r


def login_required(request: Request, session: Session) -> Operator | RedirectResponse:
    return operator(request, session) or RedirectResponse("/login", status_code=303)


@functools.cache
def _dummy_hash() -> str:
    """Checked against for an unknown e-mail, so the answer's timing does not tell which
    e-mails exist (made on first use: no work at import)."""
    return hash_password(secrets.token_urlsafe(16))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", None, error=None)


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
    ok = verify_password(password, op.password_hash if op is not None else _dummy_hash())
    if op is None or not ok:
        return page(request, "login.html", None, error="wrong e-mail or password")
    request.session.clear()
    request.session.update({"operator": op.email, "epoch": op.session_epoch})
    request.session["login_at"] = int(time.time())
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: str = Form(...)) -> RedirectResponse:
    """Ends every session of this operator (a copied cookie included)."""
    check_csrf(request, csrf)
    op = operator(request, session)
    if op is not None:
        op.session_epoch = admin.new_epoch()
        session.commit()
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
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
    masters = list(session.scalars(select(Account).where(Account.role == "master")))
    books: dict[int, list[dict[str, Any]]] = {}
    for m in masters:
        books[m.id] = current_book(session, m)[1]
    rows = []
    for sub in session.scalars(select(Subscription)):
        f = session.get(Account, sub.follower_id)
        hb = session.get(FollowerHeartbeat, sub.follower_id)
        age = _age(hb.received_at if hb else None)
        legacy = session.get(LegacySlave, sub.id)
        if legacy is not None and (hb is None or not hb.facts):
            # A Sentra Slave EA reports only how many copies it holds: compare that
            # with how many it was told to hold.
            told, held = len(legacy.held), hb.positions_count if hb else 0
            drift = {"positions": (told, held)} if told != held else {}
        else:
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
        me,
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
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
    sub = session.get(Subscription, sub_id)
    if sub is None:
        raise HTTPException(404, "no such subscription")
    values = CopySettings.model_validate({**CopySettings().model_dump(), **sub.settings})
    return page(request, "settings.html", me, sub=sub, values=values.model_dump(), errors=[])


async def form_data(request: Request) -> FormData:
    """The posted form, read on the event loop so the route can be a plain ``def`` whose
    database work runs in the thread pool (a busy SQLite lock must not stall the loop)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


@router.post("/subscriptions/{sub_id}", response_class=HTMLResponse, response_model=None)
def save_settings(request: Request, sub_id: IdPath, session: SessionDep, form: FormDep) -> Response:
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
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
        elif getattr(field.annotation, "__origin__", None) is list:
            raw[name] = [x.strip() for x in str(form[name]).split(",") if x.strip()]
        else:
            raw[name] = form[name]
    partial = str(form.get("legacy_partial", sub.legacy_partial))
    try:
        values = CopySettings.model_validate(raw)
        if partial not in admin.LEGACY_PARTIAL:
            raise ValueError(f"legacy_partial: {partial!r} is not keep or reopen")
    except (ValidationError, ValueError) as exc:
        errors = (
            [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [str(exc)]
        )
        return page(request, "settings.html", me, sub=sub, values=raw, errors=errors)
    sub.legacy_partial = partial
    sub.settings = values.model_dump()
    sub.version += 1
    session.commit()
    request.app.state.edge.slaves.forget(sub.id)  # other workers: within its ttl
    return RedirectResponse("/", status_code=303)


@router.get("/tokens", response_class=HTMLResponse, response_model=None)
def tokens(request: Request, session: SessionDep) -> Response:
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
    return _tokens_page(request, session, me, None)


def _tokens_page(request: Request, session: Session, me: Operator, new: str | None) -> Response:
    return page(
        request,
        "tokens.html",
        me,
        tokens=list(session.scalars(select(ApiToken))),
        accounts=list(session.scalars(select(Account))),
        new=new,
    )


def _form_int(value: str, name: str, low: int, high: int) -> int | None:
    """A whole number typed in a form (``None`` when left empty); 400 otherwise."""
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise HTTPException(400, f"{name} must be a whole number from {low} to {high}")
    return int(value)


@router.post("/tokens", response_model=None)
def issue(
    request: Request,
    session: SessionDep,
    scope: str = Form(...),
    account: str = Form(""),
    days: str = Form(""),
    csrf: str = Form(...),
) -> Response:
    """Issue a token and show its secret once, in this answer only (``no-store``; the
    secret is never put in the session cookie)."""
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
    check_csrf(request, csrf)
    account_id = _form_int(account, "account", 1, MAX_INT)
    acc = session.get(Account, account_id) if account_id is not None else None
    if account_id is not None and acc is None:
        raise HTTPException(400, f"no account {account_id}")
    try:
        secret = admin.issue_token(
            session, scope, acc, _form_int(days, "days", 1, admin.MAX_TOKEN_DAYS)
        )
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    session.commit()
    return _tokens_page(request, session, me, secret)


@router.post("/tokens/{token_id}/revoke", response_model=None)
def revoke(
    request: Request, token_id: IdPath, session: SessionDep, csrf: str = Form(...)
) -> Response:
    me = login_required(request, session)
    if isinstance(me, RedirectResponse):
        return me
    check_csrf(request, csrf)
    try:
        admin.revoke_token(session, token_id)
    except ConfigError:
        raise HTTPException(404, "no such token") from None
    session.commit()
    request.app.state.edge.grants.refresh_soon()  # every worker within about a second
    return RedirectResponse("/tokens", status_code=303)
