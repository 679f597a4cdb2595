"""The B3 session calendar (data file) and the WIN roll rule.

Expected dates are worked out by hand from the rule on the B3 product page
"Futuro Mini de Ibovespa" as research/anchors.md §D quotes it (even months, the
Wednesday nearest the 15th, the next session if that day has none); §D lists the
2025-10/12 and 2026 expiries the same rule gives (2025-10-15 confirmed by ADVFN).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil.easter import easter

from mtponte.live.calendar import CalendarError, Phase, load_calendar, parse_calendar
from mtponte.live.config import config_problems
from mtponte.live.roll import (
    contract_code,
    expiry_date,
    front_contract,
    parse_contract,
    pick_by_expiry,
)

SP = ZoneInfo("America/Sao_Paulo")
B3 = load_calendar("b3")


def _raw() -> dict:
    text = (resources.files("mtponte.live") / "calendars" / "b3.toml").read_text("utf-8")
    return tomllib.loads(text)


def at(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SP)


def test_the_file_is_versioned_and_covers_2025_to_2027() -> None:
    assert B3.version and B3.timezone == "America/Sao_Paulo"
    assert B3.periods[0].start <= date(2025, 1, 1) and B3.valid_until >= date(2027, 12, 31)


def _b3_holidays(year: int) -> set[date]:
    """B3's trading holidays of ``year`` from their rules (as the ``holidays`` package's
    BVMF calendar defines them): the national holidays, Carnival Monday and Tuesday,
    Good Friday and Corpus Christi (from Easter), Black Awareness Day (national from
    2024), Christmas Eve and the last weekday of the year."""
    e = easter(year)
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 24), (12, 25)]
    out = {date(year, m, d) for m, d in fixed}
    out |= {e - timedelta(days=48), e - timedelta(days=47), e - timedelta(days=2)}
    out.add(e + timedelta(days=60))
    if year >= 2024:
        out.add(date(year, 11, 20))
    last = date(year, 12, 31)
    while last.weekday() >= 5:
        last -= timedelta(days=1)
    out.add(last)
    return out


def test_holidays_follow_the_b3_rules() -> None:
    first, until = B3.periods[0].start, B3.valid_until
    want = set().union(*(_b3_holidays(y) for y in range(first.year, until.year + 1)))
    assert set(B3.holidays) == {d for d in want if first <= d <= until}


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        # the 15th: Sat, Tue, Sun, Fri, Wed, Mon -> 12, 16, 18, 13, 15, 17
        (2025, ["02-12", "04-16", "06-18", "08-13", "10-15", "12-17"]),
        # Sun, Wed, Mon, Sat, Thu, Tue -> 18 (Ash Wednesday, a session), 15, 17, 12, 14, 16
        (2026, ["02-18", "04-15", "06-17", "08-12", "10-14", "12-16"]),
        # Mon, Thu, Tue, Sun, Fri, Wed -> 17, 14, 16, 18, 13, 15
        (2027, ["02-17", "04-14", "06-16", "08-18", "10-13", "12-15"]),
    ],
)
def test_expiries_are_the_wednesday_nearest_the_15th_of_even_months(
    year: int, expected: list[str]
) -> None:
    got = [expiry_date(year, m, B3).isoformat()[5:] for m in (2, 4, 6, 8, 10, 12)]
    assert got == expected


def test_an_expiry_on_a_holiday_moves_to_the_next_session() -> None:
    raw = _raw()
    raw["holidays"] = {**raw["holidays"], "2025-12-17": "made-up holiday"}
    cal = parse_calendar(raw)
    assert expiry_date(2025, 12, cal) == date(2025, 12, 18)
    assert parse_contract("WINZ25", cal).expiry == date(2025, 12, 18)


def test_contract_codes() -> None:
    assert [contract_code("WIN", 2025, m) for m in (2, 4, 6, 8, 10, 12)] == [
        "WING25",
        "WINJ25",
        "WINM25",
        "WINQ25",
        "WINV25",
        "WINZ25",
    ]
    with pytest.raises(CalendarError, match="even months"):
        contract_code("WIN", 2025, 11)
    with pytest.raises(CalendarError, match="not a dated contract"):
        parse_contract("WINX25", B3)
    assert parse_contract("WINV25", B3).expiry == date(2025, 10, 15)


def test_front_contract_rolls_n_sessions_before_expiry() -> None:
    # WINZ25 expires Wed 2025-12-17; two sessions before is Mon 12-15.
    assert front_contract(date(2025, 12, 15), B3, "WIN", 2).code == "WINZ25"
    assert front_contract(date(2025, 12, 16), B3, "WIN", 2).code == "WING26"
    # 0: traded through its expiry day
    assert front_contract(date(2025, 12, 17), B3, "WIN", 0).code == "WINZ25"
    assert front_contract(date(2025, 12, 18), B3, "WIN", 0).code == "WING26"
    # odd month: the next even month's contract
    assert front_contract(date(2025, 11, 3), B3, "WIN", 2).code == "WINZ25"
    # sessions are counted over holidays: WING26 expires Wed 2026-02-18, Carnival is
    # Mon 16 and Tue 17, so two sessions before is Thu 02-12
    assert front_contract(date(2026, 2, 12), B3, "WIN", 2).code == "WING26"
    assert front_contract(date(2026, 2, 13), B3, "WIN", 2).code == "WINJ26"


def test_pick_by_expiry_takes_the_nearest_still_tradable() -> None:
    listed = {"WING26": date(2026, 2, 18), "WINZ25": date(2025, 12, 17)}
    assert pick_by_expiry(date(2025, 12, 15), listed, B3, 2).code == "WINZ25"
    assert pick_by_expiry(date(2025, 12, 16), listed, B3, 2).code == "WING26"
    with pytest.raises(CalendarError, match="no listed contract"):
        pick_by_expiry(date(2026, 3, 2), listed, B3, 2)


@pytest.mark.parametrize(
    ("t", "phase"),
    [
        (at(2025, 12, 15, 8, 54, 59), Phase.CLOSED),
        (at(2025, 12, 15, 8, 55), Phase.PRE_OPEN),
        (at(2025, 12, 15, 8, 59, 59), Phase.PRE_OPEN),
        (at(2025, 12, 15, 9, 0), Phase.OPEN),
        (at(2025, 12, 15, 18, 24, 59), Phase.OPEN),
        (at(2025, 12, 15, 18, 25), Phase.CLOSING_CALL),
        (at(2025, 12, 15, 18, 30), Phase.CLOSED),
        (at(2025, 12, 25, 10, 0), Phase.HOLIDAY),
        (at(2025, 12, 13, 10, 0), Phase.CLOSED),  # Saturday
        # the same instant in UTC (Brasília is UTC-3): 12:00Z is 09:00 local
        (datetime(2025, 12, 15, 12, 0, tzinfo=UTC), Phase.OPEN),
        (datetime(2025, 12, 15, 11, 59, tzinfo=UTC), Phase.PRE_OPEN),
    ],
)
def test_phase_at_boundary_instants(t: datetime, phase: Phase) -> None:
    assert B3.phase(t) is phase


def test_the_grid_moves_with_us_daylight_saving() -> None:
    # 18:27 local: inside the session while it closed at 18:30 (2024-11-04 .. 2025-03-09),
    # in the closing call on either side of that period
    assert B3.phase(at(2024, 11, 1, 18, 27)) is Phase.CLOSING_CALL
    assert B3.phase(at(2024, 11, 4, 18, 27)) is Phase.OPEN
    assert B3.phase(datetime(2025, 3, 7, 21, 27, tzinfo=UTC)) is Phase.OPEN
    assert B3.phase(datetime(2025, 3, 10, 21, 27, tzinfo=UTC)) is Phase.CLOSING_CALL


def test_expiry_day_cut_off() -> None:
    exp = date(2025, 12, 17)
    assert B3.phase(at(2025, 12, 17, 16, 59), exp) is Phase.OPEN
    assert B3.phase(at(2025, 12, 17, 17, 0), exp) is Phase.CLOSED
    assert B3.phase(at(2025, 12, 17, 17, 0)) is Phase.OPEN  # another contract
    assert B3.regular_end(exp, exp) == at(2025, 12, 17, 17, 0)
    assert B3.regular_end(exp) == at(2025, 12, 17, 18, 25)


def test_outside_coverage_and_naive_times_are_clear_errors() -> None:
    with pytest.raises(CalendarError, match="covers"):
        B3.phase(at(2022, 6, 1, 10, 0))
    with pytest.raises(CalendarError, match="naive"):
        B3.phase(datetime(2025, 12, 15, 10, 0))


def test_config_check_names_the_key_of_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "cal.toml"
    raw = _raw()
    raw_text = (resources.files("mtponte.live") / "calendars" / "b3.toml").read_text("utf-8")
    bad.write_text(raw_text.replace('open = "09:00"', 'open = "9h"', 1), encoding="utf-8")
    assert raw["periods"][0]["open"] == "09:00"
    problems = config_problems(None, {"session": {"calendar": str(bad)}})
    assert len(problems) == 1 and problems[0].startswith("session.calendar: ")
    assert "periods[0].open: not a time" in problems[0]
    assert config_problems(None, {"session": {"calendar": "nyse"}}) == [
        "session.calendar: Value error, no calendar 'nyse' (shipped: b3; or give a .toml "
        "path) (got 'nyse')"
    ]
    assert config_problems(None, {"session": {"roll": "rule"}})[0].startswith("session: ")
    both = {"trade_symbol": "WINZ25", "session": {"calendar": "b3", "roll": "rule"}}
    assert "both name the traded symbol" in config_problems(None, both)[0]
    assert config_problems(None, {"session": {"calendar": "b3", "root": "win"}})[0].startswith(
        "session.root: "
    )
    assert config_problems(None, {"session": {"calendar": "b3", "roll": "rule"}}) == []
    assert time(17, 0) == B3.expiry_cutoff
