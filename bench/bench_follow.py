"""Copy latency through target books (not a test): ``uv run python bench/bench_follow.py``.

Master event → follower fill on paper, at N followers (default 1, 100, 1000), push
(``--mode push``, the default: each follower on its SSE stream ``GET
/followers/{id}/masters/{m}/targets/stream``) or long poll (``--mode poll``: ``GET
.../targets?version&wait``). One uvicorn server process
on 127.0.0.1 (SQLite in a temporary folder, or ``--db``). Each follower heartbeats its
facts once, then waits on its book. The master posts ``--events`` opens and closes,
one at a time; for each, every follower's latency is:

- ``book``: its changed book received − the post sent (server: store the event and
  step every follower's book in one transaction, wake the waiters, write each stream);
- ``post``: the publisher's answer − the post sent;
- ``fill``: ``book`` + the time its own paper account takes to execute the change (the
  reconcile plan and the paper order, measured on the follower; followers run on their
  own machines, so fills are not queued behind each other here).

Target (issue 10): p99 ≤ 50 ms at 100 followers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench_copy import start  # run as a script: bench/ is on sys.path
from mtponte.brokers.paper import PaperBroker
from mtponte.copy.engine.model import Target
from mtponte.copy.follower import TargetBook
from mtponte.copy.follower._plan import Ledger, plan_hedging
from mtponte.domain.symbols import EURUSD

FACTS = {
    "instance": "",
    "netting": False,
    "symbols": [
        {
            "name": "EURUSD",
            "tick_size": 1e-5,
            "tick_value": 1.0,
            "contract_size": 100000.0,
            "digits": 5,
            "lot_min": 0.01,
            "lot_max": 100.0,
            "lot_step": 0.01,
        }
    ],
    "balance": 10000.0,
    "equity": 10000.0,
}


def setup(db: str, n: int) -> tuple[int, str, list[tuple[int, str]]]:
    from mtponte.copy.server import admin
    from mtponte.copy.server.db import open_database, session_factory

    engine = open_database(db)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001", "A")
        pub = admin.issue_token(s, "publish", m)
        fs = []
        for i in range(n):
            f = admin.add_account(s, "follower", str(5000 + i), "B")
            admin.subscribe(s, f, m, {"volumeMode": "copy"})
            fs.append((f, admin.issue_token(s, "follow", f)))
        s.commit()
        out = (m.id, pub, [(f.id, t) for f, t in fs])
    engine.dispose()
    return out


def fill_time() -> float:
    """Seconds a follower takes from a changed book to its paper order done."""
    b = PaperBroker(symbols=[EURUSD], currency="USD")
    b.set_quote("EURUSD", 1.1, 1.10002)
    book = TargetBook(1, (Target("s1t1", "EURUSD", "buy", 0.1, None, None),))
    samples = []
    for _ in range(200):
        t0 = time.perf_counter()
        for a in plan_hedging(
            book.targets,
            b.positions(),
            b.orders(),
            b.symbols(),
            {"EURUSD": b.quote("EURUSD")},
            Ledger(),
            1,
        ):
            assert a.side is not None
            b.market_order(a.symbol, a.side, a.volume, magic=1, comment="mtp:s1t1")
        samples.append(time.perf_counter() - t0)
        for p in b.positions():
            b.close_position(p.ticket)
    return float(np.median(samples))


class RawConn:
    """A minimal HTTP/1.1 keep-alive client (httpx's async client costs milliseconds
    per response, which at 100+ parked followers in one process would be measured as
    server latency)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def get(self, path: str, token: str) -> tuple[int, bytes]:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.r is not None
        auth = f"Authorization: Bearer {token}"
        self.w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n\r\n".encode())
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.r.readexactly(length) if length else b""
        return status, body


