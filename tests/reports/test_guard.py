"""The daily guard: a replay whose live trades diverge trips it (close-only: no new entry
after it, exits still managed); removing the flag (a human's reset) restores trading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.domain import WIN, Bars
from mtponte.domain.orders import Trade
from mtponte.live.config import load_config
from mtponte.live.journal.models import AlertRow
from mtponte.live.journal.reader import read_journal
from mtponte.live.journal.store import make_engine
from mtponte.reports.compare import compare_runs
from tests.reports.conftest import Faults, run_replay


def test_divergence_trips_close_only_and_reset_restores(
    data: Bars, bt_trades: list[Trade], tmp_path: Path
) -> None:
    flag = tmp_path / "GUARD_TRIPPED"
    cfg = load_config(
        None,
        {
            "runner": {"mode": "trade"},
            "risk": {"kill_switch_file": None},
            "guard": {"enabled": True, "flag_file": str(flag), "min_trades": 4},
        },
    )
    # the broker rejects two of the backtest's first five entries: identity 60% < 90%
    faults = Faults(reject=(bt_trades[1].entry_time, bt_trades[3].entry_time))
    seen: dict[str, Any] = {"after_trip": 0}

    def human(ev: Any) -> None:
        if flag.exists():
            seen.setdefault("trip", ev.bar.time)
            seen["after_trip"] += 1
            if seen["after_trip"] == 400:  # ~3.5 sessions later a human resets it
                flag.unlink()
                seen["reset"] = ev.bar.time

    run_replay(data, tmp_path, faults, cfg=cfg, on_event=human)
    assert "trip" in seen and "reset" in seen
    trip, reset = seen["trip"], seen["reset"]
    rec = read_journal(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    entries = [t.entry_time for t in rec.trades]
    assert not [t for t in entries if trip <= t <= reset], "no new entry while close-only"
    assert [t for t in entries if t > reset], "trading resumes after the reset"
    assert any(s.outcome == "refused: guard" for s in rec.signals)
    blocked = [s for s in rec.signals if trip <= s.bar_time < reset and s.outcome == "sent"]
    assert blocked == []
    # every trade entered before the trip was closed by the market (exits still managed)
    assert all(t.exit_time >= t.entry_time for t in rec.trades)
    engine = make_engine(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    with engine.connect() as conn:
        alerts = conn.execute(select(AlertRow.kind, AlertRow.message, AlertRow.data)).all()
    engine.dispose()
    assert [a[0] for a in alerts] == ["guard_tripped", "guard_reset"]
    assert alerts[0][1].startswith("GUARD TRIPPED: live diverges from the backtest")
    numbers = json.loads(alerts[0][2])
    assert numbers["identity"] < 0.9 and numbers["backtest_trades"] >= 4
    # the report names the guard as the reason of the trades missed while close-only
    rep = compare_runs(rec, data, WIN, cfg.strategy)
    causes = {p.cause for p in rep.pairs if p.status == "missed"}
    assert "signal refused by risk rule guard" in causes


def test_guard_cli_shows_and_resets(tmp_path: Path) -> None:
    (tmp_path / "live.toml").write_text('[guard]\nflag_file = "G"\n', encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["guard", "--config", str(tmp_path / "live.toml")])
    assert res.exit_code == 0 and "not tripped" in res.output
    (tmp_path / "G").write_text(json.dumps({"identity": 0.5}), encoding="utf-8")
    res = runner.invoke(app, ["guard", "--config", str(tmp_path / "live.toml")])
    assert res.exit_code == 1 and "TRIPPED" in res.output
    res = runner.invoke(app, ["guard", "--config", str(tmp_path / "live.toml"), "--reset"])
    assert res.exit_code == 0 and not (tmp_path / "G").exists()


def test_close_only_still_manages_the_open_position(data: Bars, tmp_path: Path) -> None:
    from mtponte.brokers.paper import PaperBroker
    from mtponte.live.replay import ReplayClock, replay_paper

    flag = tmp_path / "GUARD_TRIPPED"
    cfg = load_config(
        None,
        {
            "runner": {"mode": "trade"},
            "risk": {"kill_switch_file": None},
            "guard": {"enabled": True, "flag_file": str(flag), "min_trades": 1000},
        },
    )
    clock = ReplayClock()
    broker = PaperBroker(":memory:", symbols=[WIN], currency=WIN.currency, clock=clock)
    seen: dict[str, Any] = {}

    def trip_mid_trade(ev: Any) -> None:
        # the flag is the guard's state: written while a position is open = tripped there
        if "trip" not in seen and broker.positions():
            flag.write_text("{}", encoding="utf-8")
            seen["trip"] = ev.bar.time

    run = replay_paper(data, WIN, cfg, broker=broker, clock=clock, on_event=trip_mid_trade)
    trip = seen["trip"]
    held = [t for t in run.trades if t.entry_time <= trip < t.exit_time]
    assert len(held) == 1, "the position open at the trip is closed by its SL/TP/flat exit"
    assert held[0].exit_reason.value in ("sl", "tp", "flat")
    assert [t for t in run.trades if t.entry_time > trip] == [], "no entry while close-only"
    assert flag.exists()
