"""Whole-process backtest benchmark (not a test): ``uv run python bench/bench_backtest_cli.py``.

What a user feels: ``mtponte backtest FILE`` as a subprocess, wall time from start to
exit, on synthetic WIN M5 bars written to a temp dir:

* 100k and 1.02M bars, each as Parquet in the MT5 ``copy_rates`` layout (``time`` =
  server wall seconds, ``tick_volume``/``real_volume`` uint64, ``spread`` int32) and
  as the CSV ``mtponte data synth`` writes (ISO-8601 times with offsets);
* marginal throughput = (1.02M − 100k bars) / (wall(1.02M) − wall(100k)), against
  ``backtesting.py`` running the same rules (:mod:`mtponte.backtest.peer`) on the same
  first 100k bars in this run (its ``bt.run()`` alone, indicators prepared untimed);
* ``mtponte --help``, both as the installed script and through ``uv run``.

Each run also reports its CPU time (user + system of the child): on a shared machine
the wall time is mostly waiting for a core, and the CPU time is what the wall time
would be on an idle one (the process is single-threaded but for Arrow's reads).

Targets (issue 14): marginal ≥ 100× backtesting.py; 1.02M Parquet bars end to end
≤ 1.5 s; ``mtponte --help`` ≤ 0.3 s. Every command runs once untimed first (it writes
the ``.pyc`` files and loads or compiles the numba cache, as a user's first run
would), then ``--repeat`` times; the best wall time counts, the median is shown.
``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment: an installed
package imports from ``.pyc``. The machine's load average is printed beside the
numbers, since on a shared machine wall time is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtponte.backtest.peer import peer_frame, run_peer
from mtponte.data import save_bars_csv, synth_win
from mtponte.domain import WIN, Bars
from mtponte.strategies import ElephantParams

SMALL = 100_000
PARAMS = ["--set", "entry_mode=next_open"]  # the rules the backtesting.py peer runs


def write_rates_parquet(bars: Bars, path: Path) -> None:
    """``copy_rates`` rows: server wall time (São Paulo here) written as if it were UTC."""
    utc = pd.DatetimeIndex(pd.to_datetime(bars.time, unit="s", utc=True))
    wall = utc.tz_convert(bars.timezone).tz_localize(None).as_unit("s").asi8
    table = pa.table(
        {
            "time": wall.astype(np.int64),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "tick_volume": bars.tick_volume.astype(np.uint64),
            "spread": bars.spread.astype(np.int32),
            "real_volume": bars.real_volume.astype(np.uint64),
        }
    )
    pq.write_table(table, path)


def child_cpu() -> float:
    """User + system CPU seconds of finished children (0 where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    """Best and median wall time (and the CPU time of the best run) of ``cmd`` over
    ``repeat`` runs after one untimed run."""
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    runs = []
    for _ in range(repeat):
        c0, t0 = child_cpu(), time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        runs.append((time.perf_counter() - t0, child_cpu() - c0))
    best = min(runs)
    return {
        "best_s": best[0],
        "median_s": statistics.median(w for w, _ in runs),
        "cpu_of_best_s": best[1],
    }


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=8948, help="8948 days × 114 = 1,020,072 bars")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the data here (and keep it) instead")
    ap.add_argument("--json", help="also write results to this JSON file")
    args = ap.parse_args()

    exe = Path(sys.executable).parent / ("mtponte.exe" if os.name == "nt" else "mtponte")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="mtponte-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"load_average_start": load()}
    try:
        print(f"generating {args.days} synthetic sessions in {tmp} ...", flush=True)
        big = synth_win(days=args.days, seed=42)
        sizes = {"100k": big[:SMALL], "1.02M": big}
        files: dict[str, Path] = {}
        for label, bars in sizes.items():
            files[f"parquet {label}"] = tmp / f"rates_{len(bars)}.parquet"
            write_rates_parquet(bars, files[f"parquet {label}"])
            files[f"csv {label}"] = tmp / f"synth_{len(bars)}.csv"
            save_bars_csv(bars, files[f"csv {label}"])

        res["help_s"] = timed([str(exe), "--help"], env, args.repeat)
        uv = shutil.which("uv")
        if uv:
            res["uv_run_help_s"] = timed([uv, "run", "mtponte", "--help"], env, args.repeat)
        runs: dict[str, dict[str, float]] = {}
        trades = {}
        for key, path in files.items():
            out = tmp / ("out-" + key.replace(" ", "-"))
            cmd = [str(exe), "backtest", str(path), "--out", str(out), *PARAMS]
            runs[key] = timed(cmd, env, args.repeat)
            trades[key] = (out / "trades.csv").read_bytes()
            r = runs[key]
            print(
                f"{key:>14}: {r['best_s']:.2f} s wall, {r['cpu_of_best_s']:.2f} s CPU "
                f"(load {load()})",
                flush=True,
            )
        res["backtest_s"] = runs
        for size in sizes:
            if trades[f"csv {size}"] != trades[f"parquet {size}"]:
                raise SystemExit(f"{size}: the CSV and the Parquet file gave different trades")

        p = ElephantParams(entry_mode="next_open")
        c0 = time.process_time()
        peer = run_peer(sizes["100k"], WIN, p)
        c1 = time.process_time()
        peer_frame(sizes["100k"], p)  # run_peer prepares this untimed: take its CPU out
        peer_cpu = (c1 - c0) - (time.process_time() - c1)
        peer_rate = SMALL / peer.seconds
        res["backtesting_py"] = {
            "bars": SMALL,
            "run_s": peer.seconds,
            "bars_per_s": peer_rate,
            "run_cpu_s": peer_cpu,
        }
        extra = len(big) - SMALL
        for kind in ("parquet", "csv"):
            big_run, small_run = runs[f"{kind} 1.02M"], runs[f"{kind} 100k"]
            dt = big_run["best_s"] - small_run["best_s"]
            rate = extra / dt if dt > 0 else float("inf")
            dcpu = big_run["cpu_of_best_s"] - small_run["cpu_of_best_s"]
            cpu_rate = extra / dcpu if dcpu > 0 else float("inf")
            res[f"marginal_{kind}"] = {
                "bars_per_s": rate,
                "x_backtesting_py": rate / peer_rate,
                "cpu_bars_per_s": cpu_rate,
                "cpu_x_backtesting_py": cpu_rate / (SMALL / peer_cpu),
            }
        res["load_average_end"] = load()
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    help_s = res["help_s"]["best_s"]
    pq_big = runs["parquet 1.02M"]["best_s"]
    x = res["marginal_parquet"]["x_backtesting_py"]
    x_csv = res["marginal_csv"]["x_backtesting_py"]
    print(json.dumps(res, indent=2))
    print(f"mtponte --help: {help_s:.3f} s (target ≤ 0.3 s: {verdict(help_s <= 0.3)})")
    if "uv_run_help_s" in res:
        print(f"uv run mtponte --help: {res['uv_run_help_s']['best_s']:.3f} s")
    print(f"1.02M Parquet bars end to end: {pq_big:.2f} s (≤ 1.5 s: {verdict(pq_big <= 1.5)})")
    print(
        f"marginal vs backtesting.py: Parquet {x:.0f}×, CSV {x_csv:.0f}× "
        f"(≥ 100×: {verdict(x >= 100)} / {verdict(x_csv >= 100)})"
    )
    for kind in ("parquet", "csv"):
        m = res[f"marginal_{kind}"]
        print(
            f"by CPU time (what the wall time would be on an idle core): {kind} marginal "
            f"{m['cpu_bars_per_s']:,.0f} bars/s = {m['cpu_x_backtesting_py']:.0f}× backtesting.py"
        )
    cpu_big = runs["parquet 1.02M"]["cpu_of_best_s"]
    cpu_help = res["help_s"]["cpu_of_best_s"]
    print(f"1.02M Parquet bars: {cpu_big:.2f} s CPU; --help: {cpu_help:.3f} s CPU")
    print(f"load average: start {res['load_average_start']}, end {res['load_average_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
