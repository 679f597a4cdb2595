"""The monitor's alerts hook on a short replay: journal records become alerts, the
kill-switch file is reported, Telegram commands reach the runner."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.alerting import MonitorAlerts
from mtponte.live.config import load_config
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import open_journal
from mtponte.live.replay import replay_paper
from tests.alerts.fakes import CHAT, TOKEN, fake_bot, serve


def test_replay_alerts_through_a_webhook(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []

    def handle(path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        got.append(json.loads(raw))
        return 200, {}

    bars = synth_win(days=12, seed=4)
    kill = tmp_path / "KILL"
    with serve(handle) as url:
        cfg = load_config(
            None,
            {
                "runner": {"mode": "trade"},
                "risk": {"kill_switch_file": str(kill), "max_trades_per_day": 1},
                "alerts": {"log": False, "language": "en", "webhook": {"url": url}},
            },
        )
        journal = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
        journal.start_run("trade", "paper", "replay", "WIN", {})
        alerts = MonitorAlerts(cfg, journal, tmp_path)
        cut = bars.time[len(bars) * 3 // 4]

        def on_event(ev: BarEvent) -> None:
            if ev.bar.time.timestamp() >= cut and not kill.exists():
                kill.write_text("x")
            alerts.on_bar()

        run = replay_paper(bars, WIN, cfg, journal, on_event=on_event)
        alerts.close()
        journal.close()
    kinds = [g["kind"] for g in got]
    assert run.trades
    assert kinds.count("fill") == len(run.trades) == kinds.count("exit")
    assert kinds.count("kill_switch") == 1
    assert kinds.count("rejection") >= 1  # max_trades and others
    assert all(g["text"] for g in got)


def test_telegram_commands_reach_the_runner(tmp_path: Path) -> None:
    bars = synth_win(days=3, seed=4)
    kill = tmp_path / "KILL"
    with fake_bot() as bot:
        cfg = load_config(
            None,
            {
                "runner": {"mode": "trade"},
                "risk": {"kill_switch_file": str(kill)},
                "alerts": {
                    "log": False,
                    "language": "en",
                    "events": ["kill_switch"],
                    "telegram": {
                        "bot_token": TOKEN,
                        "chat_id": CHAT,
                        "base_url": bot.url,
                        "min_interval_s": 0,
                        "commands": True,
                        "poll_timeout_s": 0,
                    },
                },
            },
        )
        alerts = MonitorAlerts(cfg, None, tmp_path)
        seen: dict[str, Any] = {}

        def on_start(runner: Any) -> None:
            alerts.on_start(runner)
            seen["runner"] = runner
            bot.update("/pause")
            _wait(lambda: not runner.trading)
            bot.update("/status")
            bot.update("/kill")
            _wait(lambda: "confirm" in bot.messages[-1]["text"] if bot.messages else False)
            code = bot.messages[-1]["text"].split("/confirm ")[1].split()[0]
            bot.update(f"/confirm {code}")
            _wait(kill.exists)
            bot.update("/resume")
            _wait(lambda: runner.trading)

        replay_paper(bars, WIN, cfg, None, on_event=alerts.on_bar, on_start=on_start)
        alerts.close()
    texts = [m["text"] for m in bot.messages]
    assert texts[0].startswith("paused") and "bars" in texts[1]
    assert any(t.startswith("KILL SWITCH ON") for t in texts)
    assert any("Kill switch ON" in t for t in texts)  # the alert of the file appearing
    assert seen["runner"].trading


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_health_watch_ea_stale_and_feed_stalled(tmp_path: Path) -> None:
    from mtponte.alerts import AlertManager
    from mtponte.live.alerting import HealthWatch
    from tests.ops.test_supervisor import Capture

    cap = Capture()
    mgr = AlertManager([cap])
    cfg = load_config(
        None,
        {
            "broker": {"kind": "bridge", "bridge_dir": str(tmp_path)},
            "alerts": {"ea_stale_s": 30, "feed_stall_s": 600},
        },
    )
    now = [1_000_000.0]
    w = HealthWatch(mgr, cfg, clock=lambda: now[0])
    w.check()  # no heartbeat file yet: nothing to say
    (tmp_path / "state").mkdir()
    hb = tmp_path / "state" / "heartbeat.json"
    hb.write_text(json.dumps({"time": int((now[0] - 10) * 1000)}))
    w.check()
    hb.write_text(json.dumps({"time": int((now[0] - 45) * 1000)}))
    w.check()
    w.check()  # still stale: no second alert
    hb.write_text(json.dumps({"time": int(now[0] * 1000)}))
    w.check()
    now[0] += 700  # no bar for 700 s, and the EA silent again
    w.check()
    w.bar_seen()
    w.check()
    mgr.close()
    kinds = [a.kind.value for a in cap.got]
    # each episode once, and its recovery once
    assert kinds == ["ea_stale", "ea_resumed", "ea_stale", "feed_stalled", "feed_resumed"]
    assert cap.got[0].fields["age_s"] == "45"


def test_health_watch_no_false_stale_when_the_check_is_delayed(tmp_path: Path) -> None:
    """The EA rewrites its heartbeat while the watch's check is held up (a busy
    machine): the age is taken against the "now" of before the read, so a fresh
    heartbeat never reads as stale."""
    from mtponte.alerts import AlertManager
    from mtponte.live.alerting import HealthWatch
    from tests.ops.test_supervisor import Capture

    cap = Capture()
    mgr = AlertManager([cap])
    cfg = load_config(
        None,
        {"broker": {"kind": "bridge", "bridge_dir": str(tmp_path)}, "alerts": {"ea_stale_s": 30}},
    )
    (tmp_path / "state").mkdir()
    hb = tmp_path / "state" / "heartbeat.json"
    now = [1_000_000.0]
    hb.write_text(json.dumps({"time": int(now[0] * 1000)}))

    def delayed() -> float:  # 100 s pass while the check runs; the EA stays on time
        now[0] += 100
        hb.write_text(json.dumps({"time": int(now[0] * 1000)}))
        return now[0]

    w = HealthWatch(mgr, cfg, clock=delayed)
    for _ in range(3):
        w.check()
    mgr.close()
    assert [a.kind.value for a in cap.got] == []


def test_a_tripped_guard_sends_a_divergence_alert(tmp_path: Path) -> None:
    """Issue 12's daily guard journals its trip; the alerts hook sends it (once)."""
    from mtponte.alerts.events import AlertKind
    from mtponte.live.alerting import JournalAlerts

    sent: list[Any] = []

    class Manager:
        def emit(self, alert: Any) -> None:
            sent.append(alert)

    cfg = load_config(None, {"risk": {"kill_switch_file": None}})
    journal = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    journal.start_run("trade", "paper", "replay", "WIN", {})
    journal.listeners.append(JournalAlerts(Manager(), cfg))  # type: ignore[arg-type]
    journal.alert("guard_tripped", "GUARD TRIPPED: identity 60% < 90%", {"identity": 0.6})
    journal.alert("guard_reset", "guard reset", {})
    journal.close()
    assert [a.kind for a in sent] == [AlertKind.DIVERGENCE]
    assert "identity 60%" in sent[0].fields["detail"]


def test_the_feed_stall_clock_starts_when_trading_starts(tmp_path: Path) -> None:
    """A slow start (connect, warm-up, reconcile) is not a stalled feed."""
    from mtponte.live.alerting import MonitorAlerts

    cfg = load_config(None, {"alerts": {"feed_stall_s": 600, "watch_every_s": 3600}})
    m = MonitorAlerts(cfg, None, logs_dir=tmp_path)
    try:
        now = [1_000_000.0]
        m.watch._clock = lambda: now[0]
        m.watch._last_bar = now[0]
        now[0] += 900  # the start took 15 minutes
        m.on_start(object())
        now[0] += 60
        m.watch.check()
        assert not m.watch._feed_bad
        now[0] += 600  # and then no bar for 11 minutes: stalled
        m.watch.check()
        assert m.watch._feed_bad
    finally:
        m.close()
