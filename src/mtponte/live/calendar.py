"""Exchange session calendars read from versioned data files (``live/calendars/*.toml``).

A calendar answers "which phase is the market in at instant ``t``" (pre-opening, regular
session, closing call, closed, holiday) and "which days are sessions", from data only:
periods with their hours (B3's grid moves with *US* daylight saving time, so each change
is a period), the holidays, and the expiry-day cut-off of an expiring contract. Instants
are aware datetimes (UTC inside); wall times are the calendar's own time zone. No I/O
except :func:`load_calendar`, which reads the file once.
"""

from __future__ import annotations

import bisect
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mtponte.errors import ConfigError


class CalendarError(ConfigError):
    """A calendar file is invalid, or an instant is outside what it covers."""


class Phase(Enum):
    """What the market does at an instant."""

    PRE_OPEN = "pre_open"
    OPEN = "open"
    CLOSING_CALL = "closing_call"
    CLOSED = "closed"
    HOLIDAY = "holiday"


@dataclass(frozen=True, slots=True)
class Period:
    """The day's grid from ``start`` (local date, inclusive) until the next period."""

    start: date
    pre_open: time
    open: time
    closing_call: time
    close: time


@dataclass(frozen=True, slots=True)
class SessionCalendar:
    """A versioned exchange calendar (see the module docstring).

    Attributes
    ----------
    name, version
        What the data file says it is.
    timezone
        IANA zone of every wall time in the file.
    periods
        Grids sorted by start date; the first start is where coverage begins.
    valid_until
        Last local date covered (holidays are known up to it).
    holidays
        Local dates with no session, with their names.
    expiry_cutoff
        Wall time at which an expiring contract stops trading on its expiry day.
    """

    name: str
    version: str
    timezone: str
    periods: tuple[Period, ...]
    valid_until: date
    holidays: dict[date, str]
    expiry_cutoff: time

    # ------------------------------------------------------------------ days
    def _covered(self, day: date) -> None:
        if not self.periods[0].start <= day <= self.valid_until:
            raise CalendarError(
                f"calendar {self.name} {self.version} covers "
                f"{self.periods[0].start}..{self.valid_until}, not {day}"
            )

    def period(self, day: date) -> Period:
        """The grid in force on local date ``day``."""
        self._covered(day)
        starts = [p.start for p in self.periods]
        return self.periods[bisect.bisect_right(starts, day) - 1]

    def is_session(self, day: date) -> bool:
        """Whether local date ``day`` has a session (a weekday that is not a holiday)."""
        self._covered(day)
        return day.weekday() < 5 and day not in self.holidays

    def add_sessions(self, day: date, n: int) -> date:
        """The session ``n`` sessions after (``n < 0``: before) ``day``; ``n = 0``:
        ``day`` itself when it is a session, else the next session."""
        step = -1 if n < 0 else 1
        d = day
        if n == 0:
            while not self.is_session(d):
                d += timedelta(days=1)
            return d
        left = abs(n)
        while left:
            d += timedelta(days=step)
            if self.is_session(d):
                left -= 1
        return d

    # ------------------------------------------------------------------ instants
    def local(self, t: datetime) -> datetime:
        """``t`` (aware) as wall time in the calendar's zone."""
        if t.tzinfo is None:
            raise CalendarError(f"naive datetime {t.isoformat()}: pass an aware time")
        return t.astimezone(ZoneInfo(self.timezone))

    def phase(self, t: datetime, expiry: date | None = None) -> Phase:
        """The market phase at instant ``t``.

        Parameters
        ----------
        t
            Aware instant.
        expiry
            Expiry date of the contract traded: on that day it stops at
            ``expiry_cutoff`` (closed afterwards).

        Returns
        -------
        Phase
            Intervals are half-open: the open instant is ``OPEN``, the call's start is
            ``CLOSING_CALL``.
        """
        lt = self.local(t)
        day, tod = lt.date(), lt.time().replace(tzinfo=None)
        if not self.is_session(day):
            return Phase.HOLIDAY if day in self.holidays else Phase.CLOSED
        p = self.period(day)
        if expiry is not None and day == expiry and tod >= self.expiry_cutoff:
            return Phase.CLOSED
        if tod < p.pre_open:
            return Phase.CLOSED
        if tod < p.open:
            return Phase.PRE_OPEN
        if tod < p.closing_call:
            return Phase.OPEN
        if tod < p.close:
            return Phase.CLOSING_CALL
        return Phase.CLOSED

    def regular_end(self, day: date, expiry: date | None = None) -> datetime:
        """Aware UTC instant the regular session of session ``day`` ends (the closing
        call, or the expiry cut-off on ``expiry``)."""
        if not self.is_session(day):
            raise CalendarError(f"{day} is not a session of {self.name}")
        end = self.period(day).closing_call
        if expiry is not None and day == expiry:
            end = min(end, self.expiry_cutoff)
        return datetime.combine(day, end, ZoneInfo(self.timezone)).astimezone(UTC)


