"""Copy settings of a subscription (the Sentra ``settings`` object), validated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CopySettings(BaseModel):
    """What a follower does with a master's trades (names as the Sentra EAs expect)."""

    model_config = ConfigDict(extra="forbid")

    slTpMode: Literal["copy", "multiplier", "fixed", "none"] = "copy"
    slMultiplier: float = Field(1.0, ge=0, le=100)
    tpMultiplier: float = Field(1.0, ge=0, le=100)
    slFixedPips: float = Field(0, ge=0, le=100_000)
    tpFixedPips: float = Field(0, ge=0, le=100_000)
    volumeMode: Literal["multiplier", "fixed"] = "multiplier"
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
    maxDailyLoss: float = Field(0, ge=0)
    maxDailyTrades: int = Field(0, ge=0, le=100_000)
    isActive: bool = True
