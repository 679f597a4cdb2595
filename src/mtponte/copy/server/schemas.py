"""Request and response schemas of both APIs: the native one (Create / Public) and the
Sentra-compatible one (``Sentra*``).

One validation layer: the Sentra routes parse their bodies into the models below with
the same field types as the native API, so no value reaches the database or a follower
that the native API would refuse. Types are strict (``true`` is not a volume, ``"1"`` is
not a number), floats finite, integers bounded, tickets ASCII digits only (``"١٢٣"``
and ``"²"`` are refused, ``"0903"`` is ticket ``903``), symbols printable ASCII without
the characters a legacy EA's substring parser would trip on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

MAX_TICKET = 2**64 - 1  # MT5 tickets are ulong
MAX_EPOCH_S = 4_102_444_800  # 2100-01-01
MAX_EPOCH_MS = MAX_EPOCH_S * 1000
MAX_VOLUME = 1_000_000.0
MAX_PRICE = 1e12
MAX_POSITIONS = 1000


def _int_as_str(v: Any) -> Any:
    """JSON integers are taken as their decimal string (``true`` is not an integer)."""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _canonical_ticket(v: str) -> str:
    if not (1 <= len(v) <= 20) or not v.isascii() or not v.isdigit():
        raise ValueError("a ticket is 1 to 20 ASCII digits")
    if not 1 <= int(v) <= MAX_TICKET:
        raise ValueError(f"a ticket is an integer from 1 to {MAX_TICKET}")
    return str(int(v))


# A ticket as a canonical decimal string; JSON may carry it as an integer or a string.
Ticket = Annotated[str, BeforeValidator(_int_as_str), AfterValidator(_canonical_ticket)]
# Printable ASCII (inner spaces too: "Volatility 75 (1s) Index"); no quote, backslash,
# comma or brackets, which a legacy EA's substring parser would trip on.
_SYM = r"A-Za-z0-9._#$+\-!@&%()~^=/:*|"
SYMBOL_PATTERN = rf"^[{_SYM}]([{_SYM} ]*[{_SYM}])?$"  # no space at either end
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=SYMBOL_PATTERN)]
Volume = Annotated[float, Field(gt=0, le=MAX_VOLUME, allow_inf_nan=False)]
PriceF = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]
EpochS = Annotated[int, Field(ge=0, le=MAX_EPOCH_S, description="epoch seconds")]
Money = Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)]
Price = Field(None, gt=0, le=MAX_PRICE, allow_inf_nan=False)

_STRICT = ConfigDict(extra="forbid", strict=True)


def _unique_tickets(positions: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for p in positions:
        if p.ticket in seen:
            raise ValueError(f"ticket {p.ticket} is listed twice")
        seen.add(p.ticket)
    return positions


class PositionIn(BaseModel):
    model_config = _STRICT
    ticket: Ticket
    symbol: Symbol
    side: Literal["buy", "sell"]
    volume: Volume
    open_price: PriceF
    sl: float | None = Price
    tp: float | None = Price
    open_time: EpochS = 0
    # A working pending order of the master (``open_price`` is its order price).
    order_type: Literal["limit", "stop"] | None = None
    expiry: EpochS | None = None  # pending orders: 0 or none good-till-cancelled
    from_order: Ticket | None = None  # a position filled from this pending order


Positions = Annotated[
    list[PositionIn], Field(max_length=MAX_POSITIONS), AfterValidator(_unique_tickets)
]


class EventCreate(BaseModel):
    """A master event. ``open`` needs side, volume and price; ``partial_close`` the
    volume closed; ``modify`` at least one of SL and TP. Pending orders:
    ``pending_place`` and ``pending_modify`` carry the whole order (side, order_type,
    volume, price, SL/TP, expiry), ``pending_cancel`` only its ticket; an ``open`` with
    ``from_order`` is the fill of that pending order."""

    model_config = _STRICT
    kind: Literal[
        "open",
        "close",
        "modify",
        "partial_close",
        "pending_place",
        "pending_modify",
        "pending_cancel",
    ]
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    ticket: Ticket
    symbol: Symbol
    side: Literal["buy", "sell"] | None = None
    volume: float | None = Field(None, gt=0, le=MAX_VOLUME, allow_inf_nan=False)
    price: float | None = Price
    sl: float | None = Price
    tp: float | None = Price
    time: int | None = Field(None, ge=0, le=MAX_EPOCH_MS, description="master time, epoch ms")
    order_type: Literal["limit", "stop"] | None = None
    expiry: int | None = Field(None, ge=0, le=MAX_EPOCH_S, description="epoch s; 0 none")
    from_order: Ticket | None = None  # an open that is the fill of this pending order

    @model_validator(mode="after")
    def _complete(self) -> EventCreate:
        order = ("side", "order_type", "volume", "price")
        need = {
            "open": ("side", "volume", "price"),
            "partial_close": ("volume",),
            "pending_place": order,
            "pending_modify": order,
        }.get(self.kind, ())
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"an {self.kind} event needs {', '.join(missing)}")
        if self.kind == "modify" and self.sl is None and self.tp is None:
            raise ValueError("a modify event needs sl or tp")
        return self


class EventPublic(BaseModel):
    seq: int
    kind: str
    ticket: str
    payload: dict[str, Any]
    created_at: datetime


class SnapshotCreate(BaseModel):
    model_config = _STRICT
    positions: Positions


class EventsPublic(BaseModel):
    """Events after the cursor, or ``resync``: the master's current positions (its last
    snapshot with every later event applied) and the cursor they are current at."""

    events: list[EventPublic] = []
    cursor: int
    resync: bool = False
    snapshot: list[dict[str, Any]] | None = None
    master_online: bool


PositiveF = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]


class SymbolSpecIn(BaseModel):
    """A follower broker's symbol as the copy engine needs it."""

    model_config = _STRICT
    name: Symbol
    tick_size: PositiveF
    tick_value: PositiveF
    contract_size: PositiveF = 1.0
    digits: int = Field(0, ge=0, le=12)
    lot_min: PositiveF = 0.01
    lot_max: PositiveF = 100.0
    lot_step: PositiveF = 0.01

    @model_validator(mode="after")
    def _lots(self) -> SymbolSpecIn:
        if self.lot_max < self.lot_min:
            raise ValueError(f"{self.name}: lot_max < lot_min")
        return self


