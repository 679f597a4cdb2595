"""Copy-server benchmarks (not a test): ``uv run python bench/bench_copy.py``.

1. Sentra-compatible ``GET /slave-signals`` under 200 concurrent pollers (wrk, 20 s),
   server with ``--workers`` uvicorn processes on SQLite: throughput and latency.
2. Push fan-out: N followers connected by SSE; the master posts one event; delivery
   latency = time each follower receives it − time the post was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
            # Pollers are answered from each worker's cache (revalidated every 0.25 s):
            # they need no Redis; the fan-out runs on one worker.
            "--allow-no-redis",
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


WRK_LUA = """
-- each request polls as the next of the N followers (each has its own token)
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def bench_pollers(workers: int, seconds: int, pollers: int, db: str | None) -> None:
    d = Path(tempfile.mkdtemp())
    db = db or f"sqlite:///{d / 'bench.db'}"
    pub, _, toks = setup(db, pollers)
    proc, base = start(db, workers)
    try:
        posted = httpx.post(
            f"{base}/api/mt/copy/t/{pub}/master-signal",
            json={
                "action": "heartbeat",
                "account_number": "1001",
                "positions": [
                    {
                        "ticket": k + 1,
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
        assert posted.status_code == 200, posted.text
        paths = [f"/api/mt/copy/t/{t}/slave-signals?master_account_id=1001" for t in toks]
        assert '"success":true' in httpx.get(base + paths[0]).text
        if shutil.which("wrk") is None:
            print("1. wrk is not installed (apt-get install wrk); skipped")
            return
        script = d / "pollers.lua"
        script.write_text(WRK_LUA % ",".join(f'"{p}"' for p in paths))
        wrk = ["wrk", "-t", "2", "-c", str(pollers), "-d", f"{seconds}s", "--latency"]
        out = subprocess.run(
            [*wrk, "-s", str(script), base + paths[0]], capture_output=True, text=True
        ).stdout
        dist = re.findall(r"^\s+(\d+%)\s+([\d.]+\w+)$", out, re.M)
        worst = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
        print(
            "   latency "
            + ", ".join(f"{q} {v}" for q, v in dist)
            + f", max {worst.group(1) if worst else '?'}"
        )
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p50 = re.search(r"50%\s+([\d.]+\w+)", out)
        p99 = re.search(r"99%\s+([\d.]+\w+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        print(
            f"1. GET /slave-signals, {pollers} pollers (own tokens), {workers} workers, "
            f"{db.split(':')[0]}: "
            f"{rps.group(1) if rps else '?'} req/s, p50 {p50.group(1) if p50 else '?'}, "
            f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0} "
            "(target >= 3,000 req/s, p99 <= 50 ms)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _fanout(
    base: str, pub: str, fids: list[str], toks: list[str], rounds: int
) -> list[np.ndarray]:
    """Followers are plain asyncio sockets (an HTTP/1.1 GET, then raw reads): httpx
    costs ~0.2 ms of client CPU per chunk, which on 2 shared cores would time the client
    rather than the server."""
    host, port = base.removeprefix("http://").split(":")
    got: list[list[float]] = [[] for _ in range(rounds)]
    connected = 0
    all_in = asyncio.Event()

    async def follower(fid: str, tok: str) -> None:
        nonlocal connected
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /api/v1/followers/{fid}/masters/1/stream HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {tok}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += await reader.read(65536)
        assert buf.startswith(b"HTTP/1.1 200"), buf[:200]
        connected += 1
        if connected == len(fids):
            all_in.set()
        seen = 0
        while seen < rounds:
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("stream closed")
            now = time.perf_counter()
            for _ in range(chunk.count(b"event: open")):
                got[seen].append(now)
                seen += 1
        writer.close()

    tasks = [asyncio.create_task(follower(f, t)) for f, t in zip(fids, toks, strict=True)]
    await asyncio.wait_for(all_in.wait(), 120)
    await asyncio.sleep(1.0)
    # The client's own garbage collector must not pause the clock it reads.
    gc.collect()
    gc.freeze()
    gc.disable()
    out = []
    posted: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        # Open the master's connection first: the client's first request also imports
        # half of httpcore (~50 ms) and would be timed as server latency.
        await client.get(f"{base}/openapi.json")
        for k in range(rounds):
            t0 = time.perf_counter()
            r = await client.post(
                f"{base}/api/v1/masters/1/events",
                headers={"Authorization": f"Bearer {pub}"},
                json={
                    "kind": "open",
                    "idempotency_key": f"k{k}",
                    "ticket": str(k + 1),
                    "symbol": "EURUSD",
                    "side": "buy",
                    "volume": 0.1,
                    "price": 1.1,
                },
            )
            assert r.status_code == 201, r.text
            posted.append((time.perf_counter() - t0) * 1000)
            deadline = time.perf_counter() + 60
            while len(got[k]) < len(fids) and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            out.append((np.array(got[k]) - t0) * 1000)
            await asyncio.sleep(0.5)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    gc.enable()
    print("   POST answered after (ms): " + ", ".join(f"{x:.1f}" for x in posted))
    return out


def bench_fanout(n: int, workers: int, rounds: int) -> None:
    d = Path(tempfile.mkdtemp())
    db = f"sqlite:///{d / 'bench.db'}"
    pub, fids, toks = setup(db, n)
    proc, base = start(db, workers)
    try:
        per_round = asyncio.run(_fanout(base, pub, fids, toks, rounds))
        for k, ms in enumerate(per_round, 1):
            print(
                f"   event {k}: delivered {len(ms)}/{n}, p50 {np.percentile(ms, 50):.1f} ms, "
                f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms"
            )
        ms = np.concatenate(per_round)
        print(
            f"2. SSE fan-out to {n} followers, {workers} worker(s), {rounds} events: "
            f"delivered {len(ms)}/{n * rounds}, p50 {np.percentile(ms, 50):.1f} ms, "
            f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms (target p99 <= 100 ms)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def fresh_postgres(url: str) -> Iterator[str]:
    """A new, empty database next to ``url`` (dropped afterwards)."""
    from sqlalchemy import text

    from mtponte.copy.server.db import make_engine

    name = f"mtp_bench_{uuid.uuid4().hex[:10]}"
    root = make_engine(url)
    with root.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield root.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with root.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        root.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--pollers", type=int, default=200)
    ap.add_argument("--followers", type=int, default=1000)
    ap.add_argument("--events", type=int, default=5, help="fan-out rounds")
    ap.add_argument("--postgres", help="also run the pollers on a fresh database at this URL")
    ap.add_argument("--only", choices=["pollers", "fanout"])
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if a.only != "fanout":
        bench_pollers(a.workers, a.seconds, a.pollers, None)
        if a.postgres:
            with fresh_postgres(a.postgres) as url:
                bench_pollers(a.workers, a.seconds, a.pollers, url)
    if a.only != "pollers":
        bench_fanout(a.followers, 1, a.events)


if __name__ == "__main__":
    main()
