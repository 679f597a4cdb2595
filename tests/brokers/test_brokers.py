from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from mtponte.backtest import StreamingBacktest
from mtponte.bridge import Executor, ExecutorLimits
from mtponte.brokers.base import Broker
from mtponte.brokers.bridge import BridgeBroker
from mtponte.brokers.paper import PaperBroker
from mtponte.domain import WIN, Bar, Side
from mtponte.strategies import ElephantParams


def bar(minute, o, h, l, c):
    return Bar(datetime(2024, 3, 4, 12, minute, tzinfo=UTC), o, h, l, c)


def test_paper_broker_reuses_the_backtest_fill_model():
    b = PaperBroker()
    b.place_order(
        "WIN",
        Side.BUY,
        "stop",
        1,
        100_205.0,
        sl=99_940.0,
        tp=100_605.0,
        expiry=datetime(2024, 3, 4, 13, tzinfo=UTC),
    )
    b.on_bar("WIN", bar(0, 100_250, 100_300, 100_240, 100_260))  # gaps over the stop
    (pos,) = b.positions()
    assert pos.open_price == 100_250  # max(open, stop), as the backtester fills
    b.on_bar("WIN", bar(5, 99_800, 99_850, 99_700, 99_750))  # gaps through the SL
    assert b.positions() == []
    out = [d for d in b.deals() if d.entry == "out"]
    assert out[0].price == 99_800 and out[0].profit == pytest.approx(WIN.money(-450, 1))


def test_paper_broker_agrees_with_the_streaming_backtest(synth_bars):
    """Replay bars as live would: after a stop signal at the close of bar i, place the
    stop order for bar i+1 if it opens on the same date inside the window and the
    account is flat, cancel it after that bar. The paper broker's fills must be the
    backtest's (no flat time here: the paper broker has no session clock)."""
    from mtponte.domain.bars import local_parts
    from mtponte.strategies.elephant import setup_bar_ok

    p = ElephantParams(flat_time=None)
    bt = StreamingBacktest(WIN, p)
    broker = PaperBroker()
    waiting = None  # (signal, setup day)
    for b in synth_bars[:8000]:
        day, tod = local_parts(b.time, WIN.timezone)
        if waiting is not None and not broker.positions() and setup_bar_ok(waiting[1], day, tod, p):
            s = waiting[0]
            broker.place_order("WIN", s.side, "stop", 1, s.price, s.sl, s.tp)
        waiting = None
        broker.on_bar("WIN", b)
        for o in broker.orders():
            broker.cancel_order(o.ticket)
        n = len(bt.signals)
        bt.on_bar(b)
        if len(bt.signals) > n:
            waiting = (bt.signals[-1], day)
    bt.finish()  # a position still open at the end of the data closes with reason "end"
    ins = [d.price for d in broker.deals() if d.entry == "in"]
    outs = [d.price for d in broker.deals() if d.entry == "out"]
    assert len(bt.trades) > 10
    assert ins == [t.entry_price for t in bt.trades]
    assert outs == [t.exit_price for t in bt.trades if t.exit_reason.value != "end"]


def test_bridge_broker_round_trip(tmp_path):
    paper = PaperBroker(tmp_path / "paper.sqlite")
    paper.set_quote("WIN", 120_000, 120_005)
    ex = Executor(tmp_path, paper, ExecutorLimits(dead_man_ms=5_000))
    stop = threading.Event()
    th = threading.Thread(target=ex.run, args=(stop,), daemon=True)
    th.start()
    try:
        bb = BridgeBroker(tmp_path)
        assert isinstance(bb, Broker)
        rep = bb.market_order("WIN", Side.BUY, 1, sl=119_000.0, tp=121_000.0)
        assert rep.ok and rep.price == 120_005
        ex.write_state()
        (pos,) = bb.positions()
        assert pos.ticket == rep.ticket and pos.comment.startswith("mtp:")
        assert bb.account().balance == 100_000
        assert bb.symbols()["WIN"].tick_size == 5
        assert [d.price for d in bb.deals()] == [120_005]
        refused = bb.market_order("WIN", Side.BUY, 1, sl=119_000.0)  # max_positions = 1
        assert not refused.ok and "max" in refused.message
        assert bb.close_position(pos.ticket).ok
        bb.close()
    finally:
        stop.set()
        th.join(timeout=5)


def test_bars_snapshot_through_the_bridge(tmp_path, synth_bars):
    paper = PaperBroker(tmp_path / "paper.sqlite")
    for b in synth_bars[:300]:
        paper.on_bar("WIN", b)
    ex = Executor(tmp_path, paper, ExecutorLimits(dead_man_ms=0))
    ex.bar_subscriptions = (("WIN", "M5"),)
    ex.bar_count = 50
    ex.write_state()
    bars = BridgeBroker(tmp_path).bars("WIN", "M5", 20)
    assert len(bars) == 20
    assert bars == [synth_bars.bar(i) for i in range(280, 300)]  # the last closed bars, exact


def test_paper_market_order_refuses_unknown_symbols_and_requotes():
    b = PaperBroker()
    b.set_quote("XYZ", 10.0, 10.5)
    rep = b.market_order("XYZ", Side.BUY, 1)
    assert not rep.ok and "unknown symbol" in rep.message
    b.set_quote("WIN", 120_000, 120_005)
    moved = b.market_order("WIN", Side.BUY, 1, price=119_900.0, deviation_points=2)
    assert not moved.ok and moved.retcode == 10004  # REQUOTE: 105 points > 2 ticks
    assert b.deals() == []
