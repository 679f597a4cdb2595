"""Scenario tests of the monitor as real processes (issue 9, the seed's phase 3): a
news-spike bar and the daily loss limit reached mid-session. (Feed stalling and the mt5
path: test_live_mt5_process.py; kill -9, kill switch, config edits:
test_live_process.py; the opening gap through the stop in-process with a strict server:
tests/live/test_gap_stop.py.) Also the opening gap through the bridge and executor
processes, and a contract roll day."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mtponte.domain.bars import Bars

EXE = [sys.executable, "-m", "mtponte"]
EPS = 1e-9


def mtp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("scen")
    res = mtp("data", "synth", "--out", "win.csv", "--days", "30", "--seed", "4", cwd=d)
    assert res.returncode == 0, res.stderr
    return d / "win.csv"


def _utc(value: object) -> datetime:
    t = datetime.fromisoformat(str(value))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _journal(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return list(db.execute(sql))


def test_news_spike_bar_is_traded_exactly_as_the_backtest(data: Path, tmp_path: Path) -> None:
    """A bar ~25 times the usual range in the middle of a session (a news release; the
    market stays at the new level for the rest of the day). The signal's SL is
    sl_atr × ATR (ATR including the spike), so signal validation (max_sl_atr) lets it
    through at the backtest's size: replay == backtest byte for byte, the spike's
    signal journaled as sent with every rule allowing it, one entry per trade."""
    rows = rows_of(data)
    ranges = sorted(float(r["high"]) - float(r["low"]) for r in rows)
    typical = ranges[len(ranges) // 2]
    # the 7th bar of the 5th session (09:30 local), bullish
    days = sorted({r["time"][:10] for r in rows})
    day = [i for i, r in enumerate(rows) if r["time"].startswith(days[4])]
    k = day[6]
    o = float(rows[k - 1]["close"])
    jump = round(25 * typical / 5) * 5  # WIN tick 5
    rows[k].update(open=str(o), low=str(o - 5), close=str(o + jump), high=str(o + jump + 5))
    for c in ("real_volume", "tick_volume"):  # news trades heavy
        rows[k][c] = str(10 * max(float(r[c]) for r in rows[k - 30 : k]))
    for i in day[7:]:  # the rest of the day trades at the new level
        for c in ("open", "high", "low", "close"):
            rows[i][c] = str(float(rows[i][c]) + jump)
    # and the next bar goes on up through the spike's high: the long stop triggers
    rows[k + 1]["high"] = str(max(float(rows[k + 1]["high"]), o + jump + 20))
    spiky = tmp_path / "spike.csv"
    with spiky.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = mtp("backtest", str(spiky), "--symbol", "WIN", "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = mtp(
        "replay", str(spiky), "--symbol", "WIN", "--via", "paper", "--out", "rp", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rp/trades.csv").read_bytes() == (tmp_path / "bt/trades.csv").read_bytes()
    j = tmp_path / "rp" / "journal.sqlite"
    spike_t = datetime.fromisoformat(rows[k]["time"])
    sigs = [
        (sid, o_)
        for sid, t, o_ in _journal(j, "SELECT id, setup_time, outcome FROM live_signals")
        if _utc(t) == spike_t
    ]
    assert len(sigs) == 1, "the spike bar is an elephant: one signal"
    sid, outcome = sigs[0]
    assert outcome == "sent"
    rules = _journal(
        j, f"SELECT rule, allowed, reason FROM live_risk_decisions WHERE signal_id = {sid}"
    )
    assert {r for r, _, _ in rules} >= {"signal", "daily_loss", "one_position"}
    assert all(a == 1 for _, a, _ in rules), rules
    bt = rows_of(tmp_path / "bt/trades.csv")
    after = [t for t in bt if datetime.fromisoformat(t["entry_time"]) > spike_t]
    assert after and datetime.fromisoformat(after[0]["entry_time"]) == datetime.fromisoformat(
        rows[k + 1]["time"]
    )  # the backtest took the spike's trade too, at the same size
    assert float(after[0]["volume"]) == float(bt[0]["volume"])
    entries = _journal(j, "SELECT count(*) FROM live_fills WHERE entry='in'")[0][0]
    assert entries == len(bt)  # no order executed twice, none lost


def test_daily_loss_limit_reached_mid_session(data: Path, tmp_path: Path) -> None:
    """With a daily loss limit, the trades are the backtest's until the day's realised
    P&L reaches −limit; the day's later signals are refused (journaled with rule and
    reason), one daily_loss alert per such day, and trading resumes the next day."""
    res = mtp("backtest", str(data), "--symbol", "WIN", "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    bt = rows_of(tmp_path / "bt/trades.csv")
    by_day: dict[str, list[dict[str, str]]] = defaultdict(list)
    for t in bt:
        by_day[t["entry_time"][:10]].append(t)
    losers = [
        -float(ts[0]["pnl_money"])
        for ts in by_day.values()
        if len(ts) >= 2 and float(ts[0]["pnl_money"]) < 0
    ]
    assert losers, "no day with a losing first trade and a later one"
    limit = min(losers)
    want, blocked_days = [], set()
    for d, ts in sorted(by_day.items()):
        pnl = 0.0
        for t in ts:
            if pnl <= -limit + EPS:
                blocked_days.add(d)
                continue
            want.append(t)
            pnl += float(t["pnl_money"])
    assert 0 < len(want) < len(bt)
    (tmp_path / "live.toml").write_text(
        f'[risk]\ndaily_loss_limit = {limit!r}\n[alerts]\nlanguage = "en"\n', encoding="utf-8"
    )
    res = mtp(
        "replay", str(data), "--symbol", "WIN", "--via", "paper", "--config", "live.toml",
        "--out", "rp", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = rows_of(tmp_path / "rp/trades.csv")
    assert got == want
    j = tmp_path / "rp" / "journal.sqlite"
    refused = _journal(
        j,
        "SELECT s.bar_time, d.reason FROM live_signals s JOIN live_risk_decisions d"
        " ON d.signal_id = s.id WHERE s.outcome = 'refused: daily_loss'"
        " AND d.rule = 'daily_loss' AND d.allowed = 0",
    )
    assert refused and all("reached the limit" in str(r) for _, r in refused)
    alerts = [
        json.loads(x)
        for x in (tmp_path / "rp/logs/alerts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    loss = [a for a in alerts if a["kind"] == "daily_loss"]
    tz = datetime.fromisoformat(bt[0]["entry_time"]).tzinfo
    refused_days = {_utc(t).astimezone(tz).date().isoformat() for t, _ in refused}
    assert len(loss) == len(refused_days)  # once per day, not per refused signal
    assert blocked_days <= refused_days
    entries = _journal(j, "SELECT count(*) FROM live_fills WHERE entry='in'")[0][0]
    assert entries == len(want)


def _write(bars: Bars, path: Path) -> Path:
    from mtponte.data import save_bars_csv

    save_bars_csv(bars, path)
    return path


def test_opening_gaps_through_the_stop_via_the_bridge_process(tmp_path: Path) -> None:
    """Opens that jump past the pending stop, replayed through the file bridge to the
    executor process: every gap entry fills at the open, as the backtest's fill model
    says, and the trades are the backtest's (the refusal of an already-passed stop by a
    strict server is tested in-process: tests/live/test_gap_stop.py)."""
    from tests.live.test_gap_stop import gappy

    bars = gappy()
    data = _write(bars, tmp_path / "gap.csv")
    res = mtp("backtest", str(data), "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = mtp("replay", str(data), "--via", "bridge", "--out", "rb", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    bt, rb = (tmp_path / "bt/trades.csv").read_bytes(), (tmp_path / "rb/trades.csv").read_bytes()
    assert bt == rb and bt.count(b"\n") > 10
    opens = {int(t): float(o) for t, o in zip(bars.time, bars.open, strict=True)}
    at_open = [
        r
        for r in rows_of(tmp_path / "rb/trades.csv")
        if opens[int(datetime.fromisoformat(r["entry_time"]).timestamp())]
        == float(r["entry_price"])
    ]
    assert len(at_open) >= 3  # the gap case happened
    with sqlite3.connect(tmp_path / "rb/mt5-files/journal/executor.sqlite") as db:
        states = {s for (s,) in db.execute("SELECT state FROM commands")}
    assert states == {"done"}  # every command executed once, none left unfinished


def test_contract_roll_day_as_a_process(tmp_path: Path) -> None:
    """A replay across WINZ25's roll (expiry Wed 2025-12-17, rolled two sessions
    before): orders on WINZ25 until Mon 12-15, on WING26 from Tue 12-16, the switch
    journaled, and the trades the backtest's of the continuous series."""
    from datetime import date

    from mtponte.data import synth_win

    data = _write(synth_win(days=15, seed=3, start=date(2025, 12, 1)), tmp_path / "win.csv")
    (tmp_path / "roll.toml").write_text(
        '[session]\ncalendar = "b3"\nroll = "rule"\nroll_sessions_before = 2\n', encoding="utf-8"
    )
    res = mtp("backtest", str(data), "--out", "bt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = mtp("replay", str(data), "--config", "roll.toml", "--out", "rp", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rp/trades.csv").read_bytes() == (tmp_path / "bt/trades.csv").read_bytes()
    with sqlite3.connect(tmp_path / "rp/journal.sqlite") as db:
        symbols = {s for (s,) in db.execute("SELECT symbol FROM live_commands")}
        notes = [n for (n,) in db.execute("SELECT note FROM live_heartbeats") if "roll:" in n]
    assert symbols == {"WINZ25", "WING26"}
    assert len(notes) == 2 and "WINZ25 -> WING26" in notes[1] and "2025-12-16" in notes[1]