class StreamConn:
    """One follower's target stream (SSE) read raw: each frame is one HTTP chunk ending
    in a blank line."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def open(self, path: str, token: str) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        auth = f"Authorization: Bearer {token}"
        self.w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n\r\n".encode())
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n", 1)[0], head[:200]

    async def next_change(self) -> float:
        """Seconds (perf_counter) when the next ``changes`` frame arrived."""
        assert self.r is not None
        while True:
            frame = await self.r.readuntil(b"\n\n")
            if b"event: changes" in frame:
                return time.perf_counter()

    def close(self) -> None:
        if self.w is not None:
            self.w.close()


def _event_body(k: int) -> dict[str, object]:
    return {
        "kind": "open" if k % 2 == 0 else "close",
        "idempotency_key": f"e{k}",
        "ticket": str(1000 + k // 2),
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "price": 1.1,
        "time": int(time.time() * 1000),
    }


async def heartbeat(c: httpx.AsyncClient, fid: int, tok: str) -> None:
    """Follower ``fid`` reports its facts (its book can be sized from then on)."""
    r = await c.post(
        f"/api/v1/followers/{fid}/heartbeats",
        headers={"Authorization": f"Bearer {tok}"},
        json={**FACTS, "instance": f"bench{fid}"},
    )
    assert r.status_code == 204, r.text


async def run_push(
    base: str, mid: int, pub: str, fs: list[tuple[int, str]], events: int
) -> tuple[list[float], list[float]]:
    """As :func:`run`, each follower on its push stream of target changes."""
    limits = httpx.Limits(max_connections=len(fs) + 10, max_keepalive_connections=len(fs) + 10)
    port = int(base.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
        conns = {}
        for fid, tok in fs:
            await heartbeat(c, fid, tok)
            r = await c.get(
                f"/api/v1/followers/{fid}/masters/{mid}/targets",
                headers={"Authorization": f"Bearer {tok}"},
            )
            conns[fid] = StreamConn(port)
            v = r.json()["version"]
            path = f"/api/v1/followers/{fid}/masters/{mid}/targets/stream?version={v}"
            await conns[fid].open(path, tok)
        lat: list[float] = []
        posts: list[float] = []
        try:
            for k in range(events):
                waiters = [asyncio.create_task(conns[f].next_change()) for f, _ in fs]
                await asyncio.sleep(0.5 + len(fs) / 400)
                t0 = time.perf_counter()
                r = await c.post(
                    f"/api/v1/masters/{mid}/events",
                    json=_event_body(k),
                    headers={"Authorization": f"Bearer {pub}"},
                )
                assert r.status_code == 201, r.text
                posts.append(time.perf_counter() - t0)
                got = await asyncio.gather(*waiters)
                lat += [t - t0 for t in got]
        finally:
            for conn in conns.values():
                conn.close()
        return lat, posts


async def run(
    base: str, mid: int, pub: str, fs: list[tuple[int, str]], events: int
) -> tuple[list[float], list[float]]:
    """Each follower long-polls its book. Returns every follower's latency per event
    (seconds) and, per event, the publisher's answer time."""
    limits = httpx.Limits(max_connections=len(fs) + 10, max_keepalive_connections=len(fs) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
        for fid, tok in fs:
            await heartbeat(c, fid, tok)
        versions: dict[int, int] = {}
        for fid, tok in fs:
            r = await c.get(
                f"/api/v1/followers/{fid}/masters/{mid}/targets",
                headers={"Authorization": f"Bearer {tok}"},
            )
            versions[fid] = r.json()["version"]
        lat: list[float] = []
        posts: list[float] = []
        port = int(base.rsplit(":", 1)[1])
        conns = {fid: RawConn(port) for fid, _ in fs}
        for k in range(events):

            async def wait(fid: int, tok: str) -> float:
                path = (
                    f"/api/v1/followers/{fid}/masters/{mid}/targets?version={versions[fid]}&wait=30"
                )
                status, body = await conns[fid].get(path, tok)
                t = time.perf_counter()
                assert status == 200, (status, body[:200])
                versions[fid] = json.loads(body)["version"]
                return t

            waiters = [asyncio.create_task(wait(f, t)) for f, t in fs]
            await asyncio.sleep(1.0 + len(fs) / 200)  # every long poll is parked
            body = _event_body(k)
            t0 = time.perf_counter()
            r = await c.post(
                f"/api/v1/masters/{mid}/events",
                json=body,
                headers={"Authorization": f"Bearer {pub}"},
            )
            assert r.status_code == 201, r.text
            posts.append(time.perf_counter() - t0)
            got = await asyncio.gather(*waiters)
            lat += [t - t0 for t in got]
        return lat, posts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", default="1,100,1000")
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    ap.add_argument(
        "--mode",
        choices=("poll", "push"),
        default="push",
        help="followers long-poll their book, or ride its push stream (default)",
    )
    args = ap.parse_args()
    fill = fill_time()
    results = {}
    for n in [int(x) for x in args.followers.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            db = args.db or f"sqlite:///{Path(tmp) / 'copy.db'}"
            mid, pub, fs = setup(db, n)
            proc, base = start(db, 1)  # the copy-server bench's start: one worker
            try:
                how = run_push if args.mode == "push" else run
                got, posts = asyncio.run(how(base, mid, pub, fs, args.events))
                lat = np.asarray(got) * 1000
            finally:
                proc.terminate()
                proc.wait(10)
        res = {
            "mode": args.mode,
            "followers": n,
            "samples": int(lat.size),
            "book_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "book_p99_ms": round(float(np.percentile(lat, 99)), 1),
            "fill_p50_ms": round(float(np.percentile(lat, 50)) + fill * 1000, 1),
            "fill_p99_ms": round(float(np.percentile(lat, 99)) + fill * 1000, 1),
            # The publisher's answer: the event stored and every book stepped with it.
            "post_p50_ms": round(float(np.percentile(posts, 50)) * 1000, 1),
            "post_p99_ms": round(float(np.percentile(posts, 99)) * 1000, 1),
            "per_event_first_last_ms": [
                (round(float(r.min()), 1), round(float(r.max()), 1))
                for r in lat.reshape(len(posts), n)
            ],
        }
        results[n] = res
        print(json.dumps(res), flush=True)
    print(
        json.dumps(
            {
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "paper_fill_ms": round(fill * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
