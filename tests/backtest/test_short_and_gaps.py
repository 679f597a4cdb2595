"""Short-side, gap and flat-time scenarios built by hand (test audit mutants T2, T3, T6,
T8: before these, only the peer comparison against backtesting.py caught them)."""

from __future__ import annotations

import math

from mtponte.backtest.fill import EXIT_SL, exit_check, flat_due, stop_fill
from mtponte.domain import ExitReason
from mtponte.indicators.core import true_range_step
from tests.backtest.test_engine import run

# A bear elephant (range 200, close 20 above the low): sell stop one tick (5) under the
# low. ATR(3) is the same 133.33 as the bull case, so SL = stop + 2·ATR and TP =
# stop − 3·ATR, on the 5-point tick grid.
BEAR = (100_000.0, 100_000.0, 99_800.0, 99_820.0, 200.0)
S_STOP, S_SL, S_TP = 99_795.0, 100_060.0, 99_395.0


def run_short(after, p=None):
    import tests.backtest.test_engine as eng

    old = eng.ELEPHANT
    eng.ELEPHANT = BEAR
    try:
        return run(after, p)
    finally:
        eng.ELEPHANT = old


def test_short_stop_entry_fills_at_stop_with_levels():
    (t,) = run_short([(99_810, 99_820, 99_700, 99_750), (99_750, 99_760, 99_700, 99_720)])
    assert int(t.side) == -1
    assert (t.entry_price, t.sl, t.tp) == (S_STOP, S_SL, S_TP)
    assert t.exit_reason is ExitReason.END


def test_short_stop_entry_on_a_gap_down_fills_at_the_open():  # T8
    (t,) = run_short([(99_700, 99_720, 99_650, 99_690)])
    assert t.entry_price == 99_700  # min(open, stop), not the stop
    assert (t.sl, t.tp) == (S_SL, S_TP)


def test_short_sl_is_checked_before_tp_in_one_bar():  # T2
    (t,) = run_short([(99_800, 99_810, 99_790, 99_800), (99_800, 100_100, 99_300, 99_500)])
    assert t.exit_reason is ExitReason.SL and t.exit_price == S_SL


def test_short_gap_through_sl_exits_at_the_open():
    (t,) = run_short([(99_800, 99_810, 99_790, 99_800), (100_200, 100_250, 100_150, 100_200)])
    assert t.exit_reason is ExitReason.SL and t.exit_price == 100_200


def test_flat_time_exactly_on_a_bar_open_exits_at_that_open():  # T3
    # Elephant at 09:20, entry on the 09:25 bar, flat at 09:30: the 09:30 bar opens on it.
    for trades, opened in (
        (
            run(
                [(100_190, 100_210, 100_180, 100_200), (100_203, 100_210, 100_190, 100_205)],
                p={"flat_time": "09:30"},
            ),
            100_203,
        ),
        (
            run_short(
                [(99_800, 99_810, 99_790, 99_800), (99_797, 99_810, 99_790, 99_800)],
                p={"flat_time": "09:30"},
            ),
            99_797,
        ),
    ):
        (t,) = trades
        assert t.exit_reason is ExitReason.FLAT and t.exit_price == opened


def test_fill_primitives_on_hand_numbers():
    assert stop_fill(-1, 95.0, 100.0) == 95.0 and stop_fill(-1, 101.0, 100.0) == 100.0
    assert stop_fill(1, 105.0, 100.0) == 105.0 and stop_fill(1, 99.0, 100.0) == 100.0
    # short at 100, SL 110, TP 90: a bar touching both exits at the SL
    assert exit_check(-1, 100.0, 111.0, 89.0, 110.0, 90.0, False) == (EXIT_SL, 110.0)
    assert flat_due(5, 34_200, 5, 34_200) and not flat_due(5, 34_199, 5, 34_200)
    assert flat_due(6, 0, 5, 34_200)


def test_true_range_counts_the_gap_from_the_previous_close():  # T6
    assert true_range_step(105.0, 100.0, 90.0) == 15.0  # gap up: high − previous close
    assert true_range_step(105.0, 100.0, 112.0) == 12.0  # gap down: previous close − low
    assert true_range_step(105.0, 100.0, 102.0) == 5.0
    assert true_range_step(105.0, 100.0, math.nan) == 5.0  # first bar: high − low
