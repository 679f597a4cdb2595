"""Symbol, direction and trading-hours filters; the trading day."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mtponte.copy.engine._filters import check, in_hours, trading_day
from tests.copy.engine.helpers import T0, follower, one, pos, settings, view

D = 1_779_926_400  # 2026-05-28 00:00 UTC
H = 3600

# (master symbol, follower symbol, side, settings, reason or "")
CHECK_CASES: list[tuple[Any, ...]] = [
    ("EURUSD", "EURUSD", "buy", {}, ""),
    (
        "EURUSDX",
        "EURUSDX",
        "buy",
        {"enableSymbolFilter": True, "allowedSymbols": ["EURUSD"]},
        "symbol EURUSDX→EURUSDX is not in allowedSymbols",
    ),
    ("EURUSD", "EURUSD.pro", "buy", {"enableSymbolFilter": True, "allowedSymbols": ["EURUSD"]}, ""),
    (
        "EURUSD",
        "EURUSD.pro",
        "buy",
        {"enableSymbolFilter": True, "allowedSymbols": ["EURUSD.pro"]},
        "",
    ),
    ("EURUSD", "EURUSD", "buy", {"enableSymbolFilter": True, "allowedSymbols": [" eurusd "]}, ""),
    ("GBPUSD", "GBPUSD", "buy", {"enableSymbolFilter": False, "allowedSymbols": ["EURUSD"]}, ""),
    (
        "EURUSD",
        "EURUSD",
        "buy",
        {"enableSymbolFilter": True, "allowedSymbols": []},
        "symbol EURUSD→EURUSD is not in allowedSymbols",
    ),
    (
        "XAUUSD",
        "XAUUSD.pro",
        "buy",
        {"blockedSymbols": ["XAUUSD.pro"]},
        "symbol XAUUSD→XAUUSD.pro is blocked",
    ),
    ("XAUUSDX", "XAUUSDX", "buy", {"blockedSymbols": ["XAUUSD"]}, ""),
    (
        "EURUSD",
        "EURUSD",
        "sell",
        {"enableDirectionFilter": True, "allowedDirections": ["BUY"]},
        "direction SELL is not in allowedDirections",
    ),
    (
        "EURUSD",
        "EURUSD",
        "sell",
        {"enableDirectionFilter": False, "allowedDirections": ["BUY"]},
        "",
    ),
]
CHECK_IDS = [
    "no_filters_pass",
    "symbol_filter_exact_not_substring",
    "symbol_filter_matches_master_name",
    "symbol_filter_matches_follower_name",
    "symbol_filter_ignores_case_and_spaces",
    "symbol_filter_off_allows_all",
    "symbol_filter_on_empty_list_allows_none",
    "blocked_follower_name_refused",
    "blocked_exact_not_substring",
    "direction_filter_refuses_sell",
    "direction_filter_off_allows_all",
]


@pytest.mark.parametrize(("master", "fol", "side", "cfg", "why"), CHECK_CASES, ids=CHECK_IDS)
def test_check(master: str, fol: str, side: str, cfg: dict[str, Any], why: str) -> None:
    assert check(master, fol, side, T0, settings(**cfg)) == why  # type: ignore[arg-type]


# (hours, timezone, now, inside)
HOURS_CASES = [
    ("", "UTC", T0, True),
    ("09:00-17:00", "UTC", D + 9 * H, True),
    ("09:00-17:00", "UTC", D + 17 * H, False),
    ("09:00-17:00", "UTC", D + 17 * H - 1, True),
    ("22:00-02:00", "UTC", D + 23 * H + 1800, True),
    ("22:00-02:00", "UTC", D + 1 * H, True),
    ("22:00-02:00", "UTC", D + 2 * H, False),
    ("22:00-02:00", "UTC", D + 12 * H, False),
    ("17:00-18:00", "America/Sao_Paulo", T0, True),
    ("20:00-21:00", "America/Sao_Paulo", T0, False),
    ("00:00-00:00", "UTC", T0, True),
    ("09:00-09:00", "UTC", D + 3 * H, True),
]
HOURS_IDS = [
    "no_window_always",
    "window_start_inclusive",
    "window_end_exclusive",
    "window_last_second_inside",
    "trading_hours_over_midnight_before_midnight",
    "trading_hours_over_midnight_after_midnight",
    "trading_hours_over_midnight_end_exclusive",
    "trading_hours_over_midnight_midday_outside",
    "window_in_settings_timezone_not_utc",
    "utc_window_not_applied_in_other_zone",
    "equal_start_end_whole_day",
    "equal_start_end_whole_day_not_midnight",
]


@pytest.mark.parametrize(("hours", "tz", "now", "inside"), HOURS_CASES, ids=HOURS_IDS)
def test_in_hours(hours: str, tz: str, now: int, inside: bool) -> None:
    got, why = in_hours(now, settings(tradingHours=hours, timezone=tz))
    assert got is inside
    assert (why == "") is inside


def test_outside_hours_reason_names_window_and_local_time() -> None:
    s = settings(tradingHours="09:00-17:00", timezone="America/Sao_Paulo")
    assert in_hours(T0, s) == (
        False,
        "outside trading hours 09:00-17:00 America/Sao_Paulo (now 17:26)",
    )


def test_outside_hours_position_skipped_not_deferred() -> None:
    s = settings(tradingHours="09:00-10:00")
    r = one(view(pos("7")), s)
    assert r.state.skipped["7"].startswith("outside trading hours 09:00-10:00 UTC")
    later = one(view(pos("7")), settings(), state=r.state, now=D + 9 * H + 86400)
    assert later.state.copies == {}
    assert later.decisions == ()


@pytest.mark.parametrize(
    ("now", "tz", "day"),
    [
        (D + 2 * H, "UTC", "2026-05-28"),
        (D + 2 * H, "America/Sao_Paulo", "2026-05-27"),
        (D + 23 * H, "Asia/Tokyo", "2026-05-29"),
    ],
    ids=["day_utc", "day_in_zone_behind_utc", "day_in_zone_ahead_of_utc"],
)
def test_trading_day(now: int, tz: str, day: str) -> None:
    assert trading_day(now, tz) == day


@pytest.mark.parametrize(
    "cfg",
    [{"tradingHours": "9-17"}, {"tradingHours": "25:00-26:00"}, {"timezone": "Mars/Base"}],
    ids=["hours_malformed_refused", "hours_out_of_range_refused", "unknown_timezone_refused"],
)
def test_settings_validation(cfg: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**cfg)


def test_direction_filter_applies_after_invert() -> None:
    s = settings(invert=True, enableDirectionFilter=True, allowedDirections=["SELL"])
    r = one(view(pos("7", side="buy")), s, follower())
    assert r.state.copies["7"].side == "sell"
    r2 = one(view(pos("8", side="sell")), s, follower())
    assert r2.state.skipped["8"] == "direction BUY is not in allowedDirections"


def test_symbol_filter_exact_not_substring_in_step() -> None:
    s = settings(enableSymbolFilter=True, allowedSymbols=["EURUSD"])
    r = one(view(pos("7", symbol="EURUSDX")), s, follower("EURUSD", "EURUSDX"))
    assert r.state.copies == {}
    assert "not in allowedSymbols" in r.state.skipped["7"]
