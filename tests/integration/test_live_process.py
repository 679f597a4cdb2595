"""`mtponte replay` and `mtponte live` as real processes (the console script)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "mtponte"]


def mtp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("live")
    res = mtp("data", "synth", "--out", "win.csv", "--days", "40", "--seed", "4", cwd=d)
    assert res.returncode == 0, res.stderr
    return d / "win.csv"


def test_replay_process_matches_backtest_process(data: Path, tmp_path: Path) -> None:
    res = mtp("backtest", str(data), "--symbol", "WIN", "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = mtp("replay", str(data), "--symbol", "WIN", "--via", "paper", "--out", "rp", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rp/trades.csv").read_bytes() == (tmp_path / "bt/trades.csv").read_bytes()


def _journal(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return list(db.execute(sql))


def test_live_starts_in_log_only_mode(data: Path, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "live.toml").write_text(
        f'[feed]\npath = "{data.as_posix()}"\n', encoding="utf-8"
    )
    res = mtp("live", "--config", "conf/live.toml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "mode log_only: 0 trades" in res.stdout
    tmp_path = tmp_path / "conf"  # relative paths are the config file's
    j = tmp_path / "state" / "journal.sqlite"
    assert _journal(j, "SELECT count(*) FROM live_commands") == [(0,)]
    outcomes = {r[0] for r in _journal(j, "SELECT outcome FROM live_signals")}
    assert "log_only" in outcomes
    log = (tmp_path / "logs" / "monitor_live.log").read_text(encoding="utf-8")
    assert " | INFO | " in log and "log-only mode" in log


def test_live_trading_writes_the_seed_trade_csv(data: Path, tmp_path: Path) -> None:
    cfg = f'[runner]\nmode = "trade"\n[feed]\npath = "{data.as_posix()}"\n'
    (tmp_path / "live.toml").write_text(cfg, encoding="utf-8")
    res = mtp("live", "--config", "live.toml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    n = int(res.stdout.split(": ")[1].split()[0])
    lines = (tmp_path / "logs" / "mt5_trades.csv").read_text(encoding="utf-8").splitlines()
    assert n > 0 and len(lines) == 2 * n  # one line per entry, one per exit
    j = tmp_path / "state" / "journal.sqlite"
    assert _journal(j, "SELECT count(*) FROM live_trades") == [(n,)]


def test_bad_config_and_missing_bridge_are_one_line_errors(data: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[runner]\nmode = "yolo"\n', encoding="utf-8")
    res = mtp("live", "--config", "bad.toml", cwd=tmp_path)
    assert res.returncode == 2 and "runner.mode" in res.stderr and "Traceback" not in res.stderr
    # --via bridge runs now (tests/live/test_replay_identity.py); an unknown one is refused
    res = mtp("replay", str(data), "--via", "pigeon", "--out", "x", cwd=tmp_path)
    assert res.returncode == 2 and "paper or bridge" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
def test_kill_9_mid_trade_and_restart(data: Path, tmp_path: Path) -> None:
    """`mtponte live` killed (SIGKILL) while a position is open, then started again on
    the same paper account and journal: it resumes, adopts the position, and the trades
    of both runs together are the backtest's."""
    import csv
    import os
    import signal
    import time

    res = mtp("backtest", str(data), "--symbol", "WIN", "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with (tmp_path / "bt/trades.csv").open() as fh:
        expected = sorted(
            (float(r["entry_price"]), float(r["exit_price"]), r["exit_reason"])
            for r in csv.DictReader(fh)
        )
    (tmp_path / "live.toml").write_text(
        f'[runner]\nmode = "trade"\non_existing = "adopt"\n'
        f'[feed]\npath = "{data.as_posix()}"\nspeed = 1000000\n'
        f'[broker]\npaper_state = "state/paper.sqlite"\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [*EXE, "live", "--config", "live.toml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    paper = tmp_path / "state" / "paper.sqlite"
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        if not paper.exists():
            continue
        try:
            with sqlite3.connect(f"file:{paper}?mode=ro", uri=True, timeout=1) as db:
                n = db.execute("SELECT count(*) FROM positions").fetchone()[0]
                seen = db.execute("SELECT count(*) FROM bars").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if n and seen > 1000:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=30)
    assert killed, "the run ended before a position was open after bar 1000"

    env = {**os.environ, "MTPONTE_LIVE__FEED__SPEED": "0"}  # the rest as fast as possible
    res = subprocess.run(
        [*EXE, "live", "--config", "live.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "logs" / "monitor_live.log").read_text(encoding="utf-8")
    assert "resuming at bar" in log and "reconcile: adopted position" in log
    got = sorted(
        (float(a), float(b), c)
        for a, b, c in _journal(
            tmp_path / "state" / "journal.sqlite",
            "SELECT entry_price, exit_price, exit_reason FROM live_trades",
        )
    )
    assert got == expected
    with sqlite3.connect(paper) as db:
        entries = db.execute("SELECT count(*) FROM deals WHERE entry='in'").fetchone()[0]
    assert entries == len(expected)  # no order executed twice


def _wait_bars(paper: Path, proc: subprocess.Popen[bytes], n: int, position: bool = False) -> None:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
        try:
            with sqlite3.connect(f"file:{paper}?mode=ro", uri=True, timeout=1) as db:
                seen = db.execute("SELECT count(*) FROM bars").fetchone()[0]
                held = db.execute("SELECT count(*) FROM positions").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if seen >= n and (held or not position):
            return
    raise AssertionError(f"the run ended before bar {n}" + (" with a position" if position else ""))


def test_config_edits_and_kill_switch_while_running(data: Path, tmp_path: Path) -> None:
    """A bad edit is refused and the running values kept; a good one applies from the
    next bar; the kill switch blocks entries and leaves no position open. (That it closes
    a position still open is tested deterministically in tests/live/test_runner.py; here
    the position may reach its SL/TP before the switch is seen.)"""
    base = (
        f'[runner]\nmode = "trade"\n[feed]\npath = "{data.as_posix()}"\nspeed = 1000000\n'
        f'[broker]\npaper_state = "state/paper.sqlite"\n'
    )
    cfg = tmp_path / "live.toml"
    cfg.write_text(base, encoding="utf-8")
    proc = subprocess.Popen(
        [*EXE, "live", "--config", "live.toml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    paper = tmp_path / "state" / "paper.sqlite"
    try:
        _wait_bars(paper, proc, 500)
        cfg.write_text(base + "[risk]\nmax_trades_per_day = 0\n", encoding="utf-8")
        _wait_bars(paper, proc, 1000)
        cfg.write_text(base + "[risk]\nmax_trades_per_day = 1\n", encoding="utf-8")
        _wait_bars(paper, proc, 2500, position=True)
        (tmp_path / "KILL_SWITCH").touch()
        with sqlite3.connect(f"file:{paper}?mode=ro", uri=True, timeout=5) as db:
            entries_at_kill = db.execute("SELECT count(*) FROM deals WHERE entry='in'").fetchone()
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    j = tmp_path / "state" / "journal.sqlite"
    changes = _journal(j, "SELECT accepted, changes FROM live_config_changes ORDER BY id")
    assert [a for a, _ in changes] == [1, 0, 1]  # start, bad edit, good edit
    assert "max_trades_per_day" in str(changes[1][1]) and "greater than or equal to 1" in str(
        changes[1][1]
    )
    assert str(changes[2][1]) == '{"risk.max_trades_per_day": [null, 1]}'
    refused = _journal(j, "SELECT count(*) FROM live_signals WHERE outcome='refused: kill_switch'")
    assert refused[0][0] > 0
    with sqlite3.connect(paper) as db:
        entries = db.execute("SELECT count(*) FROM deals WHERE entry='in'").fetchone()
    # at most the one stop already working when the switch was seen could still fill
    assert entries[0] - entries_at_kill[0] <= 1
    # every position was closed while the data ran (kill switch, SL or TP), none at its end
    reasons = {r for (r,) in _journal(j, "SELECT exit_reason FROM live_trades")}
    assert "end" not in reasons
