"""The monitor in real time over the file bridge: a polled bridge feed, the bridge broker,
the Python executor on a paper account as the terminal, in lockstep with a simulated
market. The trades equal the backtest's: one runner for replay and bridge (issue 9)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from mtponte.backtest import run_backtest
from mtponte.bridge.executor import Executor
from mtponte.brokers.bridge import BridgeBroker
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.journal import open_journal
from mtponte.live.pollfeeds import BridgeFeed
from tests.live._lockstep import Market, Monitor, key, trading


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_realtime_over_the_bridge_trades_like_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    bars = synth_win(days=8, seed=12)
    cfg = trading(mode)
    expected = sorted(key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades())
    assert len(expected) >= 3
    m = Market(bars)
    ms = [0]

    def fake_now() -> int:  # the terminal's and the client's clock: the market's
        ms[0] += 1
        return m.ms() + ms[0] % 1000

    monkeypatch.setattr("mtponte.bridge.client.now_ms", fake_now)
    monkeypatch.setattr("mtponte.bridge.fileio.now_ms", fake_now)
    root = tmp_path / "bridge"
    ex = Executor(root, m.paper, clock=fake_now)
    ex.bar_subscriptions = (("WIN", "M5"),)
    ex.write_state()
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    mon = Monitor(feed, cfg, BridgeBroker(root, timeout_s=10), m)
    mon.start()
    try:
        for j in range(m.warm, len(bars)):
            m.trade(j)
            ex.write_state()
            mon.wait_bar(j, serve=ex.process_inbox)  # its commands served meanwhile
            ex.process_inbox()
    finally:
        mon.stop()
    got = sorted(key(t) for t in mon.result().runner.trades)
    # The backtest's trades after the warm-up bars (the monitor started there).
    start = bars.bar(m.warm).time
    want = [e for e in expected if e[0] >= start]
    assert got == want, "\n".join(["got:", *map(repr, got), "want:", *map(repr, want)])
    assert len(got) >= 3


def test_a_position_the_kill_switch_closes_is_a_flat_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor flattens on the kill switch (deal comment ``mtp:kill``): the runner
    records that exit as ``flat`` at the executor's price, not as the SL or TP it is
    nearest to, and takes no entry while the switch is on."""
    bars = synth_win(days=8, seed=12)
    root = tmp_path / "bridge"
    cfg = trading(kill_switch_file=root / "KILL_SWITCH")
    m = Market(bars)
    ex = Executor(root, m.paper, clock=m.ms)
    ex.bar_subscriptions = (("WIN", "M5"),)
    ex.write_state()
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    mon = Monitor(feed, cfg, BridgeBroker(root, timeout_s=10, clock=m.ms), m)
    runner = mon.start()
    killed_at: int | None = None
    try:
        for j in range(m.warm, len(bars)):
            if killed_at is None and runner._held is not None:
                (root / "KILL_SWITCH").write_text("test")
                ex.process_inbox()  # the executor flattens at the current quote
                killed_at = j
                kill_price = bars.bar(j).open
            if killed_at is not None and j == killed_at + 30:
                (root / "KILL_SWITCH").unlink()
            m.trade(j)
            ex.write_state()
            mon.wait_bar(j, serve=ex.process_inbox)
            ex.process_inbox()
    finally:
        mon.stop()
    assert killed_at is not None, "no position was ever held"
    trades = runner.trades
    (flat,) = [t for t in trades if t.exit_time == bars.bar(killed_at).time]
    assert flat.exit_reason == "flat" and flat.exit_price == kill_price
    on, off = bars.bar(killed_at).time, bars.bar(killed_at + 30).time
    assert not [t for t in trades if on <= t.entry_time < off]
    assert [t for t in trades if t.entry_time >= off], "trading did not resume"


def test_a_command_answered_expired_after_the_wait_is_refused_not_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor does not read the inbox while the monitor waits for an entry's
    result (a frozen EA); when it does, the market has moved on past the command's TTL
    and it answers ``rejected/expired``. The runner reads that late answer at the next
    bar: the command is journaled ``refused`` (never executed, never re-sent), not left
    ``unknown`` blocking entries until its own TTL declares it ``lost``."""
    bars = synth_win(days=8, seed=12)
    cfg = trading("next_open")
    m = Market(bars)
    expected = [
        t
        for t in run_backtest(bars, WIN, cfg.strategy).trades()
        if t.entry_time >= bars.bar(m.warm).time
    ]
    frozen = int(np.searchsorted(bars.time, int(expected[0].entry_time.timestamp()))) - 1
    root = tmp_path / "bridge"
    ex = Executor(root, m.paper, clock=m.ms)
    ex.bar_subscriptions = (("WIN", "M5"),)
    ex.write_state()
    journal = open_journal(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    journal.start_run("trade", "bridge", "bridge", "WIN", {})
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    broker = BridgeBroker(root, timeout_s=3.0, clock=m.ms)  # the frozen bar waits it out
    mon = Monitor(feed, cfg, broker, m, journal)
    mon.start()
    unknown_after: list[int] = []
    try:
        for j in range(m.warm, len(bars)):
            m.trade(j)
            if j == frozen + 1:
                ex.process_inbox()  # back: its inbox first, the market has moved on
            ex.write_state()
            # the frozen bar: the inbox is not served while the monitor waits
            mon.wait_bar(j, serve=None if j == frozen else ex.process_inbox)
            if j in (frozen, frozen + 1):
                unknown_after.append(len(mon.runners[0].desk.unknown))
            if j != frozen:
                ex.process_inbox()
    finally:
        mon.stop()
    assert unknown_after == [1, 0]  # unknown while frozen, settled at the next bar
    journal.close()
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        cmds = list(db.execute("SELECT tag, kind, state, message FROM live_commands"))
    tag, _kind, state, message = next(c for c in cmds if c[1] == "market")
    assert state == "refused" and "expired" in message, (state, message)
    assert sum(1 for c in cmds if c[0] == tag) == 1  # never re-sent
    assert not [c for c in cmds if c[2] in ("unknown", "lost", "pending")], cmds
    assert not [d for d in m.paper.deals() if d.comment == tag]  # never executed
    assert broker.client.unfinished() == []
    later = mon.result().runner.trades
    assert later and later[0].entry_time > bars.bar(frozen + 1).time  # not blocked
