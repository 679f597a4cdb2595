"""Request and response schemas of the native API (Create / Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Price = Field(None, gt=0, allow_inf_nan=False)


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket: str = Field(pattern=r"^\d{1,20}$")
    symbol: str = Field(min_length=1, max_length=40)
    side: Literal["buy", "sell"]
    volume: float = Field(gt=0, allow_inf_nan=False)
    open_price: float = Field(gt=0, allow_inf_nan=False)
    sl: float | None = Price
    tp: float | None = Price
    open_time: int = Field(0, ge=0, le=2**40, description="epoch seconds")


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["open", "close", "modify", "partial_close"]
    idempotency_key: str = Field(min_length=1, max_length=100)
    ticket: str = Field(pattern=r"^\d{1,20}$")
    symbol: str = Field(min_length=1, max_length=40)
    side: Literal["buy", "sell"] | None = None
    volume: float | None = Field(None, gt=0, allow_inf_nan=False)
    price: float | None = Price
    sl: float | None = Price
    tp: float | None = Price
    time: int | None = Field(None, ge=0, le=2**50, description="master time, epoch ms")


class EventPublic(BaseModel):
    seq: int
    kind: str
    ticket: str
    payload: dict[str, Any]
    created_at: datetime


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions: list[PositionIn] = Field(max_length=1000)


class EventsPublic(BaseModel):
    """Events after the cursor, or ``resync`` with the master's current snapshot."""

    events: list[EventPublic] = []
    cursor: int
    resync: bool = False
    snapshot: list[dict[str, Any]] | None = None
    master_online: bool


class HeartbeatCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions: list[PositionIn] = Field(default_factory=list, max_length=1000)
    balance: float | None = Field(None, allow_inf_nan=False)
    equity: float | None = Field(None, allow_inf_nan=False)
    cursor: int = Field(0, ge=0, le=2**62)


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    master_id: int = Field(ge=1, le=2**62)
    event_seq: int | None = Field(None, ge=0, le=2**62)
    status: Literal["copied", "skipped", "failed"]
    reason: str = Field("", max_length=200)
    latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    slippage_points: float | None = Field(None, allow_inf_nan=False)
