"""MUST SHOW: on a clean replay identity is 100% and every metric is computed; on replays
with one injected fault each, the report finds every divergence and names its cause."""

from __future__ import annotations

from pathlib import Path

from mtponte.domain import WIN, Bars
from mtponte.domain.orders import Trade
from mtponte.live.journal.reader import read_live
from mtponte.reports.compare import CompareReport, compare_runs
from mtponte.strategies.params import ElephantParams
from tests.reports.conftest import Faults, live_config, run_replay, shifted, without


def _report(data: Bars, out: Path) -> CompareReport:
    return compare_runs(read_live(out), data, WIN, ElephantParams())


def _unmatched(rep: CompareReport) -> list[tuple[str, str]]:
    return [(p.status, p.cause) for p in rep.unmatched()]


def test_clean_replay_is_identical(data: Bars, tmp_path: Path, bt_trades: list[Trade]) -> None:
    rep = _report(data, run_replay(data, tmp_path))
    m = rep.metrics
    assert m["backtest_trades"] == len(bt_trades) == m["live_trades"] > 10
    assert m["identity"] == 1.0 and not rep.unmatched() and not rep.bar_diffs
    assert m["slippage_mean_abs_points"] == 0.0 and m["pnl_divergence"] == 0.0
    assert m["latency_s"]["n"] > 0 and m["latency_s"]["max"] < 1.0
    assert m["uptime"] == 1.0
    assert m["sharpe_backtest"] > 0 and m["sharpe_ratio"] == 1.0 and m["pnl_ratio"] == 1.0
    assert all(c["pass"] is True for c in rep.checks.values()), rep.checks
    # the trades.csv alone gives the same identity
    from mtponte.backtest.report import write_trades_csv
    from mtponte.live.journal.reader import read_journal

    rec = read_journal(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    write_trades_csv(rec.trades, tmp_path / "trades.csv", data.timezone)
    rep2 = compare_runs(read_live(tmp_path / "trades.csv"), data, WIN, ElephantParams())
    assert rep2.metrics["identity"] == 1.0


def test_slippage_is_found_on_every_trade(data: Bars, tmp_path: Path) -> None:
    rep = _report(data, run_replay(data, tmp_path, Faults(slippage_ticks=2)))
    assert rep.metrics["identity"] == 0.0
    assert all(p.status == "mismatched" for p in rep.pairs)
    assert all("entry +10 points worse than the backtest (slippage)" in p.cause for p in rep.pairs)
    assert all(r["entry_points"] == 10.0 for r in rep.slippage)
    assert rep.metrics["slippage_entry_mean_points"] == 10.0
    assert rep.checks["slippage"]["pass"] is False and rep.checks["identity"]["pass"] is False


def test_dropped_command_is_named(data: Bars, tmp_path: Path, bt_trades: list[Trade]) -> None:
    victim = bt_trades[5]
    rep = _report(data, run_replay(data, tmp_path, Faults(drop=(victim.entry_time,))))
    missed = [p for p in rep.pairs if p.status == "missed"]
    assert [p.backtest for p in missed] == [victim]
    assert missed[0].cause.startswith("stop command lost: no answer from the broker")
    assert all(p.cause for p in rep.unmatched())
    # anything else that differs is an entry the backtest did not take (it was in the trade)
    assert {s for s, _ in _unmatched(rep)} <= {"missed", "extra"}


def test_rejected_order_is_named(data: Bars, tmp_path: Path, bt_trades: list[Trade]) -> None:
    victim = bt_trades[8]
    rep = _report(data, run_replay(data, tmp_path, Faults(reject=(victim.entry_time,))))
    missed = [p for p in rep.pairs if p.status == "missed"]
    assert [p.backtest for p in missed] == [victim]
    assert missed[0].cause == (
        "stop order rejected by the broker (retcode 10019: not enough money)"
    )
    assert rep.metrics["identity"] < 1.0


def test_risk_refusal_is_named(data: Bars, tmp_path: Path) -> None:
    out = run_replay(data, tmp_path, cfg=live_config(max_trades_per_day=1))
    rep = _report(data, out)
    missed = [p for p in rep.pairs if p.status == "missed"]
    assert missed, "the limit should refuse some of the backtest's entries"
    assert all(p.cause.startswith("signal refused by risk rule max_trades") for p in missed)


def test_feed_gap_is_named(data: Bars, tmp_path: Path, bt_trades: list[Trade]) -> None:
    gap = bt_trades[3].entry_time
    rep = _report(data, run_replay(data, tmp_path, Faults(bars=lambda b: without(b, gap))))
    assert [(d.time, d.kind) for d in rep.bar_diffs] == [(gap, "missing")]
    bad = rep.unmatched()
    assert bad and any(p.backtest == bt_trades[3] for p in bad)
    assert all(p.cause.startswith(f"bar {gap.isoformat()} missing") for p in bad), _unmatched(rep)


def test_changed_bar_is_named(data: Bars, tmp_path: Path, bt_trades: list[Trade]) -> None:
    t = bt_trades[10]
    # the entry bar seen live lies far from the stop: it cannot fill
    by = -3000.0 * int(t.side)
    rep = _report(
        data, run_replay(data, tmp_path, Faults(bars=lambda b: shifted(b, t.entry_time, by)))
    )
    assert [(d.time, d.kind) for d in rep.bar_diffs] == [(t.entry_time, "changed")]
    bad = rep.unmatched()
    assert any(p.backtest == t and p.status == "missed" for p in bad)
    assert all(p.cause.startswith(f"bar {t.entry_time.isoformat()} changed") for p in bad)
    assert rep.metrics["identity"] < 1.0


def test_uptime_counts_minutes_without_a_fresh_heartbeat(data: Bars) -> None:
    from datetime import UTC, datetime, timedelta

    from mtponte.reports._metrics import uptime

    # a live run over the first session's bars: a sign of life every minute, except a
    # 30-minute outage; fresh = 2 bars + 60 s = 11 minutes: minutes 50..68 are down
    # (the one ending at 70 sees the heartbeat at 70)
    start = datetime.fromtimestamp(int(data.time[0]), tz=UTC)
    life = [start + timedelta(minutes=k) for k in range(100) if not 40 <= k < 70]
    up = uptime(life, data, 300, 660.0)
    assert up == 0.81
    assert uptime(life[:40], data, 300, 660.0) == 1.0
    assert uptime([], data, 300, 660.0) is None