# ---------------------------------------------------------------------- loading
def _time(value: Any, key: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{key}: not a time HH:MM (got {value!r})") from None


def _date(value: Any, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{key}: not a date YYYY-MM-DD (got {value!r})") from None


def parse_calendar(data: dict[str, Any], where: str = "calendar") -> SessionCalendar:
    """Build and check a calendar from parsed data (the TOML file's shape).

    Raises
    ------
    CalendarError
        Naming the first bad key (``where.key``).
    """
    for key in ("version", "name", "timezone", "valid_until", "expiry_cutoff", "periods"):
        if key not in data:
            raise CalendarError(f"{where}.{key}: missing")
    try:
        ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{where}.timezone: unknown zone {data['timezone']!r}") from None
    periods: list[Period] = []
    for i, raw in enumerate(data["periods"]):
        k = f"{where}.periods[{i}]"
        p = Period(
            _date(raw.get("start"), f"{k}.start"),
            *(_time(raw.get(f), f"{k}.{f}") for f in ("pre_open", "open", "closing_call", "close")),
        )
        if not p.pre_open <= p.open < p.closing_call <= p.close:
            raise CalendarError(f"{k}: need pre_open <= open < closing_call <= close")
        if periods and p.start <= periods[-1].start:
            raise CalendarError(f"{k}.start: periods must be in increasing start order")
        periods.append(p)
    if not periods:
        raise CalendarError(f"{where}.periods: at least one period is needed")
    hol = {
        _date(k, f"{where}.holidays.{k}"): str(v) for k, v in dict(data.get("holidays", {})).items()
    }
    until = _date(data["valid_until"], f"{where}.valid_until")
    if until < periods[0].start:
        raise CalendarError(f"{where}.valid_until: before the first period")
    return SessionCalendar(
        str(data["name"]),
        str(data["version"]),
        str(data["timezone"]),
        tuple(periods),
        until,
        hol,
        _time(data["expiry_cutoff"], f"{where}.expiry_cutoff"),
    )


def load_calendar(name_or_path: str | Path) -> SessionCalendar:
    """A shipped calendar by name (``"b3"``: ``live/calendars/b3.toml``) or a TOML file.

    Raises
    ------
    CalendarError
        Unknown name, unreadable or invalid file.
    """
    path = Path(name_or_path)
    try:
        if path.suffix == ".toml":
            text = path.read_text(encoding="utf-8")
        else:
            res = resources.files("mtponte.live") / "calendars" / f"{name_or_path}.toml"
            if not res.is_file():
                shipped = sorted(
                    f.name.removesuffix(".toml")
                    for f in (resources.files("mtponte.live") / "calendars").iterdir()
                    if f.name.endswith(".toml")
                )
                raise CalendarError(
                    f"no calendar {name_or_path!r} (shipped: {', '.join(shipped)}; "
                    "or give a .toml path)"
                )
            text = res.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise CalendarError(f"cannot read calendar {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"calendar {name_or_path} is not valid TOML: {exc}") from None
    return parse_calendar(data, str(name_or_path))
