"""SL/TP per mode, invert, the wrong-side rule and the no-SL rule."""

from __future__ import annotations

from typing import Any

import pytest

from mtponte.copy.engine._sltp import levels
from tests.copy.engine.helpers import factor, fx, one, pos, settings, view

# (position kwargs, settings, spec kwargs, opening, sl, tp, reason part)
CASES: list[tuple[Any, ...]] = [
    ({"sl": 1.095, "tp": 1.11}, {}, {}, True, 1.095, 1.11, ""),
    ({"sl": 1.0954, "tp": 1.1106}, {}, {"tick_size": 0.001, "digits": 3}, True, 1.095, 1.111, ""),
    (
        {"sl": 1.095, "tp": 1.11},
        {"slTpMode": "multiplier", "slMultiplier": 2.0, "tpMultiplier": 0.5},
        {},
        True,
        1.09,
        1.105,
        "",
    ),
    (
        {"sl": 1.095, "tp": 1.11},
        {"slTpMode": "fixed", "slFixedPips": 200, "tpFixedPips": 300},
        {},
        True,
        1.098,
        1.103,
        "",
    ),
    (
        {"side": "sell", "sl": 1.105},
        {"slTpMode": "fixed", "slFixedPips": 200, "tpFixedPips": 300},
        {},
        True,
        1.102,
        1.097,
        "",
    ),
    (
        {"sl": 1.095, "tp": 1.11},
        {"slTpMode": "fixed", "slFixedPips": 200},
        {},
        True,
        1.098,
        None,
        "",
    ),
    ({"sl": 1.095, "tp": 1.11}, {"slTpMode": "none"}, {}, True, None, None, ""),
    ({"sl": 1.095, "tp": 1.11}, {"invert": True}, {}, True, 1.11, 1.095, ""),
    ({"sl": 1.105, "tp": 1.11}, {"invert": True}, {}, True, 1.11, None, ""),
    ({"sl": 1.1, "tp": 1.11}, {}, {}, True, 1.1, 1.11, ""),
    ({"sl": 1.103, "tp": 1.11}, {}, {}, True, 1.103, 1.11, ""),
    ({"tp": 1.11}, {"noSlAction": "copy"}, {}, True, None, 1.11, ""),
    ({"tp": 1.11}, {"noSlAction": "skip"}, {}, True, None, None, "has no SL (noSlAction skip)"),
    ({"tp": 1.11}, {"noSlAction": "skip"}, {}, False, None, 1.11, ""),
    ({"tp": 1.11}, {"noSlAction": "default", "defaultSlPoints": 300}, {}, True, 1.097, 1.11, ""),
    (
        {"side": "sell"},
        {"noSlAction": "default", "defaultSlPoints": 300},
        {},
        True,
        1.103,
        None,
        "",
    ),
    ({}, {"noSlAction": "default"}, {}, True, None, None, "defaultSlPoints 0"),
    ({"sl": 1.095}, {"invert": True, "noSlAction": "skip"}, {}, True, None, None, "has no TP"),
    # A buy's TP under its entry (getting out near break-even after the market fell) is
    # valid at the master while the market is below it: copied, not dropped.
    ({"sl": 1.09, "tp": 1.098}, {}, {}, False, 1.09, 1.098, ""),
]
IDS = [
    "sl_tp_copied",
    "copied_levels_on_follower_tick_grid",
    "multiplier_scales_distances",
    "fixed_points_from_entry_buy",
    "fixed_points_from_entry_sell",
    "fixed_zero_means_no_level",
    "none_mode_no_levels",
    "invert_swaps_sl_tp",
    "invert_locked_profit_sl_becomes_wrong_side_tp_dropped",
    "breakeven_sl_kept",
    "trailing_sl_above_entry_kept",
    "no_sl_copy_copies_without_sl",
    "no_sl_skip_refuses_open",
    "no_sl_skip_held_copy_follows_master",
    "no_sl_default_buy_below_entry",
    "no_sl_default_sell_above_entry",
    "no_sl_default_zero_points_refused",
    "invert_no_master_tp_is_no_follower_sl",
    "loss_side_tp_copied_without_invert",
]


@pytest.mark.parametrize(("pos_kw", "cfg", "spec_kw", "opening", "sl", "tp", "why"), CASES, ids=IDS)
def test_levels(
    pos_kw: dict[str, Any],
    cfg: dict[str, Any],
    spec_kw: dict[str, Any],
    opening: bool,
    sl: float | None,
    tp: float | None,
    why: str,
) -> None:
    s = settings(**cfg)
    p = pos(**pos_kw)
    side = ("sell" if p.side == "buy" else "buy") if s.invert else p.side
    got_sl, got_tp, reason, _ = levels(p, side, fx(**spec_kw), s, opening)
    assert (got_sl, got_tp) == (sl, tp)
    assert why in reason
    if not why:
        assert reason == ""


def test_wrong_side_tp_recorded_as_factor() -> None:
    _, _, _, f = levels(pos(sl=1.105, tp=1.11), "sell", fx(), settings(invert=True), True)
    assert factor(tuple(f), "tp_dropped") == "TP 1.105 is on the wrong side of entry 1.1 for a sell"


def test_sl_change_copied() -> None:
    first = one(view(pos("7", sl=1.095, tp=1.11)))
    r = one(view(pos("7", sl=1.099, tp=1.11)), state=first.state)
    assert (r.state.copies["7"].sl, r.state.copies["7"].tp) == (1.099, 1.11)
    assert (r.targets[0].sl, r.targets[0].tp) == (1.099, 1.11)
    (d,) = r.decisions
    assert (d.action, d.master_ticket, d.reason) == ("modify", "7", "master SL/TP changed")
    assert factor(d.factors, "from_sl") == 1.095


def test_tp_removed_at_master_removed_at_follower() -> None:
    first = one(view(pos("7", sl=1.095, tp=1.11)))
    r = one(view(pos("7", sl=1.095)), state=first.state)
    assert r.state.copies["7"].tp is None
    assert [d.action for d in r.decisions] == ["modify"]


def test_unchanged_master_no_decisions() -> None:
    first = one(view(pos("7", sl=1.095, tp=1.11)))
    r = one(view(pos("7", sl=1.095, tp=1.11)), state=first.state)
    assert r.decisions == ()
    assert r.state == first.state


def test_invert_swaps_sl_tp_in_step() -> None:
    r = one(view(pos("7", sl=1.095, tp=1.11)), settings(invert=True))
    t = r.targets[0]
    assert (t.side, t.sl, t.tp) == ("sell", 1.11, 1.095)
