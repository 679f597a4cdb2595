"""Filters on new copies, the trading day and the trading-hours window.

- ``blockedSymbols``: a copy is refused when the master's or the follower's name
  equals a blocked name.
- ``allowedSymbols`` (only with ``enableSymbolFilter``): a copy is allowed only when
  the master's or the follower's name equals an allowed name. Names compare whole
  (``EURUSD`` does not allow ``EURUSDX``), ignoring case and surrounding spaces.
- Directions (only with ``enableDirectionFilter``): the follower's side, after
  ``invert``, must be in ``allowedDirections``.
- Trading hours ``"HH:MM-HH:MM"`` in ``timezone``: a new copy is decided only when
  ``now`` lies in ``[start, end)``; ``start > end`` is a window over midnight
  (``22:00-02:00``); ``start == end`` is the whole day; ``""`` always. A position
  outside the window is refused (not deferred). Closes and changes are always
  followed.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from mtponte.copy.engine.model import SideName
from mtponte.copy.engine.settings import CopySettings

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def local_time(now: int, timezone: str) -> datetime:
    """``now`` (epoch seconds) as a wall-clock time in ``timezone``.

    Parameters
    ----------
    now
        Epoch seconds (UTC).
    timezone
        IANA zone name.

    Returns
    -------
    datetime
        Aware datetime in ``timezone``.
    """
    return datetime.fromtimestamp(now, ZoneInfo(timezone))


def trading_day(now: int, timezone: str) -> str:
    """The trading day (``YYYY-MM-DD``) of ``now`` in ``timezone``.

    Parameters
    ----------
    now
        Epoch seconds (UTC).
    timezone
        IANA zone name.

    Returns
    -------
    str
        ISO date.
    """
    return local_time(now, timezone).date().isoformat()


def parse_hours(text: str) -> tuple[int, int] | None:
    """``"HH:MM-HH:MM"`` → minutes of the day of start and end.

    Parameters
    ----------
    text
        The window; ``""`` means always.

    Returns
    -------
    tuple[int, int] | None
        ``(start, end)`` in minutes, or ``None`` for ``""``.

    Raises
    ------
    ValueError
        When ``text`` is neither empty nor a valid window.
    """
    if not text.strip():
        return None
    m = _HOURS.match(text)
    if not m:
        raise ValueError(f"tradingHours {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"tradingHours {text!r} is not HH:MM-HH:MM")
    return h1 * 60 + m1, h2 * 60 + m2


def in_hours(now: int, settings: CopySettings) -> tuple[bool, str]:
    """Whether ``now`` lies in the trading-hours window.

    Parameters
    ----------
    now
        Epoch seconds (UTC).
    settings
        The subscription's settings (``tradingHours``, ``timezone``).

    Returns
    -------
    tuple[bool, str]
        Inside, and the reason when not.
    """
    try:
        window = parse_hours(settings.tradingHours)
    except ValueError as exc:
        return False, str(exc)
    if window is None:
        return True, ""
    start, end = window
    t = local_time(now, settings.timezone)
    minute = t.hour * 60 + t.minute
    # start > end: over midnight; start == end: the whole day
    over_midnight = minute >= start or minute < end
    inside = start <= minute < end if start < end else over_midnight
    if inside:
        return True, ""
    return False, (
        f"outside trading hours {settings.tradingHours.strip()} {settings.timezone} (now {t:%H:%M})"
    )


def _has(names: list[str], *candidates: str) -> bool:
    wanted = {n.strip().upper() for n in names}
    return any(c.strip().upper() in wanted for c in candidates)


def check(
    master_symbol: str, follower_symbol: str, side: SideName, now: int, settings: CopySettings
) -> str:
    """Why a new copy is refused by the filters, or ``""``.

    Parameters
    ----------
    master_symbol, follower_symbol
        The symbol as the master's and the follower's brokers name it.
    side
        The follower's side (after ``invert``).
    now
        Epoch seconds (UTC).
    settings
        The subscription's settings.

    Returns
    -------
    str
        The reason, or ``""`` when every filter lets the copy through.
    """
    if _has(settings.blockedSymbols, master_symbol, follower_symbol):
        return f"symbol {master_symbol}→{follower_symbol} is blocked"
    if settings.enableSymbolFilter and not _has(
        settings.allowedSymbols, master_symbol, follower_symbol
    ):
        return f"symbol {master_symbol}→{follower_symbol} is not in allowedSymbols"
    if settings.enableDirectionFilter and side.upper() not in settings.allowedDirections:
        return f"direction {side.upper()} is not in allowedDirections"
    inside, why = in_hours(now, settings)
    return "" if inside else why
