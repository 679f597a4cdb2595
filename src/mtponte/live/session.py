"""The ``[session]`` configuration section: exchange calendar and contract roll."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mtponte.live.calendar import CalendarError, load_calendar


class SessionSection(BaseModel):
    """The exchange's session calendar and which dated contract is traded.

    Attributes
    ----------
    calendar
        A shipped calendar (``"b3"``: ``live/calendars/b3.toml``) or a ``.toml`` path;
        ``None``: no calendar (no market-phase rule, no roll).
    flat_before_call
        With a calendar: close an open position at the open of the bar that would run
        into the closing call (or the expiry cut-off of the contract traded).
    roll
        ``off``: trade ``trade_symbol`` (or ``symbol``); ``rule``: trade the front
        contract of ``root`` (even months, the Wednesday nearest the 15th), switching
        at a session boundary while flat.
    root
        Contract root for ``roll = "rule"``.
    roll_sessions_before
        The expiring contract is traded through the session this many sessions before
        its expiry (0: the expiry day, until the cut-off); the next one afterwards.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: str | None = None
    flat_before_call: bool = True
    roll: Literal["off", "rule"] = "off"
    root: str = Field("WIN", pattern=r"^[A-Z]{3}$")
    roll_sessions_before: int = Field(2, ge=0, le=20)

    @field_validator("calendar")
    @classmethod
    def _loads(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                load_calendar(v)
            except CalendarError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _roll_needs_calendar(self) -> SessionSection:
        if self.roll != "off" and self.calendar is None:
            raise ValueError("roll = 'rule' needs a calendar (expiries and sessions)")
        return self
