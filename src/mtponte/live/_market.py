"""The runner's view of the exchange: session phase, the pre-call flat, the front contract.

Built from the ``[session]`` section; every answer comes from the versioned calendar
data (:mod:`mtponte.live.calendar`) and the roll rule (:mod:`mtponte.live.roll`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from mtponte.live.calendar import CalendarError, SessionCalendar, load_calendar
from mtponte.live.roll import Contract, front_contract, parse_contract
from mtponte.live.session import SessionSection


class Market:
    """Session phase and traded contract for one runner.

    Parameters
    ----------
    section
        The ``[session]`` configuration (its calendar must be set).
    traded
        The symbol traded when ``roll = "off"`` (a dated code such as ``WINZ25`` gets
        its expiry-day cut-off; any other name has none).
    """

    def __init__(self, section: SessionSection, traded: str) -> None:
        assert section.calendar is not None
        self.section = section
        self.cal: SessionCalendar = load_calendar(section.calendar)
        self.contract: Contract | None = None
        if section.roll == "off":
            try:
                self.contract = parse_contract(traded, self.cal)
            except CalendarError:
                self.contract = None  # not a dated contract: no expiry cut-off
        self.front_day: date | None = None
        self._front: Contract | None = None

    @property
    def expiry(self) -> date | None:
        """Expiry of the contract traded now (``None``: undated)."""
        return self.contract.expiry if self.contract is not None else None

    def phase(self, t: datetime) -> str:
        """The phase (``open``, ``pre_open`` ...) at instant ``t``."""
        return self.cal.phase(t, self.expiry).value

    def flat_due(self, next_time: datetime, tf: timedelta) -> bool:
        """Whether the bar opening at ``next_time`` would run into the closing call (or
        the cut-off of an expiring contract): a position must be closed at its open."""
        if not self.section.flat_before_call:
            return False
        day = self.cal.local(next_time).date()
        if not self.cal.is_session(day):
            return True
        # the next decision is at next_time + tf: if that is not before the call, now
        return next_time + tf >= self.cal.regular_end(day, self.expiry)

    def front(self, t: datetime) -> Contract | None:
        """Under ``roll = "rule"``, the contract to trade in the session of instant
        ``t`` (``None``: no roll rule)."""
        if self.section.roll == "off":
            return None
        day = self.cal.local(t).date()
        if day != self.front_day:
            self.front_day = day
            self._front = front_contract(
                self.cal.add_sessions(day, 0),
                self.cal,
                self.section.root,
                self.section.roll_sessions_before,
            )
        return self._front
