"""The fill rules on hand numbers, for the mutants ``tools/mutate.py`` found alive:
a short's take-profit, a long's take-profit inside the bar, bars held per exit kind
and a flat time at midnight."""

from __future__ import annotations

from mtponte.backtest.fill import (
    EXIT_END,
    EXIT_FLAT,
    EXIT_NONE,
    EXIT_SL,
    EXIT_TP,
    bars_held,
    exit_check,
    flat_due,
)


def test_a_short_take_profit_inside_the_bar_and_through_a_gap():
    # short at 100, SL 110, TP 90; later bars (not the entry bar)
    assert exit_check(-1, 95.0, 99.0, 89.0, 110.0, 90.0, False) == (EXIT_TP, 90.0)
    assert exit_check(-1, 85.0, 88.0, 80.0, 110.0, 90.0, False) == (EXIT_TP, 85.0)  # gap
    assert exit_check(-1, 95.0, 99.0, 91.0, 110.0, 90.0, False)[0] == EXIT_NONE


def test_a_long_take_profit_inside_the_bar_exits_at_the_tp():
    # long at 100, SL 90, TP 110: the bar opens below the TP and trades through it
    assert exit_check(1, 105.0, 111.0, 101.0, 90.0, 110.0, False) == (EXIT_TP, 110.0)
    assert exit_check(1, 115.0, 118.0, 112.0, 90.0, 110.0, False) == (EXIT_TP, 115.0)  # gap
    assert exit_check(1, 105.0, 109.0, 101.0, 90.0, 110.0, False)[0] == EXIT_NONE


def test_bars_held_counts_the_exit_bar_unless_flat_at_its_open():
    # SL/TP/end exit during bar exit_i (held through it); flat exits at its open
    for reason in (EXIT_SL, EXIT_TP, EXIT_END):
        assert bars_held(3, 5, reason) == 3
        assert bars_held(3, 6, reason) == 4
        assert bars_held(7, 7, reason) == 1
    assert bars_held(3, 5, EXIT_FLAT) == 2
    assert bars_held(3, 6, EXIT_FLAT) == 3


def test_a_flat_time_at_midnight_is_a_flat_time():
    assert flat_due(0, 0, 0, 0)  # 00:00 is a time of day; only a negative one disables
    assert not flat_due(0, 0, 0, -1)
