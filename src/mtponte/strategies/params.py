"""Parameters of the elephant-bar strategy: every rule, its default, in one place.

See ``docs/strategy.md`` (and DESIGN.md) for the full definition. Defaults are the
user's validated strategy.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mtponte.errors import ConfigError


class ElephantParams(BaseModel):
    """Elephant-bar rules, entry, exits and costs.

    Attributes
    ----------
    range_lookback, min_range_mult
        Range ``H−L`` ≥ ``min_range_mult`` × mean range of the previous
        ``range_lookback`` bars.
    volume_lookback, min_volume_mult, volume_source
        Volume ≥ ``min_volume_mult`` × mean volume of the previous ``volume_lookback``
        bars of ``volume_source`` (``real``/``tick``); ``min_volume_mult = 0`` disables.
    max_wick_pct
        Body ``|C−O|`` ≥ (1 − ``max_wick_pct``) × range, and ≥ one tick.
    window_start, window_end
        Exchange-local detection window for the elephant's and the setup bar's open.
    session_reset
        Means only over bars of the same session (default: across days).
    entry_mode
        ``stop``: stop order one tick beyond the elephant, live for the next bar;
        ``next_open``: market entry at the open after the trigger bar.
    atr_period, atr_method
        ATR over the bars closed before the entry bar; ``sma`` or ``wilder``.
    sl_atr, tp_atr
        SL/TP distances in ATRs from the reference price.
    flat_time
        Intraday close time (``None`` disables): close at the open of the first bar
        at/after it, or the first bar of a later date.
    slippage_ticks
        Ticks against the trade on every fill.
    fee_per_contract
        Money per contract per side.
    volume
        Contracts (lots) per trade, snapped to the symbol's lot step.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    range_lookback: int = Field(25, ge=1)
    min_range_mult: float = Field(1.35, ge=0)
    volume_lookback: int = Field(20, ge=1)
    min_volume_mult: float = Field(1.3, ge=0)
    volume_source: Literal["real", "tick"] = "real"
    max_wick_pct: float = Field(0.30, ge=0, le=1)
    window_start: time = time(9, 15)
    window_end: time = time(11, 0)
    session_reset: bool = False
    entry_mode: Literal["stop", "next_open"] = "stop"
    atr_period: int = Field(14, ge=1)
    atr_method: Literal["sma", "wilder"] = "sma"
    sl_atr: float = Field(2.0, gt=0)
    tp_atr: float = Field(3.0, gt=0)
    flat_time: time | None = time(12, 15)
    slippage_ticks: int = Field(0, ge=0)
    fee_per_contract: float = Field(0.0, ge=0)
    volume: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _window_order(self) -> ElephantParams:
        if self.window_end < self.window_start:
            raise ValueError("window_end must not be before window_start")
        return self

    # Seconds after midnight, the form the kernels use.
    @property
    def window_start_s(self) -> int:
        return _secs(self.window_start)

    @property
    def window_end_s(self) -> int:
        return _secs(self.window_end)

    @property
    def flat_s(self) -> int:
        return -1 if self.flat_time is None else _secs(self.flat_time)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None = None, **kw: Any) -> ElephantParams:
        """Build from ``name=value`` overrides (strings are coerced), as one-line errors."""
        values = {**(overrides or {}), **kw}
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(cls.model_fields)}"
            )
        values = {
            k: (None if v in ("none", "None", "") and k == "flat_time" else v)
            for k, v in values.items()
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "params"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "invalid parameter: " + "; ".join(parts)


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """Parse ``["name=value", ...]`` into a dict, with one-line errors."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"expected name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out
