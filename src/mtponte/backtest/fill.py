"""The fill model, written once: used by the numba engine, the streaming engine and
the paper broker.

Conventions (DESIGN.md): a stop entry fills at ``max(O, stop)`` long /
``min(O, stop)`` short; exits are checked SL first, then TP; a bar that *opens*
through a level exits at the open, except on the entry bar, where exits fill at the
level; ``slippage_ticks`` moves every fill against the trade.
"""

from __future__ import annotations

from mtponte.domain.symbols import round_to_tick
from mtponte.strategies._rules import EPS

EXIT_NONE = 0
EXIT_SL = 1
EXIT_TP = 2
EXIT_FLAT = 3
EXIT_END = 4


def stop_fill(direction: int, o: float, stop: float) -> float:
    """Fill price of a triggered stop order on a bar opening at ``o`` (before slippage)."""
    if direction > 0:
        return o if o > stop else stop
    return o if o < stop else stop


def slipped(price: float, direction: int, entering: bool, slip_ticks: float, tick: float) -> float:
    """``price`` moved ``slip_ticks`` ticks against a position of ``direction``."""
    if slip_ticks == 0:
        return price
    sign = direction if entering else -direction
    return price + sign * slip_ticks * tick


def exit_check(
    direction: int, o: float, h: float, l: float, sl: float, tp: float, entry_bar: bool
) -> tuple[int, float]:
    """(reason code, price before slippage) of an exit on this bar, or (0, nan)."""
    if direction > 0:
        if l <= sl + EPS:
            return EXIT_SL, (o if (not entry_bar and o < sl) else sl)
        if h >= tp - EPS:
            return EXIT_TP, (o if (not entry_bar and o > tp) else tp)
    else:
        if h >= sl - EPS:
            return EXIT_SL, (o if (not entry_bar and o > sl) else sl)
        if l <= tp + EPS:
            return EXIT_TP, (o if (not entry_bar and o < tp) else tp)
    return EXIT_NONE, float("nan")


def trail_sl(direction: int, sl: float, low: float, high: float, tick: float) -> float:
    """The stop loss after a bar closes, trailing to that bar's low (long) / high
    (short) and only ever tightening (``sl`` NaN: no stop yet, the bar's level)."""
    level = round_to_tick(low if direction > 0 else high, tick)
    if sl != sl:  # NaN
        return level
    return max(sl, level) if direction > 0 else min(sl, level)


def trade_pnl(
    direction: int,
    entry: float,
    exit_: float,
    point_value: float,
    volume: float,
    fee_per_contract: float,
) -> tuple[float, float]:
    """(points, money) of a closed trade: fees are paid per contract on both sides."""
    points = (exit_ - entry) * direction
    return points, points * point_value * volume - 2.0 * fee_per_contract * volume


def bars_held(entry_i: int, exit_i: int, reason: int) -> int:
    """Bars with the position open during the bar (a flat-time exit leaves at the open)."""
    return exit_i - entry_i + (0 if reason == EXIT_FLAT else 1)


def flat_due(day: int, tod: int, entry_day: int, flat_tod: int) -> bool:
    """Must a position entered on ``entry_day`` be closed at the open of this bar?"""
    if flat_tod < 0:
        return False
    return day > entry_day or tod >= flat_tod
