"""Administration used by ``mtponte admin`` and tests: accounts, subscriptions, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mtponte.copy.server.models import Account, ApiToken, Operator, Subscription
from mtponte.copy.server.security import SCOPES, hash_password, new_token, token_hash
from mtponte.copy.server.service import bump_auth_epoch
from mtponte.errors import ConfigError


def add_account(
    session: Session,
    role: str,
    account_number: str,
    broker: str = "",
    email: str = "",
    account_type: str = "standard",
    currency: str = "USD",
) -> Account:
    if role not in ("master", "follower"):
        raise ConfigError("role must be master or follower")
    acc = Account(
        role=role,
        account_number=account_number,
        broker=broker,
        email=email,
        account_type=account_type,
        currency=currency,
    )
    session.add(acc)
    session.flush()
    return acc


def subscribe(
    session: Session, follower: Account, master: Account, settings: dict[str, Any] | None = None
) -> Subscription:
    sub = Subscription(follower_id=follower.id, master_id=master.id, settings=settings or {})
    session.add(sub)
    session.flush()
    return sub


def issue_token(
    session: Session, scope: str, account: Account | None, days: int | None = None
) -> str:
    """Create a token; the secret is returned once and only its hash is stored."""
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}")
    if scope != "admin" and account is None:
        raise ConfigError(f"a {scope} token is bound to one account")
    if scope == "publish" and account is not None and account.role != "master":
        raise ConfigError("publish tokens are for master accounts")
    if scope == "follow" and account is not None and account.role != "follower":
        raise ConfigError("follow tokens are for follower accounts")
    token = new_token()
    session.add(
        ApiToken(
            token_hash=token_hash(token),
            prefix=token[:12],
            scope=scope,
            account_id=account.id if account else None,
            expires_at=datetime.now(UTC) + timedelta(days=days) if days else None,
        )
    )
    session.flush()
    return token


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token; every worker stops accepting it within about a second."""
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise ConfigError(f"no token {token_id}")
    tok.revoked = True
    bump_auth_epoch(session)
    session.flush()
    return tok


def add_operator(session: Session, email: str, password: str) -> Operator:
    if len(password) < 10:
        raise ConfigError("operator passwords need at least 10 characters")
    op = Operator(email=email, password_hash=hash_password(password))
    session.add(op)
    session.flush()
    return op
