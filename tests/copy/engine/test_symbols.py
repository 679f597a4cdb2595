"""Symbol resolution across brokers: map, exact, suffix/prefix rules, unique contains."""

from __future__ import annotations

import pytest

from mtponte.copy.engine._symbols import bases, parse_map, resolve
from tests.copy.engine.helpers import follower, one, pos, settings, view

CASES = [
    # (master, map entries, follower names, expected follower name or None, reason part)
    ("EURUSD", [], ["EURUSD", "EURUSD.pro"], "EURUSD", "same name"),
    ("EURUSD", [], ["EURUSD.pro", "GBPUSD.pro"], "EURUSD.pro", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSDm", "GBPUSDm"], "EURUSDm", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSD.m"], "EURUSD.m", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSD_i"], "EURUSD_i", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSDecn"], "EURUSDecn", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSD.raw"], "EURUSD.raw", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSD.lp"], "EURUSD.lp", "suffix/prefix rule"),
    ("EURUSD", [], ["EURUSD#"], "EURUSD#", "suffix/prefix rule"),
    ("EURUSD", [], ["#EURUSD"], "#EURUSD", "suffix/prefix rule"),
    ("EURUSD", [], ["eurusd"], "eurusd", "suffix/prefix rule"),
    ("EURUSD.pro", [], ["EURUSDm"], "EURUSDm", "suffix/prefix rule"),
    ("EURUSDc", [], ["EURUSD", "EURUSDm"], "EURUSD", "suffix/prefix rule"),
    ("BTCUSD", [], ["BTCUSDc", "ETHUSDc"], "BTCUSDc", "suffix/prefix rule"),
    ("US30", [], ["US30.pro", "US500.pro"], "US30.pro", "suffix/prefix rule"),
    ("US30", [], ["US30m", "US500m"], "US30m", "unique name containing US30"),
    ("EURUSD", ["EURUSD=EUR/USD"], ["EURUSD", "EUR/USD"], "EUR/USD", "symbolMap"),
    ("WIN$", ["WIN$=WINZ26"], ["WINZ26"], "WINZ26", "symbolMap"),
    ("WIN$", [], ["WINZ26", "WDOZ26"], None, "not found"),
    ("EURUSD", ["EURUSD=EURUSD.x"], ["EURUSD"], None, "does not list"),
    ("EURUSD", [], ["EURUSDm", "EURUSD.pro"], None, "ambiguous"),
    ("ETHBTC", [], ["ETHBT"], None, "not found"),
    ("US30", [], ["US30m", "US300m"], None, "candidates: US300m, US30m"),
    ("XAUUSD", [], ["GOLD"], None, "not found"),
]
IDS = [
    "exact_name_beats_suffixed",
    "suffix_pro_found",
    "suffix_m_found",
    "suffix_dot_m_found",
    "suffix_underscore_i_found",
    "suffix_ecn_found",
    "suffix_raw_found",
    "suffix_lp_found",
    "suffix_hash_found",
    "prefix_hash_found",
    "case_differs_found",
    "master_suffix_to_follower_suffix",
    "suffixed_master_prefers_bare_follower",
    "btc_c_suffix_stripped_when_base_long_enough",
    "us30_pro_found_for_short_base",
    "short_base_bare_suffix_by_unique_contains",
    "map_beats_exact_name",
    "map_resolves_futures_roll",
    "futures_roll_not_guessed_without_map",
    "mapped_name_missing_refused_no_fallback",
    "two_suffix_candidates_ambiguous_refused",
    "short_name_c_not_stripped_wrongly",
    "contains_match_not_unique_refused",
    "different_name_not_guessed",
]


@pytest.mark.parametrize(("master", "entries", "names", "expected", "why"), CASES, ids=IDS)
def test_resolve(
    master: str, entries: list[str], names: list[str], expected: str | None, why: str
) -> None:
    got, reason = resolve(master, parse_map(entries), names)
    assert got == expected
    assert why in reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTCUSDc", {"BTCUSDC", "BTCUSD"}),
        ("ETHBTC", {"ETHBTC"}),
        ("US30.pro", {"US30.PRO", "US30"}),
        ("US30m", {"US30M"}),
        (".EURUSD", {"EURUSD"}),
    ],
    ids=[
        "one_letter_suffix_needs_six_chars_left",
        "pair_ending_in_c_keeps_its_c",
        "separated_suffix_short_base_ok",
        "one_letter_suffix_short_base_kept",
        "leading_dot_prefix_dropped",
    ],
)
def test_bases(name: str, expected: set[str]) -> None:
    assert bases(name) == expected


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["EURUSD = EURUSD.pro"], {"EURUSD": "EURUSD.pro"}),
        (["EURUSD", "=X", "Y="], {}),
        (["A=B", "A=C"], {"A": "C"}),
    ],
    ids=["map_spaces_trimmed", "map_malformed_entries_ignored", "map_later_entry_wins"],
)
def test_parse_map(entries: list[str], expected: dict[str, str]) -> None:
    assert parse_map(entries) == expected


def test_unresolved_symbol_skipped_with_reason_in_step() -> None:
    r = one(view(pos("7", symbol="XAUUSD")), settings(), follower("EURUSD"))
    assert r.state.copies == {}
    assert r.state.skipped["7"].startswith("symbol XAUUSD not found")
    assert [d.action for d in r.decisions] == ["skip"]


def test_suffix_mapped_copy_uses_follower_name_in_step() -> None:
    r = one(view(pos("7")), settings(), follower("EURUSD.pro"))
    assert r.targets[0].symbol == "EURUSD.pro"
    assert r.targets[0].target_id == "s1t7"
