"""Live decision latency (not a test): ``uv run python bench/bench_live.py``.

Per-bar decision latency = closed bar in → order placed: queue the bar's journal row,
ask the broker what happened during the bar, feed the strategy, apply the risk gate,
journal the command and commit it (with everything queued before it), and place the
order on the paper broker. The simulated market (``PaperBroker.on_bar`` moving the
book) is outside the window, as it is the exchange's time in live. Target: p99 ≤ 1 ms.

``total`` also counts the heartbeat written and committed every 12 bars after the
decision (journal rows are otherwise written with the next command).

Reported for every bar and for the bars on which an order was sent, with the journal
on an SQLite file (the default) and with no journal. ``--b3`` runs with the B3 session
calendar, the contract roll rule and the trailing stop on (their cost per bar).

``command_commit`` (alone with ``--commit-only``): the one journal write on the bar →
order path (the command row, committed before the order goes out), 3,000 times, with
the journal as it is (``wal_autocheckpoint=0``; checkpoints run in ``Journal.flush``,
after the bar, and none is called here) and with SQLite's automatic checkpoint
(``wal_autocheckpoint=1000``, the journal before the change), interleaved.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.config import LiveConfig, RunnerSection
from mtponte.live.journal import open_journal
from mtponte.live.replay import replay_paper
from mtponte.live.session import SessionSection
from mtponte.strategies import ElephantParams


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e6
    return {
        "n": float(len(a)),
        "p50_us": float(np.percentile(a, 50)),
        "p99_us": float(np.percentile(a, 99)),
        "max_us": float(a.max()),
    }


def run(days: int, mode: str, journal: bool, tmp: Path, b3: bool = False) -> dict[str, object]:
    bars = synth_win(days=days, seed=11)
    cfg = LiveConfig(strategy=ElephantParams(entry_mode=mode), runner=RunnerSection(mode="trade"))
    if b3:
        cfg = cfg.model_copy(
            update={
                "runner": RunnerSection(mode="trade", trailing="prev_bar"),
                "session": SessionSection(calendar="b3", roll="rule"),
            }
        )
    j = None
    if journal:
        j = open_journal(f"sqlite:///{(tmp / f'j-{mode}.sqlite').as_posix()}")
        j.start_run("trade", "paper", "replay", "WIN", {})
    r = replay_paper(bars, WIN, cfg, j)
    if j is not None:
        j.close()
    lat = r.runner.stats.latencies
    sent = [lat[i] for i in r.runner.stats.order_bars]
    total = r.runner.stats.totals
    return {
        "mode": mode,
        "b3": b3,
        "journal": "sqlite" if journal else "none",
        "bars": len(bars),
        "trades": len(r.trades),
        "all_bars": _pct(lat),
        "order_bars": _pct(sent) if sent else None,
        "total_all_bars": _pct(total),
    }


def command_commit(tmp: Path, automatic: bool, n: int = 3_000) -> dict[str, object]:
    """Latency of ``Journal.command`` (insert + commit), ``n`` times."""
    name = "auto" if automatic else "flush"
    j = open_journal(f"sqlite:///{(tmp / f'c-{name}.sqlite').as_posix()}")
    if automatic:  # the journal before: SQLite checkpoints inside whichever commit
        j._conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
        j._sqlite = False
    j.start_run("trade", "paper", "replay", "WIN", {})
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        j.command(str(uuid.uuid4()), "mtp:0123456789abcdef0123", "stop", "WIN", price=1.0)
        lat.append(time.perf_counter() - t0)
    j.close()
    slow = sum(x > 1e-3 for x in lat)
    return {
        "checkpoint": "sqlite automatic" if automatic else "journal flush",
        **_pct(lat),
        "over_1ms": slow,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--commit-only", action="store_true", help="only command_commit")
    ap.add_argument("--b3", action="store_true", help="calendar + roll + trailing on")
    args = ap.parse_args()
    out = []
    commits = []
    with tempfile.TemporaryDirectory() as d:
        for mode in () if args.commit_only else ("stop", "next_open"):
            for journal in (True, False):
                out.append(run(args.days, mode, journal, Path(d), args.b3))
        for automatic in (True, False, True, False):  # interleaved: load drifts
            commits.append(command_commit(Path(d), automatic))
    print(
        json.dumps(
            {"python": platform.python_version(), "results": out, "command_commit": commits},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
