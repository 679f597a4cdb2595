"""Adjust without restarting: a changed file is validated, applied from the next bar
and journaled; an invalid one is refused and the running values kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.config import (
    ConfigWatcher,
    config_diff,
    load_config,
    needs_restart,
    resolve_paths,
)
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import open_journal
from mtponte.live.journal.models import ConfigChange, SignalRow
from mtponte.live.replay import replay_paper

BASE = '[runner]\nmode = "trade"\n[risk]\nkill_switch_file = "none-here"\n'


def write(path: Path, text: str) -> None:
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(old + 10_000_000, old + 10_000_000))  # a visible change


def test_diff_and_what_needs_a_restart(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    write(f, BASE)
    a = load_config(f)
    write(f, BASE + "max_trades_per_day = 2\n[strategy]\nsl_atr = 1.0\n")
    b = load_config(f)
    diff = config_diff(a, b)
    assert diff == {"risk.max_trades_per_day": (None, 2), "strategy.sl_atr": (2.0, 1.0)}
    assert needs_restart(diff) == ["strategy.sl_atr"]


def test_watcher_reports_changes_and_problems(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    write(f, BASE)
    w = ConfigWatcher(f)
    assert w.poll() is None
    write(f, BASE + "daily_loss_limit = 100.0\n")
    new = w.poll()
    assert not isinstance(new, list) and new is not None
    assert new.risk.daily_loss_limit == 100.0
    assert new.risk.kill_switch_file == tmp_path / "none-here"
    write(f, '[runner]\nmode = "yolo"\n')
    assert w.poll() == ["runner.mode: Input should be 'log_only' or 'trade' (got 'yolo')"]
    assert w.poll() is None


def test_changes_while_running(tmp_path: Path) -> None:
    bars = synth_win(days=30, seed=9)
    f = tmp_path / "live.toml"
    write(f, BASE)
    cfg = resolve_paths(load_config(f), tmp_path)  # as `mtponte live` does
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run("trade", "paper", "replay", "WIN", {})
    third = len(bars) // 3

    def edit(ev: BarEvent) -> None:
        if ev.bar.time.timestamp() == bars.time[third]:
            write(f, BASE + "max_trades_per_day = 1\n[strategy]\nsl_atr = 1.0\n")  # refused
        elif ev.bar.time.timestamp() == bars.time[third + 1]:
            write(f, BASE + "max_trades_per_day = 1\n")  # applied
        elif ev.bar.time.timestamp() == bars.time[2 * third]:
            write(f, BASE + "max_trades_per_day = 0\n")  # invalid: refused, kept

    run = replay_paper(bars, WIN, cfg, j, on_event=edit, watcher=ConfigWatcher(f))
    j.flush()
    rows = j._conn.execute(select(ConfigChange.accepted, ConfigChange.changes)).all()
    assert [r.accepted for r in rows] == [False, True, False]
    assert json.loads(rows[0].changes)["needs_restart"] == ["strategy.sl_atr"]
    assert json.loads(rows[1].changes) == {"risk.max_trades_per_day": [None, 1]}
    assert "risk.max_trades_per_day" in json.loads(rows[2].changes)["problems"][0]
    assert run.runner.cfg.risk.max_trades_per_day == 1 and run.runner.cfg.strategy.sl_atr == 2.0
    later = [t for t in run.trades if t.entry_time.timestamp() > bars.time[third + 1]]
    days = [t.entry_time.date() for t in later]
    assert later and len(days) == len(set(days))  # the applied limit held to the end
    outcomes = {r[0] for r in j._conn.execute(select(SignalRow.outcome)).all()}
    assert "refused: max_trades" in outcomes
    j.close()
