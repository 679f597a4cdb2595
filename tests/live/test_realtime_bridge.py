"""The monitor in real time over the file bridge: a polled bridge feed, the bridge broker,
the Python executor on a paper account as the terminal, in lockstep with a simulated
market. The trades equal the backtest's: one runner for replay and bridge (issue 9)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from mtponte.backtest import run_backtest
from mtponte.bridge.executor import Executor
from mtponte.brokers.bridge import BridgeBroker
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import open_journal
from mtponte.live.pollfeeds import BridgeFeed
from mtponte.live.realtime import run_polled
from mtponte.live.replay import ReplayClock


def key(t):  # type: ignore[no-untyped-def]
    return (t.entry_time, int(t.side), t.entry_price, t.exit_time, t.exit_price, t.exit_reason)


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_realtime_over_the_bridge_trades_like_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    bars = synth_win(days=8, seed=12)
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade"),
        risk=RiskSection(kill_switch_file=None),
        strategy={"entry_mode": mode},  # type: ignore[arg-type]
    )
    expected = sorted(key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades())
    assert len(expected) >= 3
    step = timedelta(minutes=5)
    clock = ReplayClock(bars.bar(0).time)
    ms = [0]

    def fake_now() -> int:  # the terminal's and the client's clock: the market's
        ms[0] += 1
        return int(clock().timestamp() * 1000) + ms[0] % 1000

    monkeypatch.setattr("mtponte.bridge.client.now_ms", fake_now)
    monkeypatch.setattr("mtponte.bridge.fileio.now_ms", fake_now)
    root = tmp_path / "bridge"
    paper = PaperBroker(symbols=[WIN], clock=clock, account_mode="netting")
    ex = Executor(root, paper, clock=fake_now)
    ex.bar_subscriptions = (("WIN", "M5"),)
    warm = 40
    for i in range(warm):  # closed before the monitor starts: it only warms up on them
        clock.t = bars.bar(i).time
        paper.on_bar("WIN", bars.bar(i))
    clock.t = bars.bar(warm - 1).time + step
    paper.set_quote("WIN", bars.bar(warm).open)
    ex.write_state()

    handled = [0]
    cond = threading.Condition()

    def on_event(_ev: BarEvent) -> None:
        with cond:
            handled[0] += 1
            cond.notify_all()

    stop = threading.Event()
    runners: list[object] = []
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    broker = BridgeBroker(root, timeout_s=10)
    out: list[object] = []
    th = threading.Thread(
        target=lambda: out.append(
            run_polled(
                feed,
                WIN,
                cfg,
                broker,
                300,
                stop,
                on_event=on_event,
                on_start=runners.append,
                clock=clock,
            )
        ),
        daemon=True,
    )
    th.start()
    try:
        # The monitor has read the history (its first poll) before bar `warm` closes:
        # a bar that closed before the start is warm-up, never acted on.
        deadline = time.monotonic() + 20
        while not runners:
            assert time.monotonic() < deadline and th.is_alive()
            time.sleep(0.001)
        for j in range(warm, len(bars)):
            clock.t = bars.bar(j).time
            paper.on_bar("WIN", bars.bar(j))  # the market trades bar j
            clock.t = bars.bar(j).time + step  # bar j has closed
            if j + 1 < len(bars):
                paper.set_quote("WIN", bars.bar(j + 1).open)
            ex.write_state()
            deadline = time.monotonic() + 20
            while True:  # serve the monitor's commands until it has handled bar j
                ex.process_inbox()
                with cond:
                    if handled[0] >= j - warm + 1:
                        break
                    cond.wait(0.001)
                assert time.monotonic() < deadline, f"bar {j} not handled"
                assert th.is_alive() or out, "the monitor stopped"
            ex.process_inbox()
    finally:
        stop.set()
        th.join(10)
    (run,) = out
    got = sorted(key(t) for t in run.runner.trades)  # type: ignore[attr-defined]
    # The backtest's trades after the warm-up bars (the monitor started there).
    start = bars.bar(warm).time
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
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade"),
        risk=RiskSection(kill_switch_file=root / "KILL_SWITCH"),
    )
    step = timedelta(minutes=5)
    clock = ReplayClock(bars.bar(0).time)

    def market_ms() -> int:
        return int(clock().timestamp() * 1000)

    paper = PaperBroker(symbols=[WIN], clock=clock, account_mode="netting")
    ex = Executor(root, paper, clock=market_ms)
    ex.bar_subscriptions = (("WIN", "M5"),)
    warm = 40
    for i in range(warm):
        clock.t = bars.bar(i).time
        paper.on_bar("WIN", bars.bar(i))
    clock.t = bars.bar(warm - 1).time + step
    paper.set_quote("WIN", bars.bar(warm).open)
    ex.write_state()
    handled = [0]
    cond = threading.Condition()

    def on_event(_ev: BarEvent) -> None:
        with cond:
            handled[0] += 1
            cond.notify_all()

    runners: list[object] = []
    stop = threading.Event()
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    broker = BridgeBroker(root, timeout_s=10, clock=market_ms)
    out: list[object] = []
    th = threading.Thread(
        target=lambda: out.append(
            run_polled(
                feed,
                WIN,
                cfg,
                broker,
                300,
                stop,
                on_event=on_event,
                on_start=runners.append,
                clock=clock,
            )
        ),
        daemon=True,
    )
    th.start()
    killed_at: int | None = None
    try:
        deadline = time.monotonic() + 20
        while not runners:
            assert time.monotonic() < deadline and th.is_alive()
            time.sleep(0.001)
        runner = runners[0]
        for j in range(warm, len(bars)):
            if killed_at is None and runner._held is not None:  # type: ignore[attr-defined]
                (root / "KILL_SWITCH").write_text("test")
                ex.process_inbox()  # the executor flattens at the current quote
                killed_at = j
                kill_price = bars.bar(j).open
            if killed_at is not None and j == killed_at + 30:
                (root / "KILL_SWITCH").unlink()
            clock.t = bars.bar(j).time
            paper.on_bar("WIN", bars.bar(j))
            clock.t = bars.bar(j).time + step
            if j + 1 < len(bars):
                paper.set_quote("WIN", bars.bar(j + 1).open)
            ex.write_state()
            deadline = time.monotonic() + 20
            while True:
                ex.process_inbox()
                with cond:
                    if handled[0] >= j - warm + 1:
                        break
                    cond.wait(0.001)
                assert time.monotonic() < deadline, f"bar {j} not handled"
                assert th.is_alive() or out, "the monitor stopped"
            ex.process_inbox()
    finally:
        stop.set()
        th.join(10)
    assert killed_at is not None, "no position was ever held"
    trades = runner.trades  # type: ignore[attr-defined]
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
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade"),
        risk=RiskSection(kill_switch_file=None),
        strategy={"entry_mode": "next_open"},  # type: ignore[arg-type]
    )
    warm = 40
    expected = [
        t
        for t in run_backtest(bars, WIN, cfg.strategy).trades()
        if t.entry_time >= bars.bar(warm).time
    ]
    frozen = int(np.searchsorted(bars.time, int(expected[0].entry_time.timestamp()))) - 1
    step = timedelta(minutes=5)
    clock = ReplayClock(bars.bar(0).time)

    def market_ms() -> int:
        return int(clock().timestamp() * 1000)

    root = tmp_path / "bridge"
    paper = PaperBroker(symbols=[WIN], clock=clock, account_mode="netting")
    ex = Executor(root, paper, clock=market_ms)
    ex.bar_subscriptions = (("WIN", "M5"),)
    for i in range(warm):
        clock.t = bars.bar(i).time
        paper.on_bar("WIN", bars.bar(i))
    clock.t = bars.bar(warm - 1).time + step
    paper.set_quote("WIN", bars.bar(warm).open)
    ex.write_state()
    handled = [0]
    cond = threading.Condition()

    def on_event(_ev: BarEvent) -> None:
        with cond:
            handled[0] += 1
            cond.notify_all()

    runners: list[object] = []
    journal = open_journal(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    journal.start_run("trade", "bridge", "bridge", "WIN", {})
    stop = threading.Event()
    feed = BridgeFeed(root, "WIN", "M5", poll_s=0.002)
    broker = BridgeBroker(root, timeout_s=3.0, clock=market_ms)  # the frozen bar waits it out
    out: list[object] = []
    th = threading.Thread(
        target=lambda: out.append(
            run_polled(
                feed,
                WIN,
                cfg,
                broker,
                300,
                stop,
                journal,
                on_event=on_event,
                on_start=runners.append,
                clock=clock,
            )
        ),
        daemon=True,
    )
    th.start()
    unknown_after: list[int] = []
    try:
        for j in range(warm, len(bars)):
            clock.t = bars.bar(j).time
            paper.on_bar("WIN", bars.bar(j))
            clock.t = bars.bar(j).time + step
            if j + 1 < len(bars):
                paper.set_quote("WIN", bars.bar(j + 1).open)
            if j == frozen + 1:
                ex.process_inbox()  # back: its inbox first, the market has moved on
            ex.write_state()
            deadline = time.monotonic() + 20
            while True:  # the frozen bar: the inbox is not served while the monitor waits
                if j != frozen:
                    ex.process_inbox()
                with cond:
                    if handled[0] >= j - warm + 1:
                        break
                    cond.wait(0.001)
                assert time.monotonic() < deadline, f"bar {j} not handled"
                assert th.is_alive() or out, "the monitor stopped"
            if j in (frozen, frozen + 1):
                unknown_after.append(len(runners[0].desk.unknown))  # type: ignore[attr-defined]
            if j != frozen:
                ex.process_inbox()
    finally:
        stop.set()
        th.join(10)
    assert unknown_after == [1, 0]  # unknown while frozen, settled at the next bar
    journal.close()
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        cmds = list(db.execute("SELECT tag, kind, state, message FROM live_commands"))
    tag, _kind, state, message = next(c for c in cmds if c[1] == "market")
    assert state == "refused" and "expired" in message, (state, message)
    assert sum(1 for c in cmds if c[0] == tag) == 1  # never re-sent
    assert not [c for c in cmds if c[2] in ("unknown", "lost", "pending")], cmds
    assert not [d for d in paper.deals() if d.comment == tag]  # never executed
    assert broker.client.unfinished() == []
    (run,) = out
    later = run.runner.trades  # type: ignore[attr-defined]
    assert later and later[0].entry_time > bars.bar(frozen + 1).time  # not blocked
