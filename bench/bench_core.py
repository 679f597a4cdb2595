"""Core benchmarks (not a test): run with ``uv run python bench/bench_core.py``.

1. Our backtest vs the same rules as a backtesting.py Strategy on one 100k-bar
   synthetic WIN M5 series (target: ≥ 100× faster); also reports trade agreement.
2. One million bars end to end (fresh Bars: calendar, features, signals, engine,
   stats) after JIT warm-up (target: ≤ 0.5 s).
3. Sweep throughput on one year of M5 (~28.5k bars) on all cores
   (target: ≥ 2,000 parameter sets per second on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pandas as pd

from mtponte.backtest import run_backtest
from mtponte.backtest.sweep import expand_grid, sweep
from mtponte.data import synth_win
from mtponte.domain import WIN, Bars
from mtponte.strategies import ElephantParams


def fresh(b: Bars) -> Bars:
    """A copy without cached calendar, so timings include it."""
    return Bars(
        time=b.time.copy(),
        open=b.open.copy(),
        high=b.high.copy(),
        low=b.low.copy(),
        close=b.close.copy(),
        tick_volume=b.tick_volume.copy(),
        real_volume=b.real_volume.copy(),
        timezone=b.timezone,
        spread=b.spread.copy(),
    )


def best_of(fn, repeat: int, setup=None) -> float:
    """Best wall time of ``fn(setup())`` over ``repeat`` runs; ``setup`` is not timed."""
    times = []
    for _ in range(repeat):
        arg = setup() if setup is not None else None
        t0 = time.perf_counter()
        fn(arg) if setup is not None else fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_vs_backtesting_py(days: int) -> dict:
    from mtponte.backtest.peer import compare_trades, run_peer

    bars = synth_win(days=days, seed=42)
    p = ElephantParams(entry_mode="next_open")
    run_backtest(fresh(bars[:5000]), WIN, p)  # JIT warm-up
    # Data in memory, calendar not yet computed (timed), like backtesting.py's bt.run().
    ours = best_of(lambda b: run_backtest(b, WIN, p), 10, setup=lambda: fresh(bars))
    peer = run_peer(bars, WIN, p)
    r = run_backtest(bars, WIN, p)
    t = r.t
    mine = pd.DataFrame(
        {
            "entry_i": t.entry_i,
            "exit_i": t.exit_i,
            "direction": t.direction.astype(int),
            "entry_price": t.entry_price,
            "exit_price": t.exit_price,
        }
    )
    cmp = compare_trades(mine, peer.trades, bars, p)
    return {
        "bars": len(bars),
        "ours_s": ours,
        "backtesting_py_s": peer.seconds,
        "speedup": peer.seconds / ours,
        "trades_ours": cmp["ours"],
        "trades_peer": cmp["peer"],
        "identical_trades": cmp["matched"],
        "differences": len(cmp["differ"]),
    }


def bench_million() -> dict:
    days = 1_000_000 // 114 + 1
    bars = synth_win(days=days, seed=1)
    run_backtest(fresh(bars[:5000]), WIN, ElephantParams())
    out = {"bars": len(bars)}
    for mode in ("stop", "next_open"):
        p = ElephantParams(entry_mode=mode)
        out[f"{mode}_s"] = best_of(
            lambda b, p=p: run_backtest(b, WIN, p), 5, setup=lambda: fresh(bars)
        )
        out[f"{mode}_trades"] = run_backtest(bars, WIN, p).stats["trades"]
    return out


def bench_sweep() -> dict:
    bars = synth_win(days=250, seed=7)
    grid = {
        "min_range_mult": ["1.2", "1.3", "1.35", "1.4", "1.5", "1.7"],
        "min_volume_mult": ["0", "1.1", "1.3", "1.5"],
        "sl_atr": ["1", "1.5", "2", "2.5", "3"],
        "tp_atr": ["1.5", "2", "3", "4", "5"],
        "entry_mode": ["stop", "next_open"],
        "max_wick_pct": ["0.2", "0.3"],
    }
    plist = expand_grid(grid)
    sweep(bars, WIN, plist[:8])  # JIT warm-up
    dt = best_of(lambda: sweep(bars, WIN, plist), 3)
    return {
        "bars": len(bars),
        "sets": len(plist),
        "seconds": dt,
        "sets_per_s": len(plist) / dt,
        "threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--peer-days", type=int, default=878, help="878 days ≈ 100k M5 bars")
    ap.add_argument("--json", help="also write results to this JSON file")
    args = ap.parse_args()
    res = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    }
    print(res["machine"])
    res["vs_backtesting_py"] = r = bench_vs_backtesting_py(args.peer_days)
    print(
        f"1. {r['bars']:,} bars: mtponte {r['ours_s'] * 1000:.1f} ms, backtesting.py "
        f"{r['backtesting_py_s']:.2f} s -> {r['speedup']:,.0f}x faster (target >= 100x); "
        f"trades {r['trades_ours']} vs {r['trades_peer']}, identical {r['identical_trades']}, "
        f"differences {r['differences']}"
    )
    res["million"] = m = bench_million()
    print(
        f"2. {m['bars']:,} bars end to end: stop {m['stop_s'] * 1000:.0f} ms "
        f"({m['stop_trades']} trades), next_open {m['next_open_s'] * 1000:.0f} ms "
        f"({m['next_open_trades']} trades) (target <= 500 ms)"
    )
    res["sweep"] = s = bench_sweep()
    print(
        f"3. sweep: {s['sets']:,} sets on {s['bars']:,} bars in {s['seconds']:.2f} s -> "
        f"{s['sets_per_s']:,.0f} sets/s on {s['threads']} threads (target >= 2,000/s)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
