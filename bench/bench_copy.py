"""Copy-server benchmarks (not a test): ``uv run python bench/bench_copy.py``.

1. Sentra-compatible ``GET /slave-signals`` under 200 concurrent pollers (wrk, 20 s),
   server with ``--workers`` uvicorn processes on SQLite: throughput and latency.
2. Push fan-out: N followers connected by SSE; the master posts one event; delivery
   latency = time each follower receives it − time the post was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mtp(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "mtponte", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return out.stdout.strip()


def setup(db: str, followers: int) -> tuple[str, list[str], list[str]]:
    env = dict(os.environ)
    master = mtp("admin", "account", "--role", "master", "--number", "1001", "--db", db, env=env)
    pub = mtp("admin", "token", "--scope", "publish", "--account", master, "--db", db, env=env)
    # one follower with a token; the fan-out creates more through the library (faster)
    from mtponte.copy.server import admin
    from mtponte.copy.server.db import make_engine, session_factory

    engine = make_engine(db)
    fids, toks = [], []
    with session_factory(engine)() as s:
        from mtponte.copy.server.models import Account

        m = s.get(Account, int(master))
        for k in range(followers):
            f = admin.add_account(s, "follower", str(5000 + k))
            admin.subscribe(s, f, m)
            fids.append(str(f.id))
            toks.append(admin.issue_token(s, "follow", f))
        s.commit()
    engine.dispose()
    return pub, fids, toks


def start(db: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtponte",
            "server",
            "--db",
            db,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/openapi.json", timeout=0.5)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def bench_pollers(workers: int, seconds: int) -> None:
    d = Path(tempfile.mkdtemp())
    db = f"sqlite:///{d / 'bench.db'}"
    pub, _, toks = setup(db, 1)
    proc, base = start(db, workers)
    try:
        httpx.post(
            f"{base}/api/mt/copy/t/{pub}/master-signal",
            json={
                "action": "heartbeat",
                "account_number": "1001",
                "positions": [
                    {
                        "ticket": k,
                        "symbol": "EURUSD",
                        "type": 0,
                        "lots": 0.1,
                        "open_price": 1.1,
                        "stop_loss": 1.09,
                        "take_profit": 1.12,
                        "open_time": 1,
                    }
                    for k in range(5)
                ],
            },
        )
        url = f"{base}/api/mt/copy/t/{toks[0]}/slave-signals?master_account_id=1001"
        assert '"success":true' in httpx.get(url).text
        if shutil.which("wrk") is None:
            print("1. wrk is not installed (apt-get install wrk); skipped")
            return
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", "200", "-d", f"{seconds}s", "--latency", url],
            capture_output=True,
            text=True,
        ).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p50 = re.search(r"50%\s+([\d.]+\w+)", out)
        p99 = re.search(r"99%\s+([\d.]+\w+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        print(
            f"1. GET /slave-signals, 200 pollers, {workers} workers: "
            f"{rps.group(1) if rps else '?'} req/s, p50 {p50.group(1) if p50 else '?'}, "
            f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0} "
            "(target >= 3,000 req/s, p99 <= 50 ms)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _fanout(base: str, pub: str, fids: list[str], toks: list[str]) -> np.ndarray:
    received: list[float] = []
    ready = asyncio.Event()
    connected = 0
    limits = httpx.Limits(max_connections=len(fids) + 10)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def follower(fid: str, tok: str) -> None:
            nonlocal connected
            url = f"{base}/api/v1/followers/{fid}/masters/1/stream"
            async with client.stream("GET", url, headers={"Authorization": f"Bearer {tok}"}) as r:
                connected += 1
                if connected == len(fids):
                    ready.set()
                async for line in r.aiter_lines():
                    if line.startswith("event: open"):
                        received.append(time.perf_counter())
                        return

        tasks = [asyncio.create_task(follower(f, t)) for f, t in zip(fids, toks, strict=True)]
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(1.0)
        t0 = time.perf_counter()
        r = await client.post(
            f"{base}/api/v1/masters/1/events",
            headers={"Authorization": f"Bearer {pub}"},
            json={
                "kind": "open",
                "idempotency_key": "k1",
                "ticket": "1",
                "symbol": "EURUSD",
                "side": "buy",
                "volume": 0.1,
                "price": 1.1,
            },
        )
        assert r.status_code == 201, r.text
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return (np.array(received) - t0) * 1000


def bench_fanout(n: int, workers: int) -> None:
    d = Path(tempfile.mkdtemp())
    db = f"sqlite:///{d / 'bench.db'}"
    pub, fids, toks = setup(db, n)
    proc, base = start(db, workers)
    try:
        ms = asyncio.run(_fanout(base, pub, fids, toks))
        print(
            f"2. SSE fan-out to {n} followers, {workers} worker(s): delivered {len(ms)}, "
            f"p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms, "
            f"max {ms.max():.0f} ms (target p99 <= 100 ms)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--followers", type=int, default=1000)
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    bench_pollers(a.workers, a.seconds)
    bench_fanout(a.followers, 1)


if __name__ == "__main__":
    main()
