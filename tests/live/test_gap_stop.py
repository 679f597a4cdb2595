"""A stop the market has already passed at the open: a real server refuses it
(INVALID_PRICE); the runner enters at market with the attached levels, which is what
the backtest's fill model does (fill at the open)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from mtponte.backtest import run_backtest
from mtponte.brokers.base import INVALID_PRICE
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN, Side
from mtponte.domain.bars import Bars
from mtponte.domain.orders import ExecutionReport
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.replay import ReplayClock, replay_paper
from mtponte.strategies import ElephantParams


class StrictPaper(PaperBroker):
    """Refuses a buy stop at or below the ask (sell stop at or above the bid), as MT5."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.refused: list[datetime] = []  # "now" (the next bar's open) of each refusal

    def place_order(self, symbol: str, side: Side, order_type: str, *a: Any, **kw: Any) -> Any:
        price = a[1] if len(a) > 1 else kw["price"]
        q = self.quote(symbol)
        passed = q is not None and ((side > 0 and q[1] >= price) or (side < 0 and q[0] <= price))
        if order_type == "stop" and passed:
            self.refused.append(self.now())
            return ExecutionReport(False, INVALID_PRICE, "invalid price")
        return super().place_order(symbol, side, order_type, *a, **kw)


def gappy() -> Bars:
    """Synthetic bars whose opens jump half of the previous bar's range away from its
    close, in its direction (highs and lows widened to contain the new opens)."""
    b = synth_win(days=40, seed=2)
    o = b.open.copy()
    up = b.close[:-1] >= b.open[:-1]
    jump = (b.high - b.low)[:-1] * 0.5 * np.where(up, 1.0, -1.0)
    o[1:] = np.round((b.close[:-1] + jump) / 5) * 5
    return Bars(
        time=b.time,
        open=o,
        high=np.maximum.reduce([b.high, o, b.close]),
        low=np.minimum.reduce([b.low, o, b.close]),
        close=b.close.copy(),
        tick_volume=b.tick_volume.copy(),
        real_volume=b.real_volume.copy(),
        timezone=b.timezone,
    )


def test_gap_through_the_stop_enters_at_market_like_the_backtest() -> None:
    bars = gappy()
    clock = ReplayClock()
    broker = StrictPaper(symbols=[WIN], clock=clock)
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade"),
        strategy=ElephantParams(entry_mode="stop"),
        risk=RiskSection(kill_switch_file=None),
    )
    run = replay_paper(bars, WIN, cfg, broker=broker, clock=clock)
    assert len(broker.refused) >= 3  # the case happened ...
    gap_entries = [t for t in run.trades if t.entry_time in broker.refused]
    assert gap_entries and all(t.entry_price not in (t.sl, t.tp) for t in gap_entries)
    assert run.trades == run_backtest(bars, WIN, cfg.strategy).trades()  # ... and agrees
