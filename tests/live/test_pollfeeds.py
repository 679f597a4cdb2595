"""The polled feeds: MetaTrader5 (simulator and a fake module) and the bridge snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mtponte.bridge.fileio import BridgeDir
from mtponte.bridge.snapshots import write_bars
from mtponte.brokers._mt5sim import Mt5Sim
from mtponte.brokers.paper import PaperBroker
from mtponte.brokers.servertime import ServerClock
from mtponte.data import synth_win
from mtponte.domain.bars import Bar
from mtponte.errors import ConfigError, DataError
from mtponte.live.feeds import BarEvent
from mtponte.live.pollfeeds import BridgeFeed, ClosedBars, Mt5Feed, timeframe_seconds

SAO_PAULO = ServerClock("America/Sao_Paulo")
T0 = datetime(2024, 3, 4, 13, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def ohlc(b: Bar) -> tuple[datetime, float, float, float, float]:
    return b.time, b.open, b.high, b.low, b.close


# ---------------------------------------------------------------- against the simulator
def test_mt5_feed_against_the_simulator_bar_by_bar() -> None:
    bars = synth_win(days=1, seed=3)
    paper = PaperBroker()
    sim = Mt5Sim(paper, server_timezone="America/Sao_Paulo")
    feed = Mt5Feed("WIN", "M5", SAO_PAULO, module=sim, count=10)
    got: list[BarEvent] = []
    for i in range(len(bars)):
        paper.on_bar("WIN", bars.bar(i))
        nxt = bars.bar(i + 1).open if i + 1 < len(bars) else bars.bar(i).close
        paper.set_quote("WIN", nxt)
        evs = feed.poll()
        if i == 0:
            assert evs == [] and [ohlc(b) for b in feed.history] == [ohlc(bars.bar(0))]
            continue
        assert feed.poll() == []  # polling again: nothing new
        got.extend(evs)
    # the simulator shows every fed bar as closed, plus a forming bar at the quote
    n = len(bars)
    assert [ohlc(e.bar) for e in got] == [ohlc(bars.bar(i)) for i in range(1, n)]
    for e, i in zip(got, range(1, n), strict=True):
        assert e.bar.time.tzinfo is not None
        assert e.next_time == bars.bar(i).time + STEP
        assert e.next_open == (bars.bar(i + 1).open if i + 1 < n else bars.bar(i).close)


def test_mt5_feed_simulator_gap_yields_every_missed_bar() -> None:
    bars = synth_win(days=1, seed=4)
    paper = PaperBroker()
    sim = Mt5Sim(paper, server_timezone="America/Sao_Paulo")
    feed = Mt5Feed("WIN", "M5", SAO_PAULO, module=sim, count=10)
    paper.on_bar("WIN", bars.bar(0))
    paper.set_quote("WIN", bars.bar(1).open)
    assert feed.poll() == []
    for i in range(1, 6):  # five bars close between two polls
        paper.on_bar("WIN", bars.bar(i))
    paper.set_quote("WIN", bars.bar(6).open)
    evs = feed.poll()
    assert [ohlc(e.bar) for e in evs] == [ohlc(bars.bar(i)) for i in range(1, 6)]
    assert [e.next_time for e in evs] == [bars.bar(i).time for i in range(2, 7)]
    assert [e.next_open for e in evs] == [bars.bar(i).open for i in range(2, 7)]


# ---------------------------------------------------------------- against a fake module
class FakeMt5:
    TIMEFRAME_M5 = 5

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] | None = []
        self.calls: list[tuple[Any, ...]] = []

    def set(self, *minutes_and_close: tuple[int, float]) -> None:
        start = SAO_PAULO.to_server(T0)
        self.rows = [
            {
                "time": start + 60 * m,
                "open": c,
                "high": c + 1,
                "low": c - 1,
                "close": c,
                "tick_volume": 1,
                "spread": 0,
                "real_volume": 2,
            }
            for m, c in minutes_and_close
        ]

    def copy_rates_from_pos(self, symbol: str, tf: int, pos: int, count: int) -> Any:
        self.calls.append((symbol, tf, pos, count))
        return None if self.rows is None else self.rows[-count:]

    def last_error(self) -> tuple[int, str]:
        return (-1, "no connection")


def fake_feed(backfill: bool = False) -> tuple[FakeMt5, Mt5Feed]:
    mod = FakeMt5()
    return mod, Mt5Feed("WIN", "M5", SAO_PAULO, module=mod, count=5, backfill=backfill)


def test_fake_forming_bar_is_never_yielded_and_gives_next() -> None:
    mod, feed = fake_feed(backfill=True)
    mod.set((0, 1.0), (5, 2.0))
    evs = feed.poll()
    assert mod.calls == [("WIN", 5, 0, 5)]
    assert [e.bar.time for e in evs] == [T0]
    assert evs[0].next_time == T0 + STEP and evs[0].next_open == 2.0
    assert evs[0].bar.real_volume == 2.0


def test_fake_identical_reappearance_is_skipped() -> None:
    mod, feed = fake_feed()
    mod.set((0, 1.0), (5, 2.0))
    assert feed.poll() == []
    assert [b.time for b in feed.history] == [T0]
    mod.set((0, 1.0), (5, 2.5))  # the forming bar moves: nothing closed
    assert feed.poll() == []
    mod.set((0, 1.0), (5, 2.5), (10, 3.0))
    evs = feed.poll()
    assert [(e.bar.time, e.bar.close) for e in evs] == [(T0 + STEP, 2.5)]
    assert feed.poll() == []


def test_fake_changed_closed_bar_raises() -> None:
    mod, feed = fake_feed()
    mod.set((0, 1.0), (5, 2.0), (10, 3.0))
    feed.poll()
    mod.set((0, 1.0), (5, 2.1), (10, 3.0), (15, 4.0))
    with pytest.raises(DataError, match="changed"):
        feed.poll()


def test_fake_time_backwards_raises() -> None:
    mod, feed = fake_feed()
    mod.set((0, 1.0), (5, 2.0), (10, 3.0), (15, 4.0))
    feed.poll()
    mod.set((0, 1.0), (5, 2.0))  # newest closed bar is now older than the accepted one
    with pytest.raises(DataError, match="backwards"):
        feed.poll()
    mod.set((0, 1.0), (10, 3.0), (5, 2.0), (20, 5.0))
    with pytest.raises(DataError, match="increasing"):
        feed.poll()


def test_fake_inserted_bar_raises() -> None:
    mod, feed = fake_feed()
    mod.set((0, 1.0), (10, 3.0), (15, 4.0))
    feed.poll()
    mod.set((0, 1.0), (5, 2.0), (10, 3.0), (15, 4.0), (20, 5.0))
    with pytest.raises(DataError, match="appeared before"):
        feed.poll()


def test_fake_gap_yields_missing_bars_in_order() -> None:
    mod, feed = fake_feed()
    mod.set((0, 1.0), (5, 2.0))
    feed.poll()
    mod.set((5, 2.0), (10, 3.0), (15, 4.0), (20, 5.0), (25, 6.0))
    evs = feed.poll()
    assert [e.bar.close for e in evs] == [2.0, 3.0, 4.0, 5.0]
    assert [e.next_time for e in evs] == [T0 + k * STEP for k in (2, 3, 4, 5)]


def test_fake_failed_read_is_logged_and_yields_nothing(caplog: pytest.LogCaptureFixture) -> None:
    mod, feed = fake_feed()
    mod.rows = None
    assert feed.poll() == []
    assert "no connection" in caplog.text


def test_iteration_polls_until_stop() -> None:
    mod = FakeMt5()
    slept: list[float] = []
    left = [2]

    def stop() -> bool:
        left[0] -= 1
        return left[0] == 0

    def sleep(s: float) -> None:
        slept.append(s)
        mod.set((0, 1.0), (5, 2.0))  # bar 0 closes while the feed sleeps

    mod.set((0, 1.0))  # only the forming bar: nothing closed before the start
    feed = Mt5Feed("WIN", "M5", SAO_PAULO, module=mod, poll_s=0.25, stop=stop, sleep=sleep)
    evs = list(feed)
    assert slept == [0.25]
    assert [(e.bar.time, e.next_time) for e in evs] == [(T0, T0 + STEP)]
    assert feed.history == []


def test_default_module_is_imported_lazily() -> None:
    feed = Mt5Feed("WIN", "M5", SAO_PAULO)  # constructing never imports MetaTrader5
    try:
        import MetaTrader5  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="MetaTrader5"):
            feed.poll()


def test_closed_bars_first_window_is_history() -> None:
    t = ClosedBars()
    b0 = Bar(T0, 1, 2, 0, 1)
    assert t.update([b0], T0 + STEP, 1.0) == []
    assert t.history == [b0] and t.last == b0


# ---------------------------------------------------------------- the bridge snapshot
def publish(root: BridgeDir, paper: PaperBroker, seq: int, now: datetime) -> None:
    write_bars(root, paper, seq, int(now.timestamp() * 1000), (("WIN", "M5"),), 10)


def test_bridge_feed_from_the_bridges_own_writer(tmp_path: Path) -> None:
    bars = synth_win(days=1, seed=5)
    root = BridgeDir(tmp_path).create()
    paper = PaperBroker()
    feed = BridgeFeed(tmp_path, "WIN", "m5")
    assert feed.poll() == []  # no snapshot yet
    got: list[BarEvent] = []
    for i in range(len(bars)):
        paper.on_bar("WIN", bars.bar(i))  # bar i closed; the snapshot is taken just after
        publish(root, paper, i + 1, bars.bar(i).time + STEP + timedelta(seconds=3))
        evs = feed.poll()
        assert feed.poll() == []  # same seq
        got.extend(evs)
    assert [ohlc(b) for b in feed.history] == [ohlc(bars.bar(0))]
    assert [ohlc(e.bar) for e in got] == [ohlc(bars.bar(i)) for i in range(1, len(bars))]
    assert all(e.next_time == e.bar.time + STEP and e.next_open is None for e in got)


def test_bridge_feed_gap_and_server_clock(tmp_path: Path) -> None:
    root = BridgeDir(tmp_path).create()
    paper = PaperBroker()
    # An EA writes MqlRates.time (server wall time): the feed converts with the clock.
    fake_wall = [
        Bar(datetime.fromtimestamp(SAO_PAULO.to_server(T0 + k * STEP), tz=UTC), k, k + 1, k - 1, k)
        for k in range(4)
    ]
    feed = BridgeFeed(tmp_path, "WIN", "M5", clock=SAO_PAULO)
    paper.on_bar("WIN", fake_wall[0])
    publish(root, paper, 1, T0 + STEP)
    assert feed.poll() == []
    for b in fake_wall[1:]:
        paper.on_bar("WIN", b)
    publish(root, paper, 2, T0 + 4 * STEP + timedelta(minutes=12))  # two slots later
    evs = feed.poll()
    assert [e.bar.time for e in evs] == [T0 + k * STEP for k in (1, 2, 3)]
    assert [e.next_time for e in evs] == [T0 + 2 * STEP, T0 + 3 * STEP, T0 + 6 * STEP]


def test_bridge_feed_refuses_a_wrong_or_broken_snapshot(tmp_path: Path) -> None:
    root = BridgeDir(tmp_path).create()
    paper = PaperBroker()
    paper.on_bar("WIN", Bar(T0, 1, 2, 0, 1))
    publish(root, paper, 1, T0 + STEP)
    (tmp_path / "state" / "bars-WIN-M5.json").rename(tmp_path / "state" / "bars-WIN-M1.json")
    with pytest.raises(DataError, match="not WIN M1"):
        BridgeFeed(tmp_path, "WIN", "M1").poll()
    (tmp_path / "state" / "bars-WIN-M1.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match="JSON"):
        BridgeFeed(tmp_path, "WIN", "M1").poll()
    (tmp_path / "state" / "bars-WIN-M1.json").write_text('{"seq": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="snapshot"):
        BridgeFeed(tmp_path, "WIN", "M1").poll()


def test_timeframe_seconds() -> None:
    assert timeframe_seconds("M5") == 300
    assert timeframe_seconds("h4") == 4 * 3600
    assert timeframe_seconds("D1") == 86_400
    for bad in ("MN1", "X5", "M0", ""):
        with pytest.raises(ConfigError):
            timeframe_seconds(bad)
