"""SQLAlchemy 2 models of the copy server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(t: datetime) -> datetime:
    """``t`` with UTC attached when the database handed it back naive (SQLite)."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Operator(Base):
    """A dashboard user. ``session_epoch`` (random) is part of every session cookie;
    drawing a new one (log-out, ``mtponte admin logout``) ends every session of this
    operator at once."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A trading account: a master (publishes) or a follower (copies)."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # master | follower
    email: Mapped[str] = mapped_column(String(200), default="")
    platform: Mapped[str] = mapped_column(String(5), default="MT5")
    broker: Mapped[str] = mapped_column(String(100), default="")
    account_number: Mapped[str] = mapped_column(String(40))
    account_type: Mapped[str] = mapped_column(String(10), default="standard")  # or cent
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # masters: last event seq
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Sentra Master EA (see routers/compat.py): {"hb_ts": newest heartbeat timestamp,
    # "dealt": {ticket: timestamp} of positions reduced or dealt again while open}
    sentra_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    __table_args__ = (UniqueConstraint("role", "account_number", "broker"),)


class Subscription(Base):
    """A follower copying a master, with its copy settings (versioned for ETags)."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    master_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a master's partial close does to a legacy Sentra slave's copy (which cannot
    # be reduced): "keep" it until the full close, or "reopen" it at the smaller size.
    legacy_partial: Mapped[str] = mapped_column(String(10), default="keep", server_default="keep")
    __table_args__ = (UniqueConstraint("follower_id", "master_id"),)


class ApiToken(Base):
    """A bearer token, stored as a hash; ``scope`` is publish, follow or admin."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in the dashboard, not secret
    scope: Mapped[str] = mapped_column(String(10))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Event(Base):
    """One master event; ``seq`` strictly increases per master."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    master_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))  # open | close | modify | partial_close
    idempotency_key: Mapped[str] = mapped_column(String(100))
    ticket: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        UniqueConstraint("master_id", "seq"),
        UniqueConstraint("master_id", "idempotency_key"),
    )


class Snapshot(Base):
    """The latest full position set of a master (one row per master)."""

    __tablename__ = "snapshots"
    master_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # last event seq when it was taken
    positions: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FollowerHeartbeat(Base):
    """The latest heartbeat of a follower (one row per follower)."""

    __tablename__ = "follower_heartbeats"
    follower_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    positions_count: Mapped[int] = mapped_column(Integer, default=0)
    balance: Mapped[float | None] = mapped_column(Float, nullable=True)
    equity: Mapped[float | None] = mapped_column(Float, nullable=True)
    positions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    instance: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LegacySlave(Base):
    """What the server told one legacy Sentra slave it holds (per subscription):
    ``held`` maps each master ticket to the volume, SL and TP of its copy."""

    __tablename__ = "legacy_slaves"
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    held: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExecutionReport(Base):
    """What a follower did with one master event. ``report_id`` (client-generated,
    optional: older followers send none) is stored once per follower: a resend after a
    lost answer is not a second report."""

    __tablename__ = "execution_reports"
    __table_args__ = (
        Index("ux_execution_reports_follower_report", "follower_id", "report_id", unique=True),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    master_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    event_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # copied | skipped | failed
    reason: Mapped[str] = mapped_column(String(200), default="")
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    slippage_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    target_id: Mapped[str] = mapped_column(String(80), default="", server_default="")
    action: Mapped[str] = mapped_column(String(20), default="", server_default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    report_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TargetBook(Base):
    """The copy engine's state and the follower's targets, per subscription.

    ``inputs`` names what the book was computed from (master seq and snapshot, master
    freshness, settings version, follower facts): a read with the same inputs reuses
    it. ``version`` moves only when the targets change (the follower's ETag).
    """

    __tablename__ = "target_books"
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    targets: Mapped[list[Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    inputs: Mapped[str] = mapped_column(String(200), default="", server_default="")
    master_time_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CopyDecision(Base):
    """One decision of the copy engine for a subscription, with its reason and factors."""

    __tablename__ = "copy_decisions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    master_ticket: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(300))
    factors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ServerState(Base):
    """One row of server-wide counters.

    ``auth_epoch`` is bumped by every change that takes access away (a revoked token);
    workers poll it about once a second and drop their cached authorizations when it
    moves, so a revocation holds on every worker within a second, Redis or not.
    """

    __tablename__ = "server_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    auth_epoch: Mapped[int] = mapped_column(BigInteger, default=0)
