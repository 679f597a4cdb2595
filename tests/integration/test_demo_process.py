"""`mtponte demo` end to end as a real process: the monitor trades over the file bridge
against the reference executor running as its child process, the kill switch is pulled
and released, and the trades equal the backtest's on the sessions it did not touch."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_real_system_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    args = ["demo", "--out", str(out), "--days", "40", "--copy-days", "0", "--bridge-days", "8"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtponte", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        text, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, text
    # No terminal: the dashboard degrades to plain lines, one per session.
    assert re.search(r"\[\d+/\d+\] \d{4}-\d\d-\d\d \d\d:\d\d close ", text), text
    assert re.search(r"wall time +│ \d+\.\d s", text), text

    root = out / "bridge"
    s = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    # The executor ran as a child process of the demo, the monitor in the demo itself.
    hb = json.loads((root / "mt5-files" / "state" / "python-heartbeat.json").read_text())
    assert hb["pid"] == proc.pid
    assert s["executor_pid"] not in (proc.pid, os.getpid())
    assert s["executor_exit"] == 0
    log = (root / "executor.log").read_text(encoding="utf-8")
    assert f"market stopped after {s['bars'] + s['warm_up_bars']} bars" in log
    assert s["bridge_commands"] > 0 and "execute " in log
    with sqlite3.connect(root / "mt5-files" / "journal" / "executor.sqlite") as db:
        (executed,) = db.execute("SELECT count(*) FROM commands").fetchone()
    assert executed == s["bridge_commands"]

    # The kill switch: engaged, then released (the monitor's journal), no entry meanwhile.
    with sqlite3.connect(root / "journal.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM live_alerts ORDER BY id")]
        refused = db.execute(
            "SELECT count(*) FROM live_signals WHERE outcome = 'refused: kill_switch'"
        ).fetchone()[0]
    assert kinds == ["kill_switch_on", "kill_switch_off"]
    assert refused == s["entries_refused_by_kill_switch"]
    assert s["kill_on"] is not None and s["kill_off"] is not None
    assert s["entries_while_killed"] == 0
    for t in s["kill_flattened"]:  # a position held when it was pulled: closed by it
        assert t["exit"] > s["kill_on"]

    # Identity with the backtest of the same bars, on the sessions the switch left alone.
    assert s["identity_pct"] == 100.0
    assert s["comparable_backtest_trades"] == s["comparable_live_trades"] > 0
    assert s["comparable_sessions"] == s["sessions"] - len(s["kill_sessions"]) > 0
    assert (root / "report.html").is_file() and (root / "trades.csv").is_file()
    assert s["wall_s"] > 0 and s["decision_p99_ms"] is not None and s["bridge_p99_ms"] > 0