class HeartbeatCreate(BaseModel):
    """A follower's heartbeat: its copies, and the account facts the copy engine sizes
    and maps with (``symbols`` is the broker's symbol list). ``instance`` names the
    running follower process: while one instance heartbeats, another gets 409 (a lease,
    so two followers never trade one account)."""

    model_config = _STRICT
    positions: Positions = Field(default_factory=list)
    balance: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)
    equity: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)
    cursor: int = Field(0, ge=0, le=2**62)
    instance: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")
    netting: bool = False
    cent: bool = False
    daily_pnl: Money = 0.0
    currency: str = Field("", max_length=10, pattern=r"^[A-Za-z]*$")
    symbols: list[SymbolSpecIn] | None = Field(None, max_length=5000)


EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class LatencyIn(BaseModel):
    """When each step of one copy happened (epoch ms): the master's event, the server's
    book, the follower receiving it, sending the order, the order filled."""

    model_config = _STRICT
    master_ms: EpochMs | None = None
    server_ms: EpochMs | None = None
    received_ms: EpochMs | None = None
    sent_ms: EpochMs | None = None
    filled_ms: EpochMs | None = None


class ReportCreate(BaseModel):
    model_config = _STRICT
    master_id: int = Field(ge=1, le=2**62)
    event_seq: int | None = Field(None, ge=0, le=2**62)
    status: Literal["copied", "skipped", "failed"]
    reason: str = Field("", max_length=200)
    latency_ms: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)
    slippage_points: float | None = Field(None, ge=-1e9, le=1e9, allow_inf_nan=False)
    target_id: str = Field("", max_length=80, pattern=r"^[\x21-\x7e]*$")
    action: str = Field("", max_length=20, pattern=r"^[a-z_]*$")
    retcode: int | None = Field(None, ge=0, le=1_000_000)
    latency: LatencyIn | None = None
    # Client-generated (e.g. 32 hex): a report sent again with the same id is stored once.
    report_id: str | None = Field(None, min_length=16, max_length=64, pattern=r"^[0-9A-Za-z]*$")


class TargetPublic(BaseModel):
    """One target. A pending order target (``copy_pending``) also carries
    ``order_type`` (limit | stop) and ``expiry`` (epoch s, 0 none), and a netting
    follower's net target ``sources`` (the target ids of the copies it nets, sorted),
    kept as extra keys so the other targets stay byte-identical for followers that
    know neither."""

    model_config = ConfigDict(extra="allow")
    target_id: str
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    sl: float | None
    tp: float | None
    entry: Literal["market", "limit"]
    price: float
    max_deviation_points: int
    master_tickets: list[str]


class TargetsPublic(BaseModel):
    """A follower's target book: the exact positions it should hold now."""

    version: int
    targets: list[TargetPublic]
    master_online: bool
    master_time_ms: int | None = None
    computed_at_ms: int
    risk: str = "ok"


