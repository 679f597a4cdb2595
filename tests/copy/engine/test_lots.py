"""The lot pipeline and proportional resizing, every factor checked."""

from __future__ import annotations

from typing import Any

import pytest

from mtponte.copy.engine import FollowerFacts, MasterFacts
from mtponte.copy.engine._lots import floor_to_step, resize, size
from tests.copy.engine.helpers import factor, fx, one, pos, settings, view

STD = FollowerFacts(symbols={}, balance=1000.0, equity=900.0)
CENT = FollowerFacts(symbols={}, cent=True, balance=100_000.0, equity=90_000.0)
M_STD = MasterFacts(balance=10_000.0, equity=12_000.0)
M_CENT = MasterFacts(balance=100_000.0, equity=100_000.0, cent=True)

# (master lots, master facts, follower facts, spec kwargs, settings, sl, volume, reason part)
SIZE_CASES: list[tuple[Any, ...]] = [
    (0.5, M_STD, STD, {}, {"volumeMultiplier": 2.0}, None, 1.0, ""),
    (0.37, M_STD, STD, {}, {"volumeMode": "copy"}, None, 0.37, ""),
    (50.0, M_CENT, STD, {}, {"volumeMode": "copy"}, None, 0.5, ""),
    (0.05, M_STD, CENT, {}, {"volumeMode": "copy"}, None, 5.0, ""),
    (50.0, M_CENT, CENT, {}, {"volumeMode": "copy"}, None, 50.0, ""),
    (50.0, M_CENT, STD, {}, {"volumeMode": "fixed", "volumeFixed": 0.2}, None, 0.2, ""),
    (1.0, M_STD, STD, {}, {"volumeMode": "balance_ratio"}, None, 0.1, ""),
    (100.0, M_CENT, STD, {}, {"volumeMode": "balance_ratio"}, None, 1.0, ""),
    (1.0, MasterFacts(), STD, {}, {"volumeMode": "balance_ratio"}, None, None, "balance > 0"),
    (1.0, M_STD, STD, {}, {"volumeMode": "equity_ratio"}, None, 0.07, ""),
    (
        0.1,
        MasterFacts(contract_sizes={"EURUSD": 100_000.0}),
        STD,
        {"contract_size": 1000.0},
        {"volumeMode": "contract_size"},
        None,
        10.0,
        "",
    ),
    (
        0.1,
        M_STD,
        STD,
        {"contract_size": 1000.0},
        {"volumeMode": "contract_size"},
        None,
        None,
        "contract_size needs the master's contract size of EURUSD",
    ),
    (
        1.0,
        M_STD,
        FollowerFacts(symbols={}, balance=10_000.0),
        {},
        {"volumeMode": "risk_percent", "riskPercent": 1.0},
        1.095,
        0.2,
        "",
    ),
    (1.0, M_STD, STD, {}, {"volumeMode": "risk_percent"}, None, None, "risk_percent needs an SL"),
    (10.0, M_STD, STD, {}, {"maxVolume": 0.255}, None, 0.25, ""),
    (0.239, M_STD, STD, {}, {}, None, 0.23, ""),
    (0.3, M_STD, STD, {"lot_step": 0.1, "lot_min": 0.1}, {}, None, 0.3, ""),
    (
        0.004,
        M_STD,
        STD,
        {},
        {},
        None,
        None,
        "volume 0.004 floors to 0, below the lot minimum 0.01 of EURUSD (belowMin skip)",
    ),
    (0.004, M_STD, STD, {}, {"belowMin": "min"}, None, 0.01, ""),
    (8.0, M_STD, STD, {"lot_max": 5.0}, {}, None, 5.0, ""),
]
SIZE_IDS = [
    "multiplier_applied",
    "copy_mode_same_lots",
    "cent_master_standard_follower_divides_by_100",
    "standard_master_cent_follower_multiplies_by_100",
    "cent_both_sides_no_conversion",
    "fixed_ignores_cent_conversion",
    "balance_ratio_scales_by_balances",
    "balance_ratio_cent_master_compares_standard_money",
    "balance_ratio_without_master_balance_skipped",
    "equity_ratio_scales_by_equities",
    "contract_size_mode_scales_by_contract_sizes",
    "contract_size_mode_without_master_size_skipped",
    "risk_percent_from_sl_distance_and_tick_value",
    "risk_percent_needs_sl",
    "max_volume_caps_before_step",
    "lot_step_floors_not_rounds",
    "lot_step_epsilon_point_three_over_point_one",
    "below_min_skipped_with_reason",
    "below_min_forced_to_min_when_configured",
    "above_max_clamped",
]


