"""The bar-by-bar trailing stop: one logic in the streaming backtest and the runner."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mtponte.backtest.fill import trail_sl
from mtponte.backtest.streaming import StreamingBacktest
from mtponte.data import synth_win
from mtponte.domain import WIN, Bars
from mtponte.domain.orders import Trade
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.journal import open_journal
from mtponte.live.journal.models import CommandRow
from mtponte.live.replay import replay_paper
from mtponte.strategies import ElephantParams


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_win(days=40, seed=11)


def test_trail_sl_only_tightens() -> None:
    assert trail_sl(1, 100.0, 110.0, 130.0, 5.0) == 110.0  # long: up to the low
    assert trail_sl(1, 100.0, 95.0, 130.0, 5.0) == 100.0  # never loosens
    assert trail_sl(-1, 140.0, 110.0, 130.0, 5.0) == 130.0  # short: down to the high
    assert trail_sl(-1, 120.0, 110.0, 130.0, 5.0) == 120.0
    assert trail_sl(1, math.nan, 110.0, 130.0, 5.0) == 110.0  # no stop yet


def _stream(bars: Bars, p: ElephantParams, trailing: bool) -> list[Trade]:
    s = StreamingBacktest(WIN, p, trailing=trailing)
    for i in range(len(bars)):
        s.on_bar(bars.bar(i))
    s.finish()
    return s.trades


@pytest.mark.parametrize("entry", ["stop", "next_open"])
def test_replay_with_trailing_equals_the_streaming_backtest(
    bars: Bars, entry: str, tmp_path: Path
) -> None:
    p = ElephantParams(entry_mode=entry)  # type: ignore[arg-type]
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade", trailing="prev_bar"),
        strategy=p,
        risk=RiskSection(kill_switch_file=None),
    )
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run("trade", "paper", "replay", "WIN", {})
    try:
        run = replay_paper(bars, WIN, cfg, j)
        j.flush()
        mods: list[Any] = list(
            j._conn.execute(
                select(CommandRow)
                .where(CommandRow.kind == "modify")
                .order_by(CommandRow.created_at)
            ).all()
        )
    finally:
        j.close()
    want = _stream(bars, p, trailing=True)
    assert len(want) > 3 and run.trades == want
    # trailing changes the trades (else this test could not tell it is on)
    assert want != _stream(bars, p, trailing=False)
    assert mods, "every trailing step is a journaled modify command"
    by_tag: dict[str, list[float]] = {}
    for m in mods:
        by_tag.setdefault(m.tag, []).append(m.sl)
    for seq in by_tag.values():  # only ever tightening, in one direction per position
        assert seq == sorted(seq) or seq == sorted(seq, reverse=True)


def _held_long(quote: float) -> tuple[Any, Any]:
    from datetime import UTC, datetime

    from mtponte.brokers.paper import PaperBroker
    from mtponte.domain import Side
    from mtponte.live.replay import ReplayClock
    from mtponte.live.runner import Runner

    clock = ReplayClock(datetime(2025, 12, 15, 13, 0, tzinfo=UTC))
    broker = PaperBroker(symbols=[WIN], clock=clock)
    broker.set_quote(WIN.name, 120_000.0)
    assert broker.market_order(WIN.name, Side.BUY, 1.0, 119_000.0, 121_000.0, magic=7001).ok
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade", trailing="prev_bar", on_existing="adopt"),
        risk=RiskSection(kill_switch_file=None),
    )
    runner = Runner(cfg, WIN, broker, 300, clock=clock)
    runner.start()
    broker.set_quote(WIN.name, quote)  # the next bar's open
    return runner, broker


def test_a_trailed_level_already_passed_exits_at_the_open() -> None:
    from datetime import UTC, datetime

    from mtponte.domain import Bar
    from mtponte.domain.side import ExitReason

    bar = Bar(datetime(2025, 12, 15, 13, 0, tzinfo=UTC), 120_000, 120_200, 119_500, 119_600, 1.0)
    t = datetime(2025, 12, 15, 13, 5, tzinfo=UTC)
    runner, broker = _held_long(119_700.0)  # above the new level: a modify
    runner._trail(bar, t)
    assert runner._held.sl == 119_500 and broker.positions()[0].sl == 119_500
    runner, broker = _held_long(119_400.0)  # opened through it: closed at the market
    runner._trail(bar, t)
    assert runner._held is None and not broker.positions()
    (trade,) = runner.trades
    assert trade.exit_reason is ExitReason.SL and trade.exit_price == 119_400.0
