"""Bridge protocol v1: the contract between Python and the MT5 executor (EA).

These pydantic models are the single source of truth: ``docs/bridge-protocol.md``
describes them, ``mql5/bridge-protocol.schema.json`` is generated from them, and
``mql5/Include/Mtponte/Protocol.mqh`` (the EA's constants) is generated from the
enums here (``mtponte bridge schema`` regenerates both; a test fails if they drift).

Wire format: UTF-8 JSON objects. Times are integer epoch milliseconds, UTC. Tickets
are strings (64-bit integers do not survive every JSON reader).
"""

from __future__ import annotations

import math
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PROTOCOL_VERSION: Literal[1] = 1
DEFAULT_TTL_MS = 10_000
KILL_COMMENT = "mtp:kill"  # the comment of the deals the kill switch closes (EA and Python)
DEFAULT_DEVIATION_POINTS = 10
DEFAULT_MAGIC = 20251103
TAG_PREFIX = "mtp:"
INBOX_NAME = re.compile(r"^(\d{12})-([0-9a-fA-F-]{36})\.json$")


class Kind(StrEnum):
    OPEN = "open"  # market order
    PLACE = "place"  # pending stop/limit order with expiry
    CANCEL = "cancel"  # cancel a pending order
    CLOSE = "close"  # close a position, fully or partly
    MODIFY = "modify"  # change SL/TP of a position
    CLOSE_ALL = "close_all"  # close every position with our magic (optionally one symbol)
    PING = "ping"  # round trip, no trading


ENTRY_KINDS = frozenset({Kind.OPEN, Kind.PLACE})


class OrderType(StrEnum):
    STOP = "stop"
    LIMIT = "limit"


class Status(StrEnum):
    ACCEPTED = "accepted"  # validated and journaled, being executed
    REJECTED = "rejected"  # refused before anything was sent (see reason)
    FILLED = "filled"  # done: order filled / placed / cancelled / modified / pong
    FAILED = "failed"  # the broker refused it (see retcode)
    UNKNOWN = "unknown"  # outcome could not be established (operator must look)
    DRY_RUN = "dry_run"  # log_only mode: validated and journaled, nothing sent


FINAL_STATUSES = frozenset(
    {Status.REJECTED, Status.FILLED, Status.FAILED, Status.UNKNOWN, Status.DRY_RUN}
)


