"""Bridge benchmarks (not a test): ``uv run python bench/bench_bridge.py [--crash 200]``.

1. Latency: N command round trips (Python writes ``inbox/`` → executor processes it
   against the paper broker → Python sees the final result in ``outbox/``), executor
   and client in separate processes, with file events (watchfiles) and with 25 ms
   polling. "warm" = back to back; "cold" = 100 ms idle before each command (the
   executor's fast-poll window has lapsed, so the file-event watcher wakes it).
2. Crash drill: ``kill -9`` at random moments plus crash points inside the critical
   windows; every command must be executed exactly once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def latency(n: int, polling: bool, idle_ms: float) -> dict:
    from mtponte.bridge import BridgeClient

    d = Path(tempfile.mkdtemp(prefix="mtp-bench-"))
    args = [
        sys.executable,
        "-m",
        "mtponte",
        "bridge",
        "serve",
        "--dir",
        str(d),
        "--quote",
        "WIN=120000,120005",
        "--dead-man-ms",
        "0",
    ] + (["--polling", "--poll-ms", "25"] if polling else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = BridgeClient(d)
        c.heartbeat()
        c.call("ping", timeout_s=30)  # executor is up
        lat = []
        for _ in range(n):
            if idle_ms:
                time.sleep(idle_ms / 1000)
            t0 = time.perf_counter()
            res = c.call("ping", timeout_s=10)
            lat.append(time.perf_counter() - t0)
            assert res.status.value == "filled"
        total = sum(lat)
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    ms = np.array(lat) * 1000
    return {
        "n": n,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "throughput_per_s": n / total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--crash", type=int, default=0, help="kills for the crash drill (0: skip)")
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}")
    for label, polling, idle in (
        ("file events, warm", False, 0),
        ("file events, cold", False, 100),
        ("polling 25 ms, warm", True, 0),
    ):
        n = a.n if idle == 0 else min(a.n, 300)
        r = latency(n, polling, idle)
        print(
            f"{label:22s} n={r['n']:5d}  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"max {r['max_ms']:7.2f} ms  {r['throughput_per_s']:7.0f} round trips/s"
        )
    if a.crash:
        from tests.integration.drill import run_drill

        d = Path(tempfile.mkdtemp(prefix="mtp-drill-"))
        r = run_drill(d / "bridge", planned=25 * a.crash, kills=a.crash, seed=2026, progress=True)
        print(
            f"crash drill: {r.planned} commands, {r.kills} external kill -9, {r.self_kills} "
            f"crash-point kills {r.by_point}, {r.recovered} outcomes recovered from broker "
            "records; "
            f"executed {r.executed}, duplicates {r.duplicates}, lost {r.lost}, phantom "
            f"{r.phantom}, unfinished {r.unfinished_client}/{r.unfinished_executor}; "
            f"{r.seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
