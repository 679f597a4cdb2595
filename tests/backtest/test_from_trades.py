from __future__ import annotations

import pytest

from mtponte.backtest import run_backtest
from mtponte.backtest.from_trades import result_of
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.strategies import ElephantParams


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_stats_from_a_trade_list_are_the_engines(mode: str) -> None:
    bars = synth_win(days=40, seed=6)
    p = ElephantParams(entry_mode=mode, fee_per_contract=0.5)
    bt = run_backtest(bars, WIN, p)
    again = result_of(bars, WIN, p, bt.trades())
    assert len(bt.trades()) > 5
    assert again.trades() == bt.trades()
    assert again.stats == bt.stats
    assert (again.equity() == bt.equity()).all()