@pytest.mark.parametrize(
    ("lots", "master", "facts", "spec_kw", "cfg", "sl", "volume", "why"), SIZE_CASES, ids=SIZE_IDS
)
def test_size(
    lots: float,
    master: MasterFacts,
    facts: FollowerFacts,
    spec_kw: dict[str, Any],
    cfg: dict[str, Any],
    sl: float | None,
    volume: float | None,
    why: str,
) -> None:
    got, reason, factors = size(
        lots, "EURUSD", master, facts, fx(**spec_kw), settings(**cfg), 1.1, sl
    )
    assert got == volume
    assert why in reason
    if volume is not None:
        assert reason == ""
        assert factors[0] == ("master_lots", lots)
        assert factors[-1] == ("volume", volume)


def test_factors_recorded_in_order() -> None:
    cfg = settings(volumeMultiplier=3.0, maxVolume=1.0)
    _, _, f = size(50.0, "EURUSD", M_CENT, STD, fx(), cfg, 1.1, None)
    assert f == [
        ("master_lots", 50.0),
        ("cent", 0.01),
        ("mode", "multiplier"),
        ("volumeMultiplier", 3.0),
        ("sized", 1.5),
        ("maxVolume", 1.0),
        ("lot_step", 0.01),
        ("floored", 1.0),
        ("volume", 1.0),
    ]


def test_balance_ratio_factors_in_standard_money() -> None:
    _, _, f = size(
        100.0, "EURUSD", M_CENT, STD, fx(), settings(volumeMode="balance_ratio"), 1.1, None
    )
    assert factor(tuple(f), "master_balance") == 1000.0
    assert factor(tuple(f), "follower_balance") == 1000.0
    assert factor(tuple(f), "balance_ratio") == 1.0


def test_risk_percent_factors() -> None:
    facts = FollowerFacts(symbols={}, balance=10_000.0)
    _, _, f = size(
        1.0, "EURUSD", M_STD, facts, fx(), settings(volumeMode="risk_percent"), 1.1, 1.095
    )
    assert factor(tuple(f), "risk_money") == 100.0
    assert factor(tuple(f), "sl_ticks") == 500.0
    assert factor(tuple(f), "tick_value") == 1.0


@pytest.mark.parametrize(
    ("volume", "step", "expected"),
    [(0.3, 0.1, 0.3), (0.29999, 0.01, 0.29), (0.7, 0.1, 0.7), (2.0, 1.0, 2.0), (-1.0, 0.01, 0.0)],
    ids=[
        "float_noise_point_three",
        "just_below_step_floors",
        "float_noise_point_seven",
        "whole_lots",
        "negative_floors_to_zero",
    ],
)
def test_floor_to_step(volume: float, step: float, expected: float) -> None:
    assert floor_to_step(volume, step) == expected


# (volume, volume0, master_volume0, master_volume, can_grow, expected, note part)
RESIZE_CASES = [
    (1.0, 1.0, 2.0, 1.0, True, 0.5, ""),
    (0.05, 0.05, 1.0, 0.5, True, 0.02, ""),
    (0.01, 0.01, 1.0, 0.3, True, 0.01, "the lot minimum is kept"),
    (0.1, 0.1, 1.0, 2.0, True, 0.2, ""),
    (0.1, 0.1, 1.0, 2.0, False, 0.1, "close_only"),
    (0.5, 1.0, 2.0, 1.0, True, 0.5, ""),
    (0.3, 0.3, 0.3, 0.1, True, 0.1, ""),
]
RESIZE_IDS = [
    "partial_close_proportional_not_full_close",
    "partial_close_floors_to_step",
    "partial_close_below_min_keeps_min_while_master_holds",
    "master_adds_volume_copy_grows",
    "close_only_copy_never_grows",
    "proportion_from_initial_volumes_not_compounded",
    "partial_close_float_noise_floors_right",
]


@pytest.mark.parametrize(
    ("volume", "volume0", "mv0", "mv", "can_grow", "expected", "note"), RESIZE_CASES, ids=RESIZE_IDS
)
def test_resize(
    volume: float,
    volume0: float,
    mv0: float,
    mv: float,
    can_grow: bool,
    expected: float,
    note: str,
) -> None:
    got, _, why = resize(volume, volume0, mv0, mv, fx(), can_grow)
    assert got == expected
    assert note in why
    if not note:
        assert why == ""


def test_partial_close_resizes_copy_in_step() -> None:
    first = one(view(pos("7", volume=2.0)))
    assert first.state.copies["7"].volume == 2.0
    r = one(view(pos("7", volume=0.5)), state=first.state)
    assert r.state.copies["7"].volume == 0.5
    assert r.targets[0].volume == 0.5
    assert [(d.action, d.master_ticket) for d in r.decisions] == [("resize", "7")]
    assert factor(r.decisions[0].factors, "from") == 2.0
    assert r.decisions[0].reason == "master volume 2 → 0.5: proportional"


def test_open_decision_records_lot_factors() -> None:
    r = one(view(pos("7", volume=0.5)), settings(volumeMultiplier=2.0))
    (d,) = r.decisions
    assert d.action == "open"
    assert factor(d.factors, "volumeMultiplier") == 2.0
    assert factor(d.factors, "volume") == 1.0
    assert r.state.trades_today == 1
