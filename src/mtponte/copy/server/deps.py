"""FastAPI dependencies: database sessions, settings and scoped-token authentication."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from mtponte.copy.server.feed import EventFeed
from mtponte.copy.server.models import Account, ApiToken, aware
from mtponte.copy.server.notifier import Notifier
from mtponte.copy.server.security import token_hash
from mtponte.copy.server.settings import ServerSettings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def get_notifier(request: Request) -> Notifier:
    return request.app.state.notifier


def get_feed(request: Request) -> EventFeed:
    return request.app.state.feed


MAX_INT = 2**62  # ids and sequence numbers fit every database's BIGINT
IdPath = Annotated[int, Path(ge=1, le=MAX_INT)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]
FeedDep = Annotated[EventFeed, Depends(get_feed)]
_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's scope and the account it is bound to."""

    scope: str
    account_id: int | None
    token_digest: str = ""  # to check the same token again later (long-lived responses)
    expires: float = math.inf  # the token's expiry, epoch seconds


def lookup_token(session: Session, token: str | None) -> Principal:
    """Authenticate ``token``; 401 with a clear message otherwise (never says which part)."""
    if not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return lookup_digest(session, token_hash(token))


def lookup_digest(session: Session, digest: str) -> Principal:
    """:func:`lookup_token` by the token's hash (re-checks of a long-lived response)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    now = datetime.now(UTC)
    if row is None or row.revoked or (row.expires_at is not None and aware(row.expires_at) <= now):
        raise HTTPException(
            401, "invalid, revoked or expired token", headers={"WWW-Authenticate": "Bearer"}
        )
    expires = math.inf if row.expires_at is None else aware(row.expires_at).timestamp()
    return Principal(row.scope, row.account_id, digest, expires)


def bearer(
    session: SessionDep, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return lookup_token(session, cred.credentials if cred else None)


PrincipalDep = Annotated[Principal, Depends(bearer)]


def bearer_short(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Authenticate with a session closed at once: for long-lived responses (long poll,
    SSE) that must not pin a pooled database connection while they wait."""
    with request.app.state.sessions() as session:
        return lookup_token(session, cred.credentials if cred else None)


ShortPrincipalDep = Annotated[Principal, Depends(bearer_short)]


def require(principal: Principal, scope: str, account: Account | None) -> None:
    """403 unless ``principal`` has ``scope`` for ``account`` (admin may do anything)."""
    if principal.scope == "admin":
        return
    if principal.scope != scope or account is None or principal.account_id != account.id:
        raise HTTPException(403, f"this token may not {scope} for this account")


def get_account(session: Session, account_id: int, role: str) -> Account:
    acc = session.get(Account, account_id)
    if acc is None or acc.role != role:
        raise HTTPException(404, f"no {role} account {account_id}")
    return acc
