"""Trade direction and exit reasons."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Side(IntEnum):
    """Direction of a position or order; the value is the sign of its P&L per point."""

    BUY = 1
    SELL = -1

    @property
    def label(self) -> str:
        return "long" if self is Side.BUY else "short"

    @classmethod
    def parse(cls, value: str | int) -> Side:
        """Accept ``1/-1``, ``buy/sell``, ``long/short`` (any case)."""
        if isinstance(value, int):
            return cls(value)
        v = value.strip().lower()
        if v in ("buy", "long", "1", "+1"):
            return cls.BUY
        if v in ("sell", "short", "-1"):
            return cls.SELL
        raise ValueError(f"not a side: {value!r} (use buy/sell)")


class ExitReason(StrEnum):
    """Why a position was closed."""

    SL = "sl"
    TP = "tp"
    FLAT = "flat"
    END = "end"

    # Integer codes used by the numba engine.
    @property
    def code(self) -> int:
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> ExitReason:
        return _FROM_CODE[code]


_CODES = {ExitReason.SL: 1, ExitReason.TP: 2, ExitReason.FLAT: 3, ExitReason.END: 4}
_FROM_CODE = {v: k for k, v in _CODES.items()}
