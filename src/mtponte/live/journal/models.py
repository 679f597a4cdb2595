"""SQLAlchemy 2 models of the live journal: what the monitor saw, decided and did."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One start of the monitor (a replay or a live session)."""

    __tablename__ = "live_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    mode: Mapped[str] = mapped_column(String(20))  # log_only | trade
    broker: Mapped[str] = mapped_column(String(20))  # paper | bridge | mt5
    feed: Mapped[str] = mapped_column(String(20))  # replay | ...
    symbol: Mapped[str] = mapped_column(String(40))
    config: Mapped[str] = mapped_column(Text, default="")  # the validated config, JSON


class BarSeen(Base):
    """A closed bar handed to the strategy."""

    __tablename__ = "live_bars"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    tick_volume: Mapped[float] = mapped_column(Float)
    real_volume: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignalRow(Base):
    """A strategy signal."""

    __tablename__ = "live_signals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    bar_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    setup_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    side: Mapped[str] = mapped_column(String(5))
    kind: Mapped[str] = mapped_column(String(10))
    price: Mapped[float | None] = mapped_column(Float, nullable=True)
    sl: Mapped[float | None] = mapped_column(Float, nullable=True)
    tp: Mapped[float | None] = mapped_column(Float, nullable=True)
    sl_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    tp_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    atr: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(40), default="")  # sent | refused:<rule> | ...
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskDecisionRow(Base):
    """One rule's answer about one signal."""

    __tablename__ = "live_risk_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("live_signals.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(300))


class CommandRow(Base):
    """An order request sent to the broker (written before it is sent)."""

    __tablename__ = "live_commands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    tag: Mapped[str] = mapped_column(String(31), index=True)  # order comment
    kind: Mapped[str] = mapped_column(String(20))  # stop | market | close | cancel
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str | None] = mapped_column(String(5), nullable=True)
    volume: Mapped[float | None] = mapped_column(Float, nullable=True)
    price: Mapped[float | None] = mapped_column(Float, nullable=True)
    sl: Mapped[float | None] = mapped_column(Float, nullable=True)
    tp: Mapped[float | None] = mapped_column(Float, nullable=True)
    target: Mapped[str | None] = mapped_column(String(40), nullable=True)  # ticket acted on
    state: Mapped[str] = mapped_column(String(20))  # pending | done | refused | unknown
    retcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FillRow(Base):
    """An execution observed on the broker for one of our tags."""

    __tablename__ = "live_fills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    tag: Mapped[str] = mapped_column(String(31), index=True)
    entry: Mapped[str] = mapped_column(String(3))  # in | out
    side: Mapped[str] = mapped_column(String(5))
    volume: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    bar_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # bar it happened in
    ticket: Mapped[str] = mapped_column(String(40), default="")


class TradeRow(Base):
    """A closed round trip, as written to ``trades.csv``."""

    __tablename__ = "live_trades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    tag: Mapped[str] = mapped_column(String(31))
    entry_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exit_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    side: Mapped[str] = mapped_column(String(5))
    volume: Mapped[float] = mapped_column(Float)
    entry_price: Mapped[float] = mapped_column(Float)
    exit_price: Mapped[float] = mapped_column(Float)
    sl: Mapped[float] = mapped_column(Float)
    tp: Mapped[float] = mapped_column(Float)
    pnl_points: Mapped[float] = mapped_column(Float)
    pnl_money: Mapped[float] = mapped_column(Float)
    exit_reason: Mapped[str] = mapped_column(String(10))


class Heartbeat(Base):
    """The monitor is alive (one row per heartbeat interval)."""

    __tablename__ = "live_heartbeats"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bars_seen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")


class ConfigChange(Base):
    """A configuration applied (or refused) while running, or at start."""

    __tablename__ = "live_config_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted: Mapped[bool] = mapped_column(Boolean)
    changes: Mapped[str] = mapped_column(Text)  # JSON {key: [old, new]} or the errors


class AlertRow(Base):
    """Something a human must look at (the daily guard tripped or was reset)."""

    __tablename__ = "live_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(40))  # guard_tripped | guard_reset
    message: Mapped[str] = mapped_column(String(500))
    data: Mapped[str] = mapped_column(Text, default="")  # JSON
