"""Symbol specifications: everything needed to turn prices and volumes into money."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from mtponte.errors import ConfigError

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Contract specification of one tradable symbol.

    Attributes
    ----------
    name
        Symbol as the broker names it (``WIN$``, ``EURUSD.pro``).
    tick_size
        Smallest price increment, in price units (WIN: 5 points).
    tick_value
        Money per tick per 1 lot (WIN: R$1.00 = 5 points × R$0.20).
    contract_size
        Units per lot (WIN: 1 contract; EURUSD: 100,000).
    digits
        Decimals the broker quotes.
    lot_min, lot_max, lot_step
        Volume limits and increment.
    currency
        Account/profit currency of ``tick_value``.
    timezone
        IANA zone of the exchange session times (bar times are exchange-local there).
    server_timezone
        IANA zone of the broker's server clock, in which MT5 stamps bars.
    """

    name: str
    tick_size: float
    tick_value: float
    contract_size: float = 1.0
    digits: int = 0
    lot_min: float = 1.0
    lot_max: float = 1000.0
    lot_step: float = 1.0
    currency: str = "BRL"
    timezone: str = "America/Sao_Paulo"
    server_timezone: str = "America/Sao_Paulo"

    def __post_init__(self) -> None:
        for field in ("tick_size", "tick_value", "contract_size", "lot_min", "lot_step"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"SymbolSpec {self.name}: {field} must be > 0, got {value}")
        if self.lot_max < self.lot_min:
            raise ConfigError(f"SymbolSpec {self.name}: lot_max < lot_min")

    @property
    def point_value(self) -> float:
        """Money per 1.0 price unit per lot (WIN: R$0.20)."""
        return self.tick_value / self.tick_size

    def round_price(self, price: float) -> float:
        """Round to the nearest tick; an exact half tick goes up (within 1e-9)."""
        return round_to_tick(price, self.tick_size)

    def snap_volume(self, volume: float) -> float:
        """Snap a volume down to the lot step and clamp to [lot_min, lot_max].

        Returns 0.0 when the volume is below ``lot_min`` (nothing can be traded).
        """
        steps = math.floor(volume / self.lot_step + _EPS)
        snapped = round(steps * self.lot_step, 10)
        if snapped + _EPS < self.lot_min:
            return 0.0
        return min(snapped, self.lot_max)

    def money(self, points: float, volume: float) -> float:
        """P&L in account money of ``points`` price units on ``volume`` lots."""
        return points * self.point_value * volume

    def with_name(self, name: str) -> SymbolSpec:
        return replace(self, name=name)


def round_to_tick(price: float, tick: float) -> float:
    """Nearest multiple of ``tick``; a half tick (within 1e-9 ticks) rounds up.

    The result is the float nearest the decimal price (``1.14454``, not
    ``114454 × 0.00001 = 1.1445400000000001``): for ticks of the form ``1/k`` it is
    computed as ``n / k``, a correctly rounded division. Written in plain Python so
    the numba engine compiles this very function.
    """
    n = math.floor(price / tick + 0.5 + _EPS)
    if tick < 1.0:
        k = 1.0 / tick
        kr = math.floor(k + 0.5)
        if abs(k - kr) < 1e-6:
            return n / kr
    return n * tick


WIN = SymbolSpec(
    name="WIN",
    tick_size=5.0,
    tick_value=1.0,
    contract_size=1.0,
    digits=0,
    lot_min=1.0,
    lot_max=1000.0,
    lot_step=1.0,
    currency="BRL",
    timezone="America/Sao_Paulo",
    server_timezone="America/Sao_Paulo",
)

EURUSD = SymbolSpec(
    name="EURUSD",
    tick_size=0.00001,
    tick_value=1.0,
    contract_size=100_000.0,
    digits=5,
    lot_min=0.01,
    lot_max=100.0,
    lot_step=0.01,
    currency="USD",
    timezone="UTC",
    server_timezone="UTC",
)

PRESETS: dict[str, SymbolSpec] = {"WIN": WIN, "EURUSD": EURUSD}


def get_symbol(name: str) -> SymbolSpec:
    """Preset by name (case-insensitive; ``WIN$``/``WINZ25`` resolve to WIN)."""
    key = name.strip().upper()
    if key.startswith("WIN"):
        return WIN.with_name(name) if key != "WIN" else WIN
    if key in PRESETS:
        return PRESETS[key]
    # A broker's suffixed name of a preset (EURUSD.pro, EURUSDm, EURUSD_i, #EURUSD).
    base = re.sub(r"^[#.]|([._#].*|M|C|PRO|ECN|RAW)$", "", key)
    if base in PRESETS:
        return PRESETS[base].with_name(name.strip())
    raise ConfigError(f"unknown symbol {name!r}; presets: {', '.join(sorted(PRESETS))}")