# --- Sentra-compatible bodies (field names as the legacy EAs send them) ---------------

_SENTRA = ConfigDict(extra="ignore", strict=True)  # the EAs send more than we read
Email = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
AccountNumber = Annotated[
    str, BeforeValidator(_int_as_str), AfterValidator(lambda v: _account_number(v))
]
Number = Annotated[float, Field(allow_inf_nan=False)]
OptionalLevel = Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]  # 0: none
SideCode = Annotated[int, Field(ge=0, le=1, description="0 buy, 1 sell")]  # strict: no bool
Timestamp = Annotated[float, Field(ge=0, le=MAX_EPOCH_S, allow_inf_nan=False)]


def _account_number(v: str) -> str:
    if not (v.isascii() and v.isalnum() and len(v) <= 40):
        raise ValueError("an account number is 1 to 40 ASCII letters or digits")
    return v


class SentraPosition(BaseModel):
    """One position of a Master heartbeat (``type`` 0 buy, 1 sell)."""

    model_config = _SENTRA
    ticket: Ticket
    symbol: Symbol
    type: SideCode
    lots: Volume
    open_price: PriceF
    stop_loss: OptionalLevel = 0.0
    take_profit: OptionalLevel = 0.0
    open_time: EpochS = 0

    def native(self) -> dict[str, Any]:
        """As the native API stores a position."""
        return PositionIn(
            ticket=self.ticket,
            symbol=self.symbol,
            side="buy" if self.type == 0 else "sell",
            volume=self.lots,
            open_price=self.open_price,
            sl=self.stop_loss or None,
            tp=self.take_profit or None,
            open_time=self.open_time,
        ).model_dump(exclude_none=True)


class SentraSignal(BaseModel):
    """A Master EA post: ``heartbeat`` (the full position list, required) or an
    ``open``/``close``/``modify`` of one ticket (the EA sends the symbol with ``open``
    only). Heartbeat positions are validated one by one (see
    :func:`sentra_positions`), so one unreadable position never rejects the others."""

    model_config = _SENTRA
    action: Literal["open", "close", "modify", "heartbeat"]
    account_number: AccountNumber | None = None
    master_email: Email | None = None
    user_email: Email | None = None
    timestamp: Timestamp = 0
    positions: Annotated[list[Any], Field(max_length=MAX_POSITIONS)] | None = None
    ticket: Ticket | None = None
    symbol: Symbol | None = None
    type: SideCode | None = None
    lots: Volume | None = None
    open_price: PriceF | None = None
    stop_loss: OptionalLevel = 0.0
    take_profit: OptionalLevel = 0.0
    open_time: EpochS = 0
    close_price: OptionalLevel = 0.0

    @model_validator(mode="after")
    def _complete(self) -> SentraSignal:
        if self.action == "heartbeat":
            if self.positions is None:
                # Never read as "the master holds nothing": that would close every copy.
                raise ValueError("a heartbeat needs positions: a list (empty when flat)")
            return self
        need = ["ticket"] + (
            ["symbol", "type", "lots", "open_price"] if self.action == "open" else []
        )
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"an {self.action} needs {', '.join(missing)}")
        return self


def sentra_positions(raw: list[Any]) -> tuple[list[SentraPosition], list[tuple[Any, str]]]:
    """Heartbeat positions that validate, and ``(ticket or None, problem)`` for each one
    that does not (e.g. a 0.001-lot position the EA prints as ``"lots":0.00``). A ticket
    listed twice is refused in both places."""
    good: list[SentraPosition] = []
    bad: list[tuple[Any, str]] = []
    for item in raw:
        try:
            good.append(SentraPosition.model_validate(item))
        except ValidationError as exc:
            ticket = item.get("ticket") if isinstance(item, dict) else None
            e = exc.errors(include_url=False)[0]
            bad.append((ticket, f"{'.'.join(map(str, e['loc']))}: {e['msg']}"))
    counts: dict[str, int] = {}
    for p in good:
        counts[p.ticket] = counts.get(p.ticket, 0) + 1
    twice = {t for t, n in counts.items() if n > 1}
    bad += [(t, "ticket listed twice") for t in sorted(twice)]
    return [p for p in good if p.ticket not in twice], bad


class SentraSlaveHeartbeat(BaseModel):
    model_config = _SENTRA
    master_account_id: AccountNumber | None = None
    positions_count: int = Field(0, ge=0, le=MAX_POSITIONS * 100)
    balance: Money = 0.0
    equity: Money = 0.0


class SentraLicense(BaseModel):
    model_config = _SENTRA
    accountNumber: AccountNumber | None = None
