"""Pre-trade checks shared by the executor (defence in depth) and the Python client.

Pure functions over a :class:`CheckContext`; the MQL5 EA implements the same list in
the same order (``CheckCommand`` in ``MtponteBridge.mq5``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from mtponte.bridge.protocol import ENTRY_KINDS, Command, Kind, Reason
from mtponte.domain.symbols import SymbolSpec


class ExecutorLimits(BaseModel):
    """Safeguards enforced by the executor whatever Python asks.

    Attributes
    ----------
    log_only
        Validate and journal every command, send nothing (the seed's phase 1).
    max_volume
        Largest volume of one order.
    max_positions
        Largest number of open positions with our magic (entries beyond are refused).
    symbols_allowed
        Whitelist (empty: every symbol the broker knows).
    daily_loss_limit
        Refuse entries once today's P&L is at or below ``−daily_loss_limit`` (money).
    trading_start, trading_end, timezone
        Entries only between these exchange-local times (inclusive).
    dead_man_ms
        Refuse entries when Python's heartbeat is older than this (0 disables).
    require_sl
        Entries must carry a stop loss.
    sl_tp_max_atr
        SL/TP no farther than this many ATRs from the entry price (needs an ATR).
    future_tolerance_ms
        Allowed clock skew for ``created_at`` in the future.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_only: bool = False
    max_volume: float = Field(10.0, gt=0)
    max_positions: int = Field(1, ge=0)
    symbols_allowed: tuple[str, ...] = ()
    daily_loss_limit: float | None = Field(None, gt=0)
    trading_start: time | None = None
    trading_end: time | None = None
    timezone: str = "America/Sao_Paulo"
    dead_man_ms: int = Field(30_000, ge=0)
    require_sl: bool = True
    sl_tp_max_atr: float | None = Field(5.0, gt=0)
    future_tolerance_ms: int = Field(2_000, ge=0)


@dataclass
class CheckContext:
    """What the checks need to know about the world right now."""

    now_ms: int
    symbols: dict[str, SymbolSpec]
    open_positions: int  # ours (magic)
    daily_pnl: float
    kill_switch: bool
    python_heartbeat_age_ms: int | None
    quotes: dict[str, tuple[float, float]] = field(default_factory=dict)  # bid, ask
    atr: dict[str, float] = field(default_factory=dict)


Rejection = tuple[Reason, str]


def check_command(cmd: Command, ctx: CheckContext, limits: ExecutorLimits) -> Rejection | None:
    """First failed check as (reason, message), or ``None`` when the command may run."""
    if ctx.now_ms > cmd.expires_at():
        return Reason.EXPIRED, f"expired {ctx.now_ms - cmd.expires_at()} ms ago"
    if cmd.created_at > ctx.now_ms + limits.future_tolerance_ms:
        return Reason.FUTURE_TIMESTAMP, f"created {cmd.created_at - ctx.now_ms} ms in the future"
    if ctx.kill_switch:
        return Reason.KILL_SWITCH, "kill switch is active"
    if cmd.symbol is not None:
        if cmd.symbol not in ctx.symbols:
            return Reason.UNKNOWN_SYMBOL, f"unknown symbol {cmd.symbol}"
        if limits.symbols_allowed and cmd.symbol not in limits.symbols_allowed:
            return Reason.SYMBOL_NOT_ALLOWED, f"{cmd.symbol} is not in the whitelist"
    if cmd.volume is not None:
        assert cmd.symbol is not None or cmd.kind is Kind.CLOSE
        spec = ctx.symbols.get(cmd.symbol) if cmd.symbol else None
        if spec is not None and spec.snap_volume(cmd.volume) != cmd.volume:
            return Reason.INVALID_VOLUME, (
                f"volume {cmd.volume} is not a multiple of "
                f"{spec.lot_step} within [{spec.lot_min}, {spec.lot_max}]"
            )
        if cmd.volume > limits.max_volume:
            return Reason.MAX_VOLUME, f"volume {cmd.volume} > max {limits.max_volume}"
    if cmd.kind not in ENTRY_KINDS:
        return None
    assert cmd.symbol is not None and cmd.side is not None
    rej = _check_levels(cmd, ctx, limits)
    if rej is not None:
        return rej
    if limits.dead_man_ms and (
        ctx.python_heartbeat_age_ms is None or ctx.python_heartbeat_age_ms > limits.dead_man_ms
    ):
        return Reason.DEAD_MAN, f"python heartbeat age {ctx.python_heartbeat_age_ms} ms"
    if limits.trading_start is not None and limits.trading_end is not None:
        local = datetime.fromtimestamp(ctx.now_ms / 1000, tz=UTC).astimezone(
            ZoneInfo(limits.timezone)
        )
        if not limits.trading_start <= local.time() <= limits.trading_end:
            return Reason.OUTSIDE_TRADING_HOURS, f"{local.time():%H:%M:%S} is outside trading hours"
    if ctx.open_positions >= limits.max_positions:
        return Reason.MAX_POSITIONS, f"{ctx.open_positions} open, max {limits.max_positions}"
    if limits.daily_loss_limit is not None and ctx.daily_pnl <= -limits.daily_loss_limit:
        return Reason.DAILY_LOSS_LIMIT, f"daily P&L {ctx.daily_pnl:.2f} hit the limit"
    return None


def _check_levels(cmd: Command, ctx: CheckContext, limits: ExecutorLimits) -> Rejection | None:
    assert cmd.symbol is not None
    sign = 1 if cmd.side == "buy" else -1
    if cmd.kind is Kind.PLACE:
        ref = cmd.price
    else:
        q = ctx.quotes.get(cmd.symbol)
        ref = cmd.price if cmd.price is not None else (q[1] if sign > 0 else q[0]) if q else None
    if limits.require_sl and cmd.sl is None:
        return Reason.MISSING_SL, "entries must carry a stop loss"
    if ref is None:
        return None  # no price to judge the sides against (executor checks again at fill)
    if cmd.sl is not None and (cmd.sl - ref) * sign >= 0:
        return Reason.SL_WRONG_SIDE, f"SL {cmd.sl} is not {'below' if sign > 0 else 'above'} {ref}"
    if cmd.tp is not None and (cmd.tp - ref) * sign <= 0:
        return Reason.TP_WRONG_SIDE, f"TP {cmd.tp} is not {'above' if sign > 0 else 'below'} {ref}"
    atr = ctx.atr.get(cmd.symbol)
    if limits.sl_tp_max_atr is not None and atr:
        far = limits.sl_tp_max_atr * atr
        for name, level in (("SL", cmd.sl), ("TP", cmd.tp)):
            if level is not None and abs(level - ref) > far + 1e-9:
                return Reason.SL_TP_TOO_FAR, f"{name} {abs(level - ref):g} from price > {far:g}"
    return None
