"""step(): freezing, closes, late join, limits, risk stops, check order, determinism."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtponte.copy.engine import BookState, Copy, MasterPosition, reset_risk, step
from tests.copy.engine.helpers import (
    T0,
    factor,
    follower,
    one,
    pos,
    settings,
    view,
)

NEW = BookState(prefix="s1")


def held(*tickets: str) -> BookState:
    """A started book copying 1-lot EURUSD buys ``tickets``."""
    return one(view(*(pos(t) for t in tickets))).state


# --- the three freezes ------------------------------------------------------------


def test_no_follower_report_waits_and_does_not_start() -> None:
    r = step(NEW, view(pos("7")), settings(), None, T0)
    assert r.state is NEW
    assert r.targets == ()
    assert [(d.action, d.reason) for d in r.decisions] == [
        ("skip", "waiting for the follower's first report")
    ]
    assert not r.state.started


def test_no_follower_report_nothing_to_copy_no_decision() -> None:
    state = held("7")
    r = step(state, view(pos("7")), settings(), None, T0)
    assert r.decisions == ()
    assert [t.target_id for t in r.targets] == ["s1t7"]


def test_inactive_freezes_book() -> None:
    state = held("7")
    r = one(view(pos("8")), settings(isActive=False), state=state)
    assert r.state is state
    assert [t.target_id for t in r.targets] == ["s1t7"]
    assert [(d.action, d.reason) for d in r.decisions] == [
        ("freeze", "subscription inactive (isActive false): book frozen")
    ]


def test_stale_master_freezes() -> None:
    state = held("7")
    r = one(view(pos("8"), fresh=False), state=state)
    assert r.state is state
    assert [t.target_id for t in r.targets] == ["s1t7"]
    (d,) = r.decisions
    assert d.action == "freeze"
    assert d.reason.startswith("master stale: book frozen")


def test_stale_empty_master_does_not_close() -> None:
    state = held("7")
    r = one(view(fresh=False), state=state)
    assert set(r.state.copies) == {"7"}


# --- closes ---------------------------------------------------------------------------


def test_closed_by_master_closed() -> None:
    state = held("7", "8")
    r = one(view(pos("8")), state=state)
    assert set(r.state.copies) == {"8"}
    (d,) = r.decisions
    assert (d.action, d.master_ticket, d.reason) == ("close", "7", "closed by the master")
    assert factor(d.factors, "volume") == 1.0


def test_zero_volume_master_position_counts_as_closed() -> None:
    r = one(view(pos("7", volume=0.0), pos("8", volume=0.0)), state=held("7"))
    assert r.state.copies == {}
    assert [(d.action, d.master_ticket) for d in r.decisions] == [("close", "7")]


def test_skipped_ticket_forgotten_when_master_closes() -> None:
    r = one(view(pos("7", symbol="XAUUSD")))
    assert "7" in r.state.skipped
    r2 = one(view(), state=r.state)
    assert r2.state.skipped == {}
    assert r2.decisions == ()


def test_master_reversal_closes_copy_and_skips() -> None:
    state = held("7")
    r = one(view(pos("7", side="sell")), state=state)
    assert r.state.copies == {}
    assert r.state.skipped["7"] == "master position reversed buy → sell: copy closed"
    assert [d.action for d in r.decisions] == ["close"]


def test_follower_symbol_missing_holds_copy() -> None:
    state = held("7")
    r = one(view(pos("7", volume=0.5)), f=follower("GBPUSD"), state=state)
    assert r.state.copies["7"].volume == 1.0
    (d,) = r.decisions
    assert d.action == "freeze"
    assert "EURUSD missing from the follower's report" in d.reason


# --- late join and signal age ------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "entry", "price", "deviation"),
    [("limit", "limit", 1.1, 0), ("market", "market", 1.1, 30)],
    ids=["late_join_limit", "late_join_market"],
)
def test_late_join_copied(mode: str, entry: str, price: float, deviation: int) -> None:
    s = settings(lateJoin=mode, maxDeviationPoints=30)
    r = step(NEW, view(pos("7", open_price=1.100004)), s, follower(), T0)
    t = r.targets[0]
    assert (t.entry, t.price, t.max_deviation_points) == (entry, 1.1, deviation)
    assert r.decisions[0].reason == f"late join: {entry} at the master's open price"
    assert r.state.started


def test_late_join_skip() -> None:
    r = step(NEW, view(pos("7")), settings(lateJoin="skip"), follower(), T0)
    assert r.state.copies == {}
    assert r.state.skipped["7"].startswith("late join")
    assert r.state.started


def test_after_first_step_new_positions_not_late() -> None:
    s = settings(lateJoin="skip", maxDeviationPoints=20)
    first = step(NEW, view(), s, follower(), T0)
    r = step(first.state, view(pos("8")), s, follower(), T0 + 1)
    t = r.targets[0]
    assert (t.entry, t.max_deviation_points) == ("market", 20)


def test_waiting_for_report_keeps_late_join() -> None:
    waited = step(NEW, view(pos("7")), settings(), None, T0).state
    r = step(waited, view(pos("7")), settings(lateJoin="skip"), follower(), T0 + 5)
    assert "7" in r.state.skipped


@pytest.mark.parametrize(
    ("open_time", "copied"),
    [(T0 - 61, False), (T0 - 60, True), (0, True)],
    ids=["max_signal_age_older_skipped", "max_signal_age_boundary_copied", "unknown_age_copied"],
)
def test_max_signal_age(open_time: int, copied: bool) -> None:
    r = one(view(pos("7", open_time=open_time)), settings(maxSignalAgeS=60))
    assert ("7" in r.state.copies) is copied
    if not copied:
        assert r.state.skipped["7"] == "signal age 61s exceeds maxSignalAgeS 60s"


# --- limits ---------------------------------------------------------------------------


def test_max_open_positions_counts_held_and_new_by_open_time() -> None:
    state = held("1")
    m = view(pos("1"), pos("9", open_time=T0 - 5), pos("10", open_time=T0 - 9))
    r = one(m, settings(maxOpenPositions=2), state=state)
    assert set(r.state.copies) == {"1", "10"}
    assert r.state.skipped["9"] == "maxOpenPositions 2 reached (2 copies held)"


def test_max_daily_trades_then_new_day_resets_count() -> None:
    s = settings(maxDailyTrades=1)
    r = one(view(pos("1"), pos("2")), s)
    assert set(r.state.copies) == {"1"}
    assert r.state.skipped["2"] == "maxDailyTrades 1 reached (1 today)"
    assert r.state.trades_today == 1
    next_day = one(view(pos("1"), pos("2"), pos("3")), s, state=r.state, now=T0 + 86400)
    assert set(next_day.state.copies) == {"1", "3"}
    assert next_day.state.trades_today == 1
    assert next_day.state.day == "2026-05-29"


def test_skips_do_not_count_as_trades() -> None:
    r = one(view(pos("1", symbol="XAUUSD"), pos("2")))
    assert r.state.trades_today == 1


# --- contract size and check order ------------------------------------------------


def test_contract_size_mismatch_refused() -> None:
    f = follower("EURUSD")
    r = one(view(pos("7"), contract_sizes={"EURUSD": 1000.0}), f=f)
    assert r.state.skipped["7"] == (
        "contract size differs (1000 vs 100000): use volumeMode contract_size or map another symbol"
    )


def test_contract_size_mode_accepts_mismatch() -> None:
    m = view(pos("7", volume=10.0), contract_sizes={"EURUSD": 1000.0})
    r = one(m, settings(volumeMode="contract_size"))
    assert r.state.copies["7"].volume == 0.1


def test_same_contract_size_passes() -> None:
    r = one(view(pos("7"), contract_sizes={"EURUSD": 100_000.0}))
    assert "7" in r.state.copies


def test_first_failing_check_is_the_reason() -> None:
    s = settings(blockedSymbols=["EURUSD"], maxOpenPositions=1, noSlAction="skip")
    r = one(view(pos("1"), pos("2")), s, state=held("0"))
    assert r.state.skipped["1"] == "symbol EURUSD→EURUSD is blocked"


def test_risk_percent_needs_sl_in_step() -> None:
    s = settings(volumeMode="risk_percent", noSlAction="copy")
    r = one(view(pos("7")), s, follower(balance=10_000.0))
    assert r.state.skipped["7"] == "risk_percent needs an SL to size on (the copy has none)"


def test_risk_percent_sized_on_default_sl() -> None:
    s = settings(volumeMode="risk_percent", noSlAction="default", defaultSlPoints=500)
    r = one(view(pos("7")), s, follower(balance=10_000.0))
    c = r.state.copies["7"]
    assert (c.sl, c.volume) == (1.095, 0.2)


# --- risk stops -----------------------------------------------------------------------

RISK = {"enableRiskManagement": True, "maxDailyLoss": 100.0}


def test_risk_trip_decision_has_numbers() -> None:
    r = one(view(pos("7")), settings(**RISK, riskAction="close_only"), follower(daily_pnl=-100.0))
    d = r.decisions[0]
    assert d.action == "risk"
    assert d.reason == "daily P&L -100 reached maxDailyLoss 100: close_only"
    assert d.factors == (
        ("daily_pnl", -100.0),
        ("maxDailyLoss", 100.0),
        ("riskAction", "close_only"),
    )
    assert r.state.risk == "close_only"


@pytest.mark.parametrize(
    ("cfg", "pnl"),
    [
        ({**RISK, "enableRiskManagement": False}, -500.0),
        ({**RISK, "maxDailyLoss": 0}, -500.0),
        (RISK, -99.99),
    ],
    ids=["risk_management_off_no_trip", "zero_limit_no_trip", "loss_under_limit_no_trip"],
)
def test_risk_not_tripped(cfg: dict, pnl: float) -> None:
    r = one(view(pos("7")), settings(**cfg), follower(daily_pnl=pnl))
    assert r.state.risk == "ok"
    assert "7" in r.state.copies


def test_risk_close_all_empties_book() -> None:
    state = held("7", "8")
    r = one(
        view(pos("7"), pos("8"), pos("9")),
        settings(**RISK, riskAction="close_all"),
        follower(daily_pnl=-150.0),
        state=state,
    )
    assert r.state.copies == {}
    assert r.targets == ()
    assert [(d.action, d.master_ticket) for d in r.decisions] == [
        ("risk", ""),
        ("close", "7"),
        ("close", "8"),
        ("skip", "9"),
    ]
    assert r.state.skipped["9"].startswith("risk stop close_all: no new copies")


def test_risk_close_only_follows_closes() -> None:
    state = one(view(pos("7", volume=2.0, sl=1.09), pos("8"))).state
    s = settings(**RISK, riskAction="close_only")
    m = view(pos("7", volume=1.0, sl=1.095), pos("9"))
    r = one(m, s, follower(daily_pnl=-150.0), state=state)
    assert [(d.action, d.master_ticket) for d in r.decisions] == [
        ("risk", ""),
        ("resize", "7"),
        ("modify", "7"),
        ("close", "8"),
        ("skip", "9"),
    ]
    assert (r.state.copies["7"].volume, r.state.copies["7"].sl) == (1.0, 1.095)
    grow = one(view(pos("7", volume=4.0, sl=1.095)), s, follower(daily_pnl=-150.0), state=r.state)
    assert grow.state.copies["7"].volume == 1.0


def test_risk_disable_freezes() -> None:
    state = held("7", "8")
    s = settings(**RISK, riskAction="disable")
    r = one(view(pos("7", volume=0.5), pos("9")), s, follower(daily_pnl=-150.0), state=state)
    assert {t: c.volume for t, c in r.state.copies.items()} == {"7": 1.0, "8": 1.0}
    assert [(d.action, d.master_ticket) for d in r.decisions] == [("risk", ""), ("skip", "9")]


def test_risk_stays_tripped_on_new_day_and_after_recovery() -> None:
    s = settings(**RISK, riskAction="close_only")
    tripped = one(view(), s, follower(daily_pnl=-150.0)).state
    r = one(view(pos("9")), s, follower(daily_pnl=0.0), state=tripped, now=T0 + 86400)
    assert r.state.risk == "close_only"
    assert "9" in r.state.skipped
    assert r.decisions[0].action == "skip"


def test_reset_risk_reopens_for_new_positions_only() -> None:
    s = settings(**RISK, riskAction="close_all")
    state = held("7")
    tripped = one(view(pos("7"), pos("8")), s, follower(daily_pnl=-150.0), state=state).state
    reset = reset_risk(tripped)
    assert (reset.risk, reset.risk_reason) == ("ok", "")
    r = one(view(pos("7"), pos("8"), pos("9")), s, follower(daily_pnl=-10.0), state=reset)
    assert set(r.state.copies) == {"9"}
    assert [(d.action, d.master_ticket) for d in r.decisions] == [("open", "9")]


def test_partial_close_below_min_reason_says_lot_min_kept() -> None:
    s = settings(volumeMultiplier=0.1)
    first = one(view(pos("1", volume=0.5)), s)
    r = one(view(pos("1", volume=0.05)), s, state=first.state)
    (d,) = r.decisions
    assert d.reason == (
        "proportional volume 0.005 is below the lot minimum 0.01: "
        "the lot minimum is kept while the master holds the position"
    )


def test_reset_while_still_below_limit_trips_again() -> None:
    s = settings(**RISK, riskAction="close_only")
    tripped = one(view(), s, follower(daily_pnl=-150.0)).state
    r = one(view(pos("9")), s, follower(daily_pnl=-150.0), state=reset_risk(tripped))
    assert r.state.risk == "close_only"
    assert [d.action for d in r.decisions] == ["risk", "skip"]


def test_frozen_first_step_keeps_late_join() -> None:
    s = settings(lateJoin="skip")
    inactive = step(NEW, view(pos("7")), settings(isActive=False), follower(), T0)
    stale = step(NEW, view(pos("7"), fresh=False), s, follower(), T0)
    assert not inactive.state.started and not stale.state.started
    r = step(stale.state, view(pos("7")), s, follower(), T0 + 1)
    assert r.state.skipped["7"].startswith("late join")


# --- determinism and identity ------------------------------------------------------


def test_target_id_stable_prefix_t_ticket() -> None:
    state = held("7")
    r = one(view(pos("7", volume=0.5)), state=state)
    assert r.state.copies["7"].target_id == "s1t7"
    assert r.targets[0].target_id == "s1t7"


def test_same_inputs_same_outputs() -> None:
    m = view(pos("10"), pos("9"), pos("2", symbol="XAUUSD"))
    a = one(m, settings(maxOpenPositions=1))
    b = one(m, settings(maxOpenPositions=1))
    assert a == b
    assert set(a.state.copies) == {"9"}
    assert [d.master_ticket for d in a.decisions] == ["2", "9", "10"]


def test_decisions_stamped_with_now() -> None:
    r = one(view(pos("7")), now=T0 + 42)
    assert r.decisions[0].at == T0 + 42
    assert r.state.copies["7"].decided_at == T0 + 42


def test_skipped_stays_skipped_after_restart_of_engine_state() -> None:
    r = one(view(pos("7", symbol="XAUUSD"), pos("8")))
    restored = BookState.from_json(json.loads(json.dumps(r.state.to_json())))
    assert restored == r.state
    f = follower("EURUSD", "XAUUSD")
    again = one(view(pos("7", symbol="XAUUSD"), pos("8")), f=f, state=restored)
    assert set(again.state.copies) == {"8"}
    assert "7" in again.state.skipped
    assert again.decisions == ()


def test_held_copy_not_reopened_after_restart() -> None:
    r = one(view(pos("8")))
    restored = BookState.from_json(json.loads(json.dumps(r.state.to_json())))
    again = one(view(pos("8")), state=restored)
    assert again.decisions == ()
    assert again.state.trades_today == 1


def test_copy_records_master_side_for_reversal_check() -> None:
    r = one(view(pos("7", side="sell")), settings(invert=True))
    c = r.state.copies["7"]
    assert isinstance(c, Copy)
    assert (c.side, c.master_side) == ("buy", "sell")
    same = one(view(pos("7", side="sell", volume=0.5)), settings(invert=True), state=r.state)
    assert same.state.copies["7"].volume == 0.5


# --- two-step scenarios, table-driven -----------------------------------------------
# (first master book, settings, second-step follower kwargs, second master book,
#  expected {ticket: volume} after step 2, expected (action, ticket) of step 2)
SCENARIOS: list[tuple[Any, ...]] = [
    (
        [pos("1", volume=2.0)],
        {},
        {},
        [pos("1", volume=1.0)],
        {"1": 1.0},
        [("resize", "1")],
    ),
    ([pos("1"), pos("2")], {}, {}, [pos("2")], {"2": 1.0}, [("close", "1")]),
    ([pos("1")], {}, {}, [pos("1"), pos("2")], {"1": 1.0, "2": 1.0}, [("open", "2")]),
    (
        [pos("1", volume=0.5)],
        {"volumeMultiplier": 0.1},
        {},
        [pos("1", volume=0.05)],
        {"1": 0.01},
        [("resize", "1")],
    ),
    (
        [pos("1")],
        {**RISK, "riskAction": "close_all"},
        {"daily_pnl": -100.0},
        [pos("1"), pos("2")],
        {},
        [("risk", ""), ("close", "1"), ("skip", "2")],
    ),
    (
        [pos("1"), pos("2")],
        {**RISK, "riskAction": "close_only"},
        {"daily_pnl": -100.0},
        [pos("1", volume=0.5), pos("3")],
        {"1": 0.5},
        [("risk", ""), ("resize", "1"), ("close", "2"), ("skip", "3")],
    ),
    (
        [pos("1"), pos("2")],
        {**RISK, "riskAction": "disable"},
        {"daily_pnl": -100.0},
        [pos("1", volume=0.5), pos("3")],
        {"1": 1.0, "2": 1.0},
        [("risk", ""), ("skip", "3")],
    ),
    (
        [pos("1", sl=1.09)],
        {"slTpMode": "multiplier", "slMultiplier": 0.5},
        {},
        [pos("1", sl=1.08)],
        {"1": 1.0},
        [("modify", "1")],
    ),
    ([pos("1")], {"maxDailyTrades": 1}, {}, [pos("1"), pos("2")], {"1": 1.0}, [("skip", "2")]),
    ([pos("1")], {}, {}, [pos("1", side="sell")], {}, [("close", "1")]),
]
SCENARIO_IDS = [
    "partial_close_proportional_not_full_close",
    "closed_by_master_closed",
    "new_position_after_start_opened",
    "partial_close_keeps_lot_min_while_master_holds",
    "risk_close_all_empties_book",
    "risk_close_only_follows_closes",
    "risk_disable_freezes",
    "sl_change_copied_through_mode",
    "max_daily_trades_counts_earlier_opens",
    "netting_master_reversal_closes_copy",
]


@pytest.mark.parametrize(
    ("first", "cfg", "facts2", "second", "volumes", "actions"), SCENARIOS, ids=SCENARIO_IDS
)
def test_two_step_scenario(
    first: list[MasterPosition],
    cfg: dict[str, Any],
    facts2: dict[str, Any],
    second: list[MasterPosition],
    volumes: dict[str, float],
    actions: list[tuple[str, str]],
) -> None:
    s = settings(**cfg)
    r1 = one(view(*first), s)
    r2 = one(view(*second), s, follower(**facts2), state=r1.state, now=T0 + 1)
    assert {t: c.volume for t, c in r2.state.copies.items()} == volumes
    assert [(d.action, d.master_ticket) for d in r2.decisions] == actions
    assert [t.volume for t in r2.targets] == [
        volumes[t] for t in sorted(volumes, key=lambda t: f"s1t{t}")
    ]
