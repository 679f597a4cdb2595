"""The monitor dies mid-trade and restarts on the same paper account and journal: the
position is adopted, nothing is sent twice, and the trades of both runs together are the
backtest's."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mtponte.backtest import run_backtest
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import open_journal
from mtponte.live.journal.models import CommandRow, TradeRow
from mtponte.live.replay import ReplayClock, replay_paper
from mtponte.strategies import ElephantParams


class Crash(Exception):
    pass


def key(t: Any) -> tuple[object, ...]:
    """A trade or a journal row as comparable values (SQLite hands times back naive)."""
    reason = t.exit_reason
    return (
        t.entry_time.replace(tzinfo=None),
        t.exit_time.replace(tzinfo=None),
        t.entry_price,
        t.exit_price,
        t.sl,
        t.tp,
        t.pnl_money,
        getattr(reason, "value", reason),
    )


@pytest.mark.parametrize("entry", ["stop", "next_open"])
def test_killed_mid_trade_and_restarted(tmp_path: Path, entry: str) -> None:
    bars = synth_win(days=30, seed=9)
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade", on_existing="adopt"),
        strategy=ElephantParams(entry_mode=entry),
        risk=RiskSection(kill_switch_file=None),
    )
    paper, url = tmp_path / "paper.sqlite", f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}"
    expected = [key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades()]

    clock = ReplayClock()
    broker = PaperBroker(paper, symbols=[WIN], clock=clock)
    j1 = open_journal(url)
    j1.start_run("trade", "paper", "replay", "WIN", {})
    crash_after = bars.time[len(bars) // 2]

    def die(ev: BarEvent) -> None:
        if ev.bar.time.timestamp() >= crash_after and broker.positions():
            raise Crash  # mid-trade, with records still queued in the journal

    with pytest.raises(Crash):
        replay_paper(bars, WIN, cfg, j1, on_event=die, broker=broker, clock=clock)
    held = broker.positions()
    assert len(held) == 1
    j1._conn.close()  # no flush: what was queued is lost, as in a crash
    broker.close()

    clock = ReplayClock()
    broker = PaperBroker(paper, symbols=[WIN], clock=clock)
    j2 = open_journal(url)
    j2.start_run("trade", "paper", "replay", "WIN", {})
    run = replay_paper(bars, WIN, cfg, j2, broker=broker, clock=clock)
    assert run.trades and key(run.trades[0])[0] == held[0].open_time.replace(tzinfo=None)

    j2.flush()
    got = sorted(key(r) for r in j2._conn.execute(select(TradeRow)).all())
    assert got == expected  # nothing lost, nothing doubled
    deals = broker.deals()
    entries = [d for d in deals if d.entry == "in"]
    assert len(entries) == len(expected)  # one entry order filled per trade
    assert not [c for c in j2._conn.execute(select(CommandRow)).all() if c.state == "pending"]
    assert all(d.time.tzinfo is UTC for d in deals)
    j2.close()
