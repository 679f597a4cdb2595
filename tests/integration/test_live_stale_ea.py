"""Scenario test (issue 9): the EA's heartbeat goes stale with a command in flight.

The executor (``mtponte bridge market``, the EA's Python twin on a paper account) runs as
a separate process, in lockstep with the monitor (``run_polled`` with the journal, the
alerts and the health watch of ``mtponte live``) as ``mtponte demo`` drives them. On the
bar whose signal sends the first entry, the executor process is frozen with SIGSTOP
after it has published that bar and before the command reaches it: the monitor's command
goes unanswered, the EA-stale alert fires once, the command-unanswered alert once, and
nothing is sent again. After SIGCONT the executor executes the command once (its TTL has
not passed), the next bar's heartbeat raises ``ea_resumed`` once, the runner adopts the
position from the broker by the command's tag, and every trade equals the backtest's.

Time is the market's (simulated, frozen within a bar, as in the demo). Wall time still
flows within a bar, so the health watch reads "now" as the close of the last bar the
executor published plus the wall time since: a heartbeat that stops being rewritten
grows old (the real EA rewrites it on a timer; the stepped one once per bar).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtponte.backtest import run_backtest
from mtponte.bridge.client import BridgeClient
from mtponte.bridge.protocol import tag_for
from mtponte.brokers.bridge import BridgeBroker
from mtponte.cli._demo_market import save_market, write_step
from mtponte.cli.live import _monitor
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.alerting import HealthWatch
from mtponte.live.config import LiveConfig
from mtponte.live.feeds import BarEvent
from mtponte.live.pollfeeds import BridgeFeed
from mtponte.live.realtime import run_polled
from mtponte.live.replay import ReplayClock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP/SIGCONT are POSIX")

WAIT_S = 30.0
EA_STALE_S = 3.0  # the alert's threshold (wall seconds without a fresh heartbeat)
ANSWER_S = 6.0  # how long the monitor waits for a command's result


def key(t: Any) -> tuple[Any, ...]:
    return (t.entry_time, int(t.side), t.entry_price, t.exit_time, t.exit_price, t.exit_reason)


class GatedFeed:
    """The bridge feed, holding the bars it read until the conductor opens the gate (so
    the executor can be frozen after publishing a bar and before the monitor acts)."""

    def __init__(self, inner: BridgeFeed) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.holding = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def poll(self) -> list[BarEvent]:
        events = self.inner.poll()
        if events and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(WAIT_S)
        return events

    def wait(self, stop: threading.Event) -> bool:
        return self.inner.wait(stop)


def _wait(cond: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"{what}: the executor exited: {log.read_text(errors='replace')[-800:]}")
        assert time.monotonic() < deadline, f"{what}: nothing after {WAIT_S}s"
        time.sleep(0.001)


def test_stale_ea_with_a_command_in_flight(tmp_path: Path) -> None:
    bars = synth_win(days=6, seed=12)
    warm = int(np.searchsorted(bars.day, bars.day[0], side="right"))  # the first session
    step = timedelta(minutes=5)
    bdir = tmp_path / "mt5-files"
    cfg = LiveConfig.model_validate(
        {
            "runner": {"mode": "trade", "allow_real_account": True},
            "risk": {"kill_switch_file": None},
            "strategy": {"entry_mode": "next_open"},  # a signal is one market order
            "broker": {"kind": "bridge", "bridge_dir": str(bdir)},
            "alerts": {"ea_stale_s": EA_STALE_S, "watch_every_s": 0.05, "language": "en"},
        }
    )
    start = bars.bar(warm).time
    expected = sorted(
        key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades() if t.entry_time >= start
    )
    assert len(expected) >= 3
    first_entry = int(np.searchsorted(bars.time, int(expected[0][0].timestamp())))
    freeze_bar = first_entry - 1  # its close sends the first entry
    assert freeze_bar >= warm

    market = tmp_path / "market.npz"
    save_market(bars, market)
    exe_log = tmp_path / "executor.log"
    with exe_log.open("wb") as fh:
        proc = subprocess.Popen(
            [*(sys.executable, "-m", "mtponte", "bridge", "market"), "--dir", str(bdir),
             "--bars-file", str(market), "--warm", str(warm)],
            stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    clock = ReplayClock(bars.bar(warm - 1).time + step)
    # The watch's "now": the close of the last bar the executor published, plus the wall
    # time since it did (set when it is known to have published it).
    published = [clock().timestamp(), time.monotonic()]

    def mark_published() -> None:
        published[:] = [clock().timestamp(), time.monotonic()]

    def market_ms() -> int:
        return int(clock().timestamp() * 1000)

    def watch_now() -> float:  # the market's time, flowing within a bar
        return published[0] + (time.monotonic() - published[1])

    handled = [0]
    cond = threading.Condition()
    started = threading.Event()
    stop = threading.Event()
    out: list[Any] = []
    errors: list[BaseException] = []
    runners: list[Any] = []
    stopped = False
    try:
        snapshot = bdir / "state" / f"bars-{WIN.name}-M5.json"
        _wait(snapshot.exists, "no bars published", proc, exe_log)
        mark_published()
        feed = GatedFeed(BridgeFeed(bdir, WIN.name, "M5", poll_s=0.0005))
        broker = BridgeBroker(bdir, timeout_s=ANSWER_S, clock=market_ms)
        logs = tmp_path / "logs"
        history = logs / "alerts.jsonl"
        journal_url = f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}"
        with _monitor(cfg, journal_url, logs, "bridge", WIN) as m:
            # the same health checks, on the market's clock instead of the wall's
            m.alerts.watch.stop()
            m.alerts.watch = HealthWatch(m.alerts.manager, cfg, clock=watch_now)

            def on_start(runner: Any) -> None:
                runners.append(runner)
                m.alerts.on_start(runner)
                started.set()

            def on_event(_ev: BarEvent) -> None:
                m.tick()
                with cond:
                    handled[0] += 1
                    cond.notify_all()

            def monitor() -> None:
                try:
                    out.append(
                        run_polled(
                            feed,
                            WIN,
                            cfg,
                            broker,
                            300,
                            stop,
                            m.journal,
                            m.trade_log,
                            on_event=on_event,
                            on_start=on_start,
                            clock=clock,
                        )
                    )
                except BaseException as exc:  # reported below, not lost in the thread
                    errors.append(exc)

            th = threading.Thread(target=monitor, daemon=True)
            th.start()
            _wait(lambda: started.is_set() or bool(errors), "monitor start", proc, exe_log)
            assert not errors, errors
            mark_published()  # the warm-up's bars: now that the monitor is ready
            m.alerts.watch.start()
            inbox_done = bdir / "journal" / "done"
            frozen_for = 0.0
            seen_deals: dict[str, Any] = {}
            for j in range(warm, len(bars)):
                freeze = j == freeze_bar
                if freeze:
                    feed.gate.clear()
                clock.t = bars.bar(j).time + step  # bar j has closed
                write_step(bdir, j + 1)
                if freeze:
                    _wait(feed.holding.is_set, "bar not read", proc, exe_log)
                    time.sleep(0.05)  # the executor is back to polling its inbox
                    os.kill(proc.pid, signal.SIGSTOP)
                    mark_published()
                    t_frozen = time.monotonic()
                    feed.gate.set()  # the monitor acts on the bar: its entry is sent
                want = j - warm + 1
                with cond:
                    ok = cond.wait_for(lambda w=want: handled[0] >= w or bool(errors), WAIT_S)
                assert not errors, errors
                assert ok, f"bar {j} not handled"
                if not freeze:
                    mark_published()  # the monitor has read it: it was published
                for d in broker.deals():  # the account's last 24 h, collected as it goes
                    seen_deals[d.deal] = d
                if freeze:
                    # The monitor gave up waiting; nothing was answered, nothing re-sent.
                    inbox = sorted((bdir / "inbox").glob("*.json"))
                    assert len(inbox) == 1, inbox
                    # unresolved: kept by the runner, which holds nothing yet
                    assert len(runners[0].desk.unknown) == 1 and runners[0]._held is None
                    deadline = time.monotonic() + WAIT_S
                    while not {"ea_stale", "command_unanswered"} <= set(_alerts(history)):
                        assert time.monotonic() < deadline, _alerts(history)
                        time.sleep(0.01)
                    time.sleep(0.3)  # the watch keeps seeing it stale: still one alert
                    frozen_alerts = _alerts(history)
                    assert frozen_alerts.count("ea_stale") == 1, frozen_alerts
                    assert frozen_alerts.count("command_unanswered") == 1, frozen_alerts
                    assert "ea_resumed" not in frozen_alerts
                    assert len(list((bdir / "inbox").glob("*.json"))) == 1
                    in_flight = inbox[0].name
                    os.kill(proc.pid, signal.SIGCONT)
                    frozen_for = time.monotonic() - t_frozen
                    _wait((inbox_done / in_flight).exists, "not executed", proc, exe_log)
            # The scenario is over: a slow shutdown is not a stale EA.
            m.alerts.watch.stop()
            stop.set()
            th.join(WAIT_S)
            assert not errors, errors
        final_alerts = _alerts(history)  # the manager has sent everything: closed
        write_step(bdir, "stop")
        assert proc.wait(WAIT_S) == 0, exe_log.read_text(errors="replace")[-800:]
        stopped = True
    finally:
        stop.set()
        if not stopped:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
    assert frozen_for > ANSWER_S

    # Alerts: one stale episode, one unanswered command, one recovery.
    assert final_alerts.count("ea_stale") == 1, final_alerts
    assert final_alerts.count("ea_resumed") == 1, final_alerts
    assert final_alerts.count("command_unanswered") == 1, final_alerts

    # The monitor's journal: the one entry command of that bar, unknown then resolved
    # by its tag on the broker (never re-sent); no command lost.
    db = tmp_path / "journal.sqlite"
    with sqlite3.connect(db) as con:
        cmds = list(con.execute("SELECT id, tag, kind, state, message FROM live_commands"))
        fills = list(con.execute("SELECT tag, entry FROM live_fills"))
    bridge_id = in_flight.split("-", 1)[1].removesuffix(".json")
    tag = tag_for(bridge_id)  # the runner's tag travels in the bridge command's id
    (row,) = [c for c in cmds if c[1] == tag]  # one command for that signal, not re-sent
    assert row[2:] == ("market", "done", "resolved by tag"), row
    assert [c for c in cmds if c[3] != "done"] == [], cmds  # none lost or left unknown
    assert [e for t, e in fills if t == tag] == ["in", "out"]

    # The executor: every command executed once; the frozen one filled, late.
    with sqlite3.connect(bdir / "journal" / "executor.sqlite") as con:
        executed = [i for (i,) in con.execute("SELECT id FROM commands")]
    assert len(executed) == len(set(executed)) == len(cmds)
    assert sorted(tag_for(i) for i in executed) == sorted(c[1] for c in cmds)
    res = json.loads((bdir / "outbox" / f"{bridge_id}.json").read_text())
    assert res["status"] == "filled", res
    # 0 duplicate deals: one entry deal per entry command on the account.
    ins = sorted(d.comment for d in seen_deals.values() if d.entry == "in")
    assert ins == sorted(c[1] for c in cmds if c[2] == "market"), ins
    assert len(ins) == len(expected)
    # The client's journal: nothing unfinished once recovered as at a restart.
    client = BridgeClient(bdir)
    try:
        client.recover()
        assert client.unfinished() == []
    finally:
        client.close()

    # The position was adopted: every trade equals the backtest's, the frozen one too.
    (run,) = out
    got = sorted(key(t) for t in run.runner.trades)
    assert got == expected, "\n".join(["got:", *map(repr, got), "want:", *map(repr, expected)])


def _alerts(history: Path) -> list[str]:
    """The kinds of the alerts sent so far (the alert history file)."""
    if not history.exists():
        return []
    rows = history.read_text(encoding="utf-8").splitlines()
    return [json.loads(r)["kind"] for r in rows if r.strip()]
