"""Administration used by ``mtponte admin`` and tests: accounts, subscriptions, tokens."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mtponte.copy.engine.settings import CopySettings
from mtponte.copy.server.models import Account, ApiToken, Operator, Subscription
from mtponte.copy.server.security import SCOPES, hash_password, new_token, token_hash
from mtponte.copy.server.service import bump_auth_epoch
from mtponte.errors import ConfigError

MAX_TOKEN_DAYS = 3650


def _flush(session: Session, what: str) -> None:
    """Flush; a unique-constraint violation is one line, not a traceback."""
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConfigError(f"{what} already exists") from None


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
    if not (account_number.isascii() and account_number.isalnum() and len(account_number) <= 40):
        raise ConfigError("the account number is 1 to 40 ASCII letters or digits")
    if account_type not in ("standard", "cent"):
        raise ConfigError("account type must be standard or cent")
    acc = Account(
        role=role,
        account_number=account_number,
        broker=broker,
        email=email,
        account_type=account_type,
        currency=currency,
    )
    session.add(acc)
    _flush(session, f"a {role} account {account_number} at broker {broker!r}")
    return acc


LEGACY_PARTIAL = ("keep", "reopen")


def subscribe(
    session: Session,
    follower: Account,
    master: Account,
    settings: dict[str, Any] | None = None,
    legacy_partial: str = "keep",
) -> Subscription:
    """Make ``follower`` copy ``master``. ``legacy_partial``: what a master's partial
    close does to a legacy Sentra slave's copy, "keep" it until the full close or
    "reopen" it at the smaller size (docs/copy-server.md)."""
    if follower.role != "follower":
        raise ConfigError(f"account {follower.id} is a {follower.role}, not a follower")
    if master.role != "master":
        raise ConfigError(f"account {master.id} is a {master.role}, not a master")
    try:
        CopySettings.model_validate(settings or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"copy settings: {where}: {first['msg']}") from None
    if legacy_partial not in LEGACY_PARTIAL:
        raise ConfigError(f"legacy partial close: {legacy_partial!r} is not keep or reopen")
    sub = Subscription(
        follower_id=follower.id,
        master_id=master.id,
        settings=settings or {},
        legacy_partial=legacy_partial,
    )
    session.add(sub)
    _flush(session, f"the subscription of follower {follower.id} to master {master.id}")
    return sub


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as copy settings (lists comma-separated), validated."""
    values: dict[str, Any] = {}
    fields = CopySettings.model_fields
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"--set {pair!r}: use KEY=VALUE with KEY one of {known}")
        is_list = getattr(fields[key].annotation, "__origin__", None) is list
        values[key] = [x.strip() for x in raw.split(",") if x.strip()] if is_list else raw.strip()
    try:
        return CopySettings.model_validate(values).model_dump(include=set(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"copy settings: {where}: {first['msg']}") from None


def reset_risk(session: Session, follower: Account, master: Account) -> None:
    """Clear the daily-loss stop of ``follower``'s copy of ``master``."""
    from mtponte.copy.server.targets import reset_book_risk

    sub = session.scalar(
        select(Subscription).where(
            Subscription.follower_id == follower.id, Subscription.master_id == master.id
        )
    )
    if sub is None:
        raise ConfigError(f"follower {follower.id} does not follow master {master.id}")
    reset_book_risk(session, sub)


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
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise ConfigError(f"days must be from 1 to {MAX_TOKEN_DAYS} (omit it for no expiry)")
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
    if not email.strip():
        raise ConfigError("an operator needs an e-mail")
    op = Operator(email=email, password_hash=hash_password(password), session_epoch=new_epoch())
    session.add(op)
    _flush(session, f"operator {email}")
    return op


def new_epoch() -> int:
    """A random session key: a cookie names it, so a removed and re-created operator
    (same e-mail) never accepts a cookie of the old one."""
    return 1 + secrets.randbelow(2**31 - 2)


def _operator(session: Session, email: str) -> Operator:
    op = session.scalar(select(Operator).where(Operator.email == email))
    if op is None:
        raise ConfigError(f"no operator {email}")
    return op


def logout_operator(session: Session, email: str) -> Operator:
    """End every dashboard session of an operator (at their next page)."""
    op = _operator(session, email)
    op.session_epoch = new_epoch()
    session.flush()
    return op


def remove_operator(session: Session, email: str) -> None:
    """Delete an operator; their open sessions end at their next page."""
    session.delete(_operator(session, email))
    session.flush()
