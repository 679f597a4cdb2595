"""`mtponte live` on the mt5 feed and the mt5 broker, as a real process, with the
package-shaped simulator (`mtponte.brokers._mt5simmarket`, a market moving one bar per
poll) injected in place of `MetaTrader5` (issue 9): trades == the backtest's."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtponte.data.loaders import load_bars
from mtponte.domain import WIN

EXE = [sys.executable, "-m", "mtponte"]
WARM = 60


def _key_bt(r: dict[str, str]) -> tuple[str, float, float, str]:
    t = datetime.fromisoformat(r["entry_time"]).astimezone(UTC)
    return (t.strftime("%Y-%m-%d %H:%M"), float(r["entry_price"]), float(r["exit_price"]),
            r["exit_reason"])  # fmt: skip


def _backtest(tmp_path: Path, mode: str) -> list[tuple[str, float, float, str]]:
    """Synthetic WIN M5 in tmp_path/win.csv; the backtest's trades after the warm-up."""
    res = subprocess.run(
        [*EXE, "data", "synth", "--out", "win.csv", "--days", "6", "--seed", "12"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [*EXE, "backtest", "win.csv", "--symbol", "WIN", "--out", "bt",
         "--set", f"entry_mode={mode}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    bars = load_bars(tmp_path / "win.csv", timezone=WIN.timezone)
    start = datetime.fromtimestamp(int(bars.time[WARM]), tz=UTC)
    with (tmp_path / "bt/trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return sorted(
        _key_bt(r) for r in rows if datetime.fromisoformat(r["entry_time"]).astimezone(UTC) >= start
    )


def _run_live_mt5(
    tmp_path: Path, mode: str, extra_toml: str = "", extra_env: dict[str, str] | None = None
) -> tuple[str, str]:
    """`mtponte live` on the simulated terminal until its market has shown every bar."""
    (tmp_path / "live.toml").write_text(
        'symbol = "WIN"\nserver_timezone = "America/Sao_Paulo"\n'
        '[runner]\nmode = "trade"\nallow_real_account = true\n'
        f'[strategy]\nentry_mode = "{mode}"\n'
        '[risk]\nkill_switch_file = "KILL_SWITCH"\n'
        f'[feed]\nkind = "mt5"\ntimeframe = "M5"\npoll_s = 0.001\ncount = {WARM + 5}\n'
        '[broker]\nkind = "mt5"\n' + extra_toml,
        encoding="utf-8",
    )
    done = tmp_path / "market.done"
    env = {
        **os.environ,
        "MTPONTE_MT5_MODULE": "mtponte.brokers._mt5simmarket:from_env",
        "MTPONTE_MT5SIM_BARS": str(tmp_path / "win.csv"),
        "MTPONTE_MT5SIM_SYMBOL": "WIN",
        "MTPONTE_MT5SIM_WARM": str(WARM),
        "MTPONTE_MT5SIM_DONE": str(done),
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [*EXE, "live", "--config", "live.toml"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not done.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.exists(), "the simulated market did not reach its last bar"
        time.sleep(0.5)  # the monitor handles the last closed bar
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped after" in out and "Traceback" not in err
    return out, err


def _journal_trades(tmp_path: Path) -> list[tuple[str, float, float, str]]:
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite") as db:
        rows = list(
            db.execute("SELECT entry_time, entry_price, exit_price, exit_reason FROM live_trades")
        )
    return sorted(
        (datetime.fromisoformat(t).replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M"), a, b, c)
        for t, a, b, c in rows
    )


@pytest.mark.skipif(sys.platform == "win32", reason="stops the monitor with SIGTERM")
@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_live_mt5_through_the_simulated_terminal_trades_like_the_backtest(
    tmp_path: Path, mode: str
) -> None:
    want = _backtest(tmp_path, mode)
    assert len(want) >= 3
    _run_live_mt5(tmp_path, mode)
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite") as db:
        kinds = {r[0] for r in db.execute("SELECT feed || '/' || broker FROM live_runs")}
        entries = db.execute(
            "SELECT count(*) FROM live_commands WHERE kind IN ('stop', 'market') AND state = 'done'"
        ).fetchone()[0]
    assert kinds == {"mt5/mt5"}
    got = _journal_trades(tmp_path)
    assert got == want, "\n".join(["got:", *map(repr, got), "want:", *map(repr, want)])
    assert entries >= len(want)


@pytest.mark.skipif(sys.platform == "win32", reason="stops the monitor with SIGTERM")
def test_feed_stall_alerts_once_then_recovers_and_trades_nothing_meanwhile(
    tmp_path: Path,
) -> None:
    """Scenario (issue 9): the terminal's bars stop for > N bar lengths (here a 6 s
    pause for a 2 s stall limit). One feed_stalled alert, one feed_resumed alert after
    it, no command while stalled, and the trades are still the backtest's. (A stall limit
    of 2 s, well above the monitor's own pauses on a loaded machine.)"""
    want = _backtest(tmp_path, "stop")
    stall_at = WARM + 200
    _run_live_mt5(
        tmp_path,
        "stop",
        '[alerts]\nfeed_stall_s = 2.0\nwatch_every_s = 0.05\nlanguage = "en"\n',
        {"MTPONTE_MT5SIM_PAUSE": f"{stall_at}:6"},
    )
    lines = (tmp_path / "logs" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    health = [json.loads(x) for x in lines]
    health = [a for a in health if a["kind"] in ("feed_stalled", "feed_resumed")]
    assert [a["kind"] for a in health] == ["feed_stalled", "feed_resumed"], health
    t0, t1 = (datetime.fromisoformat(a["time"]) for a in health)
    assert (t1 - t0).total_seconds() >= 3.0
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite") as db:
        made = [
            datetime.fromisoformat(t).replace(tzinfo=UTC)
            for (t,) in db.execute("SELECT created_at FROM live_commands")
        ]
        seen = [
            datetime.fromisoformat(t).replace(tzinfo=UTC)
            for (t,) in db.execute("SELECT seen_at FROM live_bars")
        ]
    # the market stood still from ~2 s before t0 to ~4 s after it: nothing decided then
    quiet = t0 + timedelta(seconds=3)
    assert made and not [m for m in made if t0 < m < quiet]
    assert not [s for s in seen if t0 < s < quiet]  # and no bar handled
    assert [s for s in seen if s > t1]  # the bars came back
    got = _journal_trades(tmp_path)
    assert got == want, "\n".join(["got:", *map(repr, got), "want:", *map(repr, want)])
