"""Copy settings of a subscription: what a follower does with a master's trades.

The names of the first block are the Sentra ``settings`` object's (the legacy Slave
EA reads them); the rest are mtponte's. Stored as JSON on the subscription, edited in
the dashboard (scalars, booleans and comma-separated lists only), validated here.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Keys the legacy Sentra Slave EA knows; the compat ``/settings`` route serves only these.
LEGACY_KEYS = (
    "slTpMode",
    "slMultiplier",
    "tpMultiplier",
    "slFixedPips",
    "tpFixedPips",
    "volumeMode",
    "volumeMultiplier",
    "volumeFixed",
    "maxVolume",
    "enableSymbolFilter",
    "allowedSymbols",
    "enableDirectionFilter",
    "allowedDirections",
    "enableRiskManagement",
    "maxDailyLoss",
    "maxDailyTrades",
    "isActive",
)

VolumeMode = Literal[
    "multiplier",  # master lots × volumeMultiplier (Sentra's name; "multiply" in the docs)
    "copy",  # master lots
    "fixed",  # volumeFixed follower lots
    "balance_ratio",  # master lots × follower balance / master balance
    "equity_ratio",  # master lots × follower equity / master equity
    "contract_size",  # master lots × master contract size / follower contract size
    "risk_percent",  # riskPercent of follower balance lost at the SL
]


class CopySettings(BaseModel):
    """Copy settings of one subscription (follower ← master).

    Distances in *points* are in the follower symbol's point (``10**-digits``).
    Times of day and the trading day are in ``timezone``.
    """

    model_config = ConfigDict(extra="forbid")

    # --- Sentra names -------------------------------------------------------------
    slTpMode: Literal["copy", "multiplier", "fixed", "none"] = "copy"
    slMultiplier: float = Field(1.0, ge=0, le=100)
    tpMultiplier: float = Field(1.0, ge=0, le=100)
    slFixedPips: float = Field(0, ge=0, le=100_000)  # points; 0: no SL in fixed mode
    tpFixedPips: float = Field(0, ge=0, le=100_000)  # points; 0: no TP in fixed mode
    volumeMode: VolumeMode = "multiplier"
    volumeMultiplier: float = Field(1.0, gt=0, le=1000)
    volumeFixed: float = Field(0.01, gt=0, le=1000)
    maxVolume: float = Field(100.0, gt=0, le=100_000)
    enableSymbolFilter: bool = False
    allowedSymbols: list[str] = Field(default_factory=list, max_length=200)
    enableDirectionFilter: bool = False
    allowedDirections: list[Literal["BUY", "SELL"]] = Field(
        default_factory=lambda: list[Literal["BUY", "SELL"]](["BUY", "SELL"])
    )
    enableRiskManagement: bool = False
    maxDailyLoss: float = Field(0, ge=0)  # account money; 0: no limit
    maxDailyTrades: int = Field(0, ge=0, le=100_000)  # 0: no limit
    isActive: bool = True

    # --- mtponte ------------------------------------------------------------------
    riskPercent: float = Field(1.0, gt=0, le=100)  # volumeMode risk_percent
    belowMin: Literal["skip", "min"] = "skip"  # a sized volume under the lot minimum
    symbolMap: list[str] = Field(default_factory=list, max_length=200)  # "EURUSD=EURUSD.pro"
    blockedSymbols: list[str] = Field(default_factory=list, max_length=200)
    invert: bool = False  # buy↔sell, master SL becomes TP and TP becomes SL
    timezone: str = "UTC"  # IANA zone of tradingHours and of the trading day
    tradingHours: str = ""  # "HH:MM-HH:MM" (opens only); "": always
    maxOpenPositions: int = Field(0, ge=0, le=100_000)  # copies held at once; 0: no limit
    riskAction: Literal["disable", "close_only", "close_all"] = "close_only"
    lateJoin: Literal["skip", "limit", "market"] = "skip"  # master positions held before
    maxDeviationPoints: int = Field(0, ge=0, le=10_000_000)  # market opens; 0: no check
    maxSignalAgeS: int = Field(0, ge=0, le=10_000_000)  # older master positions not opened
    noSlAction: Literal["copy", "skip", "default"] = "copy"  # master position without SL
    defaultSlPoints: float = Field(0, ge=0, le=10_000_000)  # noSlAction default
    forceCopyClosedByHand: bool = False  # reopen a copy the user closed by hand
    copy_pending: bool = False  # copy the master's pending orders (off: only positions)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("tradingHours")
    @classmethod
    def _hours(cls, v: str) -> str:
        from mtponte.copy.engine._filters import parse_hours  # a cycle at import time

        parse_hours(v)
        return v

    def legacy(self) -> dict[str, object]:
        """The settings as the legacy Sentra Slave EA reads them."""
        data = self.model_dump()
        out = {k: data[k] for k in LEGACY_KEYS}
        if out["volumeMode"] not in ("multiplier", "fixed"):
            # The legacy EA knows two modes; it gets its volumes sized by the server.
            out["volumeMode"] = "multiplier"
        return out
