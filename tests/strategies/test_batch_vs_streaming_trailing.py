"""Batch (numba) == streaming with the trailing stop on: one logic (``fill.trail_sl``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mtponte.backtest import run_backtest
from mtponte.backtest.streaming import StreamingBacktest
from mtponte.data import synth_win
from mtponte.domain import WIN, Bars
from mtponte.strategies import ElephantParams
from tests.strategies.test_batch_vs_streaming import params_st, random_bars


def _same(bars: Bars, p: ElephantParams) -> int:
    batch = run_backtest(bars, WIN, p, trailing=True)
    stream = StreamingBacktest(WIN, p, trailing=True)
    for bar in bars:
        stream.on_bar(bar)
    stream.finish()
    assert batch.trades() == stream.trades  # exact float equality, field by field
    return len(stream.trades)


@settings(max_examples=300)
@given(
    seed=st.integers(0, 2**32 - 1), days=st.integers(1, 6), per_day=st.integers(5, 40), p=params_st
)
def test_batch_equals_streaming_with_trailing(
    seed: int, days: int, per_day: int, p: ElephantParams
) -> None:
    _same(random_bars(seed, days, per_day), p)


def test_trailing_is_on_in_the_batch_engine() -> None:
    bars = synth_win(days=40, seed=11)
    for mode in ("stop", "next_open"):
        p = ElephantParams(entry_mode=mode)  # type: ignore[arg-type]
        assert _same(bars, p) > 3
        assert (
            run_backtest(bars, WIN, p, trailing=True).trades()
            != run_backtest(bars, WIN, p).trades()
        )


def test_the_numba_twin_of_trail_sl_answers_the_same() -> None:
    import math

    from mtponte.backtest._fill_nb import trail_sl_nb
    from mtponte.backtest.fill import trail_sl

    cases = [
        (1, 100.0, 110.0, 130.0),
        (1, 100.0, 95.0, 130.0),  # would loosen: kept
        (-1, 140.0, 110.0, 130.0),
        (-1, 120.0, 110.0, 130.0),
        (1, math.nan, 112.0, 130.0),
    ]
    for d, sl, lo, hi in cases:
        assert trail_sl_nb(d, sl, lo, hi, 5.0) == trail_sl(d, sl, lo, hi, 5.0)
