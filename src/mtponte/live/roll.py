"""Dated B3 index contracts (``WINZ25``) and which one is the front on a session day.

The rule (B3 product page "Futuro Mini de Ibovespa", research/anchors.md §D): WIN
expires in **even months** on the **Wednesday nearest the 15th** (the next session when
that day has none); the code is the root, the month letter (G Feb, J Apr, M Jun, Q Aug,
V Oct, Z Dec) and the 2-digit year. Pure functions of a
:class:`~mtponte.live.calendar.SessionCalendar`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from mtponte.live.calendar import CalendarError, SessionCalendar

MONTH_LETTERS = {2: "G", 4: "J", 6: "M", 8: "Q", 10: "V", 12: "Z"}
_LETTER_MONTH = {v: k for k, v in MONTH_LETTERS.items()}
_CODE = re.compile(r"^(?P<root>[A-Z]{3})(?P<letter>[FGHJKMNQUVXZ])(?P<yy>\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class Contract:
    """One dated contract (ordered by expiry)."""

    expiry: date
    code: str


def contract_code(root: str, year: int, month: int) -> str:
    """``WIN`` + month letter + 2-digit year (even months only)."""
    if month not in MONTH_LETTERS:
        raise CalendarError(f"{root} has no contract in month {month} (even months only)")
    return f"{root}{MONTH_LETTERS[month]}{year % 100:02d}"


def expiry_date(year: int, month: int, cal: SessionCalendar) -> date:
    """The Wednesday nearest the 15th of ``month``, or the next session if it has none."""
    fifteenth = date(year, month, 15)
    wed = fifteenth + timedelta(days=(2 - fifteenth.weekday() + 3) % 7 - 3)
    return cal.add_sessions(wed, 0)


def parse_contract(code: str, cal: SessionCalendar) -> Contract:
    """``WINZ25`` → its expiry (years read as 20yy).

    Raises
    ------
    CalendarError
        Not a root + even-month letter + 2-digit year code.
    """
    m = _CODE.match(code)
    if m is None or m["letter"] not in _LETTER_MONTH:
        raise CalendarError(
            f"{code!r} is not a dated contract code (root + G/J/M/Q/V/Z + 2-digit year)"
        )
    return Contract(expiry_date(2000 + int(m["yy"]), _LETTER_MONTH[m["letter"]], cal), code)


def last_session(c: Contract, cal: SessionCalendar, roll_sessions_before: int) -> date:
    """The last session ``c`` is traded on: ``roll_sessions_before`` sessions before its
    expiry (0: the expiry day itself, until the expiry cut-off)."""
    return cal.add_sessions(c.expiry, -roll_sessions_before)


def front_contract(
    day: date, cal: SessionCalendar, root: str, roll_sessions_before: int
) -> Contract:
    """The contract traded on session ``day`` under the roll rule.

    Parameters
    ----------
    day
        A local session date.
    cal
        The exchange calendar (expiries move off holidays; sessions are counted in it).
    root
        Contract root (``WIN``).
    roll_sessions_before
        The old contract is traded through the session this many sessions before its
        expiry; the next one from the session after.

    Returns
    -------
    Contract
    """
    year, month = day.year, day.month + (day.month % 2)  # this or the next even month
    for _ in range(3):
        if month > 12:
            year, month = year + 1, month - 12
        c = Contract(expiry_date(year, month, cal), contract_code(root, year, month))
        if day <= last_session(c, cal, roll_sessions_before):
            return c
        month += 2
    raise CalendarError(f"no front {root} contract for {day}")  # pragma: no cover


def pick_by_expiry(
    day: date, listed: Mapping[str, date], cal: SessionCalendar, roll_sessions_before: int
) -> Contract:
    """Among the broker's dated symbols (``{code: expiry}``, e.g. from
    ``symbols_get("WIN*")``), the nearest-expiring one still tradable on ``day``.

    Raises
    ------
    CalendarError
        None of them is.
    """
    live = sorted(
        c
        for c in (Contract(e, code) for code, e in listed.items())
        if day <= last_session(c, cal, roll_sessions_before)
    )
    if not live:
        raise CalendarError(f"no listed contract is tradable on {day}: {sorted(listed)}")
    return live[0]