class Reason(StrEnum):
    """Machine-readable reasons of a rejection or failure."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    INVALID_NAME = "invalid_name"  # file name not <seq>-<uuid>.json or not matching content
    UNKNOWN_VERSION = "unknown_version"
    UNKNOWN_KIND = "unknown_kind"
    INVALID_FIELD = "invalid_field"
    DUPLICATE_ID = "duplicate_id"
    EXPIRED = "expired"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_SYMBOL = "unknown_symbol"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    INVALID_VOLUME = "invalid_volume"
    MAX_VOLUME = "max_volume"
    MAX_POSITIONS = "max_positions"
    MISSING_SL = "missing_sl"
    SL_WRONG_SIDE = "sl_wrong_side"
    TP_WRONG_SIDE = "tp_wrong_side"
    SL_TP_TOO_FAR = "sl_tp_too_far"
    KILL_SWITCH = "kill_switch"
    DEAD_MAN = "dead_man"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    OUTSIDE_TRADING_HOURS = "outside_trading_hours"
    NO_SUCH_POSITION = "no_such_position"
    NO_SUCH_ORDER = "no_such_order"
    NO_QUOTE = "no_quote"
    BROKER_ERROR = "broker_error"
    RECOVERED = "recovered"  # outcome established after a crash from the broker's records


Price = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Command(_Model):
    """One instruction from Python to the executor (``inbox/<seq:012d>-<id>.json``)."""

    v: Literal[1] = PROTOCOL_VERSION
    id: str = Field(description="uuid4, unique forever")
    seq: int = Field(ge=0, le=999_999_999_999, description="per-writer sequence")
    created_at: int = Field(gt=0, description="epoch ms UTC")
    ttl_ms: int = Field(DEFAULT_TTL_MS, gt=0, le=86_400_000)
    kind: Kind
    symbol: str | None = Field(None, min_length=1, max_length=32)
    side: Literal["buy", "sell"] | None = None
    volume: Price | None = Field(None, gt=0)
    order_type: OrderType | None = None
    price: Price | None = Field(None, gt=0)
    expiry: int | None = Field(None, gt=0, description="epoch ms; pending orders only")
    sl: Price | None = Field(None, gt=0)
    tp: Price | None = Field(None, gt=0)
    ticket: str | None = Field(None, pattern=r"^\d{1,20}$")
    max_deviation_points: int = Field(DEFAULT_DEVIATION_POINTS, ge=0, le=100_000)
    magic: int = Field(DEFAULT_MAGIC, ge=0, le=2**63 - 1)
    comment: str | None = Field(None, max_length=31)
    strategy: str | None = Field(None, max_length=64)
    confidence: float | None = Field(None, ge=0, le=1)

    @field_validator("id")
    @classmethod
    def _uuid4(cls, v: str) -> str:
        try:
            u = uuid.UUID(v)
        except ValueError:
            raise ValueError("id must be a uuid") from None
        if u.version != 4 or str(u) != v.lower():
            raise ValueError("id must be a canonical uuid4")
        return v.lower()

    @model_validator(mode="after")
    def _shape(self) -> Command:
        need: dict[Kind, tuple[str, ...]] = {
            Kind.OPEN: ("symbol", "side", "volume"),
            Kind.PLACE: ("symbol", "side", "volume", "order_type", "price", "expiry"),
            Kind.CANCEL: ("ticket",),
            Kind.CLOSE: ("ticket",),
            Kind.MODIFY: ("ticket",),
            Kind.CLOSE_ALL: (),
            Kind.PING: (),
        }
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.kind.value} needs {', '.join(missing)}")
        if self.kind is Kind.MODIFY and self.sl is None and self.tp is None:
            raise ValueError("modify needs sl or tp")
        if self.comment is not None and self.comment != tag_for(self.id):
            raise ValueError("comment must be the tag derived from the id")
        return self

    @property
    def tag(self) -> str:
        """Order comment that ties broker records to this command."""
        return tag_for(self.id)

    @property
    def file_name(self) -> str:
        return f"{self.seq:012d}-{self.id}.json"

    def expires_at(self) -> int:
        return self.created_at + self.ttl_ms


def tag_for(command_id: str) -> str:
    """``mtp:`` + the first 20 hex digits of the id (fits MT5's 31-character comment)."""
    return TAG_PREFIX + command_id.replace("-", "")[:20]


def id_for_tag(tag: str) -> str | None:
    """A fresh uuid4 command id whose :func:`tag_for` is ``tag``, or ``None`` when
    ``tag`` is not one (``mtp:`` + 20 hex digits taken from a uuid4, as the live
    runner's command tags are): a caller that journaled its own tag keeps it on the
    broker's records."""
    h = tag[len(TAG_PREFIX) :].lower() if tag.startswith(TAG_PREFIX) else ""
    if len(h) != 20 or any(c not in "0123456789abcdef" for c in h):
        return None
    if h[12] != "4" or h[16] not in "89ab":  # uuid4 version and variant digits
        return None
    full = h + uuid.uuid4().hex[20:]
    return f"{full[:8]}-{full[8:12]}-{full[12:16]}-{full[16:20]}-{full[20:]}"


class Result(_Model):
    """The executor's answer, ``outbox/<id>.json``: first ``accepted``, then final."""

    v: Literal[1] = PROTOCOL_VERSION
    id: str
    seq: int | None = None
    status: Status
    reason: Reason | None = None
    message: str = ""
    retcode: int | None = None
    ticket: str | None = None  # position ticket
    order: str | None = None
    deal: str | None = None
    price: float | None = None
    volume: float | None = None
    seen_at: int
    done_at: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


# ---------------------------------------------------------------- state snapshots


class Heartbeat(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    executor: str = "python"  # or "mql5"
    ea_alive: bool = True
    terminal_connected: bool = True
    trade_allowed: bool = True
    log_only: bool = False
    kill_switch: bool = False
    python_heartbeat_age_ms: int | None = None
    # The broker server's clock minus UTC, in seconds (MT5: TimeTradeServer − TimeGMT);
    # None where the executor has no server clock (the paper broker).
    server_offset_s: int | None = None


class PythonHeartbeat(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    pid: int


class AccountState(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    login: str = ""
    currency: str = ""
    balance: float
    equity: float
    margin_free: float | None = None
    daily_pnl: float = 0.0
    # MT5's ACCOUNT_MARGIN_MODE: retail hedging → "hedging", netting and exchange →
    # "netting" (one position per symbol); None from an executor that does not say.
    account_mode: Literal["hedging", "netting"] | None = None
    # MT5's ACCOUNT_TRADE_MODE. Only "demo" lets a runner trade without
    # ``allow_real_account``; None (an older executor) counts as real.
    trade_mode: Literal["demo", "contest", "real"] | None = None


class PositionState(_Model):
    ticket: str
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    open_price: float
    sl: float | None = None
    tp: float | None = None
    magic: int = 0
    comment: str = ""
    profit: float = 0.0
    open_time: int = 0


class PositionsState(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    positions: list[PositionState]


class DealState(_Model):
    """One trade deal of the account (balance and credit deals are not listed)."""

    deal: str
    order: str = ""
    position: str = ""
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    price: float
    entry: Literal["in", "out", "inout"]
    time: int  # UTC epoch ms
    magic: int = 0
    comment: str = ""
    profit: float = 0.0


class DealsState(_Model):
    """The account's trade deals of the last 24 hours (at most ``MAX_DEALS``, newest
    kept): how a client learns the price of an exit it did not send (SL, TP, stop out)."""

    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    deals: list[DealState]


MAX_DEALS = 500


class OrderState(_Model):
    ticket: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: OrderType
    volume: float
    price: float
    sl: float | None = None
    tp: float | None = None
    expiry: int | None = None
    magic: int = 0
    comment: str = ""


class OrdersState(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    orders: list[OrderState]


class SymbolState(_Model):
    name: str
    tick_size: float
    tick_value: float
    contract_size: float
    digits: int
    lot_min: float
    lot_max: float
    lot_step: float
    filling_modes: list[str] = Field(default_factory=list)  # "fok", "ioc", "return"


class SymbolsState(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    symbols: list[SymbolState]


class BarState(_Model):
    time: int  # bar open, epoch seconds UTC
    open: float
    high: float
    low: float
    close: float
    tick_volume: float = 0
    real_volume: float = 0
    spread: float = 0


class BarsState(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    seq: int
    time: int
    symbol: str
    timeframe: str
    bars: list[BarState]


STATE_FILES: dict[str, type[BaseModel]] = {
    "heartbeat.json": Heartbeat,
    "account.json": AccountState,
    "positions.json": PositionsState,
    "orders.json": OrdersState,
    "symbols.json": SymbolsState,
    "python-heartbeat.json": PythonHeartbeat,
}


def json_schema() -> dict[str, Any]:
    """JSON Schema of every message, for the EA's documentation."""
    from pydantic.json_schema import models_json_schema

    models: list[type[BaseModel]] = [
        Command,
        Result,
        Heartbeat,
        PythonHeartbeat,
        AccountState,
        PositionsState,
        OrdersState,
        SymbolsState,
        BarsState,
    ]
    _, schema = models_json_schema(
        [(m, "validation") for m in models], title="mtponte bridge protocol v1"
    )
    return schema


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
