"""Replays with injected faults, journaled, for the live-vs-backtest report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtponte.backtest.engine import run_backtest
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN, Bars
from mtponte.domain.orders import ExecutionReport, Trade
from mtponte.live.config import LiveConfig, load_config
from mtponte.live.journal import open_journal
from mtponte.live.replay import ReplayClock, replay_paper

TF = timedelta(minutes=5)


@pytest.fixture(scope="session")
def data() -> Bars:
    """30 synthetic WIN M5 sessions whose backtest has a positive Sharpe (24 trades)."""
    return synth_win(days=30, seed=11)


@pytest.fixture(scope="session")
def bt_trades(data: Bars) -> list[Trade]:
    return run_backtest(data, WIN).trades()


def live_config(**risk: Any) -> LiveConfig:
    """Trade mode, no kill switch; the guard off (these replays test the report, and a
    tripped guard would turn every later divergence into "refused: guard")."""
    return load_config(
        None,
        {
            "runner": {"mode": "trade"},
            "risk": {"kill_switch_file": None, **risk},
            "guard": {"enabled": False},
        },
    )


class FaultyBroker(PaperBroker):
    """A paper account that drops (timeout, never placed) or rejects the entry orders
    whose entry bar is in ``drop`` / ``reject``."""

    def __init__(self, *a: Any, drop: set[datetime], reject: set[datetime], **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.drop, self.reject = drop, reject

    def place_order(self, symbol: str, side: Any, order_type: str, *a: Any, **kw: Any) -> Any:
        bar = kw["expiry"] - TF if kw.get("expiry") is not None else None
        if bar in self.drop:
            return ExecutionReport(False, 10012, "request timed out")
        if bar in self.reject:
            return ExecutionReport(False, 10019, "not enough money")
        return super().place_order(symbol, side, order_type, *a, **kw)


@dataclass
class Faults:
    slippage_ticks: int = 0
    drop: tuple[datetime, ...] = ()
    reject: tuple[datetime, ...] = ()
    bars: Callable[[Bars], Bars] | None = None  # what the feed delivers instead


def run_replay(
    data: Bars,
    out: Path,
    faults: Faults | None = None,
    cfg: LiveConfig | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> Path:
    """Replay ``data`` (as altered by ``faults``) into ``out/journal.sqlite``."""
    f = faults or Faults()
    cfg = cfg or live_config()
    clock = ReplayClock()
    broker = FaultyBroker(
        ":memory:",
        symbols=[WIN],
        slippage_ticks=f.slippage_ticks,
        currency=WIN.currency,
        clock=clock,
        drop=set(f.drop),
        reject=set(f.reject),
    )
    journal = open_journal(f"sqlite:///{(out / 'journal.sqlite').as_posix()}")
    journal.start_run("trade", "paper", "replay", "WIN", cfg.model_dump(mode="json"))
    try:
        replay_paper(
            f.bars(data) if f.bars else data,
            WIN,
            cfg,
            journal,
            broker=broker,
            clock=clock,
            command_ttl_s=0.0,
            on_event=on_event,
        )
    finally:
        journal.close()
    return out


def without(data: Bars, t: datetime) -> Bars:
    """``data`` without the bar opening at ``t`` (a feed gap)."""
    keep = data.time != int(t.timestamp())
    return Bars(
        data.time[keep],
        data.open[keep],
        data.high[keep],
        data.low[keep],
        data.close[keep],
        data.tick_volume[keep],
        data.real_volume[keep],
        data.timezone,
    )


def shifted(data: Bars, t: datetime, by: float) -> Bars:
    """``data`` with the bar opening at ``t`` moved by ``by`` points (a different tick)."""
    i = int(np.searchsorted(data.time, int(t.timestamp())))
    cols = {k: getattr(data, k).copy() for k in ("open", "high", "low", "close")}
    for c in cols.values():
        c[i] += by
    return Bars(
        data.time,
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        data.tick_volume,
        data.real_volume,
        data.timezone,
    )
