"""Push: SSE with resume, and Redis waking followers on another worker (real servers)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from mtponte.copy.server import admin
from mtponte.copy.server.app import create_app
from mtponte.copy.server.db import make_engine, session_factory, upgrade
from mtponte.copy.server.settings import ServerSettings

REDIS = os.environ.get("MTPONTE_TEST_REDIS_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, path: str = "/login", tries: int = 150) -> None:
    """Wait for a server started as a process to answer."""
    for _ in range(tries):
        try:
            httpx.get(base + path, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)


@contextmanager
def serve(settings: ServerSettings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(timeout=10)


@pytest.fixture
def setup(tmp_path):
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001")
        f = admin.add_account(s, "follower", "2001")
        admin.subscribe(s, f, m)
        ids = (m.id, f.id, admin.issue_token(s, "publish", m), admin.issue_token(s, "follow", f))
        s.commit()
    engine.dispose()
    return url, ids


def post(base: str, token: str, master: int, key: str) -> int:
    r = httpx.post(
        f"{base}/api/v1/masters/{master}/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "kind": "open",
            "idempotency_key": key,
            "ticket": key,
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 0.1,
            "price": 1.1,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["seq"])


EURUSD_BUY: dict[str, object] = {"symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}


def master_signal(base: str, token: str, action: str, **kw: object) -> None:
    """What the legacy Master EA posts, for master account 1001."""
    body = {"action": action, "account_number": "1001", "timestamp": 1} | kw
    r = httpx.post(f"{base}/api/mt/copy/t/{token}/master-signal", json=body)
    assert r.status_code == 200 and r.json()["success"], r.text


def read_events(
    base: str,
    token: str,
    path: str,
    n: int,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    hdr = {"Authorization": f"Bearer {token}"} | (headers or {})
    with httpx.stream("GET", base + path, headers=hdr, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        eid = ""
        for line in r.iter_lines():
            if line.startswith("id: "):
                eid = line[4:]
            elif line.startswith("event: "):
                out.append((eid, line[7:]))
                if len(out) == n:
                    break
    return out


def test_sse_in_order_and_resumable(setup):
    url, (m, f, pub, fol) = setup
    with serve(ServerSettings(database_url=url)) as base:
        path = f"/api/v1/followers/{f}/masters/{m}/stream"
        threading.Timer(0.3, lambda: [post(base, pub, m, str(k)) for k in range(1, 4)]).start()
        assert read_events(base, fol, path, 3) == [("1", "open"), ("2", "open"), ("3", "open")]
        # Reconnect after event 2: the stream resumes with 3.
        got = read_events(base, fol, path, 1, {"Last-Event-ID": "2"})
        assert got == [("3", "open")]
        r = httpx.get(base + path, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401


@pytest.mark.skipif(not REDIS, reason="MTPONTE_TEST_REDIS_URL is not set (Redis tests run in CI)")
def test_redis_wakes_a_follower_on_another_worker(setup):
    url, (m, f, pub, fol) = setup
    s = ServerSettings(database_url=url, redis_url=REDIS)
    with serve(s) as worker_a, serve(s) as worker_b:
        threading.Timer(0.5, post, args=(worker_a, pub, m, "7")).start()
        t0 = time.monotonic()
        r = httpx.get(
            f"{worker_b}/api/v1/followers/{f}/masters/{m}/events",
            params={"after": 0, "wait": 20},
            timeout=30,
            headers={"Authorization": f"Bearer {fol}"},
        )
        dt = time.monotonic() - t0
        assert [e["seq"] for e in r.json()["events"]] == [1]
        assert dt < 3, f"woken after {dt:.2f}s: Redis did not reach worker B"


@pytest.mark.skipif(not REDIS, reason="MTPONTE_TEST_REDIS_URL is not set (Redis tests run in CI)")
def test_redis_empties_the_slave_signals_cache_on_another_worker(setup):
    """A legacy slave polling worker B sees a master's open posted to worker A on its
    very next poll, although B answers polls from its cache (re-check set to an hour)."""
    url, (_, _, pub, fol) = setup
    s = ServerSettings(database_url=url, redis_url=REDIS, book_revalidate_s=3600)
    with serve(s) as worker_a, serve(s) as worker_b:
        poll = f"{worker_b}/api/mt/copy/t/{fol}/slave-signals?master_account_id=1001"

        master_signal(worker_a, pub, "heartbeat", positions=[])
        assert httpx.get(poll).json()["positions"] == []
        assert httpx.get(poll).json()["positions"] == []  # cached on B
        master_signal(
            worker_a, pub, "open", ticket=5, symbol="EURUSD", type=0, lots=0.1, open_price=1.1
        )
        deadline = time.monotonic() + 2
        while not (got := httpx.get(poll).json()["positions"]) and time.monotonic() < deadline:
            time.sleep(0.01)  # pub/sub is asynchronous: milliseconds, not the hour
        assert [p["ticket"] for p in got] == [5]


def test_an_open_stream_ends_within_seconds_of_its_token_revoked(setup):
    from mtponte.copy.server.models import ApiToken
    from mtponte.copy.server.security import token_hash

    url, (m, f, pub, fol) = setup
    with serve(ServerSettings(database_url=url, revocation_check_s=0.2)) as base:
        got: list[str] = []
        ended = threading.Event()

        def reader() -> None:
            path = f"{base}/api/v1/followers/{f}/masters/{m}/stream"
            hdr = {"Authorization": f"Bearer {fol}"}
            with httpx.stream("GET", path, headers=hdr, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        got.append(line[4:])
            ended.set()

        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.5)
        post(base, pub, m, "1")
        time.sleep(0.3)
        engine = make_engine(url)
        with session_factory(engine)() as s:  # as `mtponte admin revoke` would
            tok = s.query(ApiToken).filter(ApiToken.token_hash == token_hash(fol)).one()
            admin.revoke_token(s, tok.id)
            s.commit()
        engine.dispose()
        t0 = time.monotonic()
        assert ended.wait(5), "the stream of a revoked token is still open"
        assert time.monotonic() - t0 < 2
        post(base, pub, m, "2")
        assert got == ["1"]


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        ["redis-server", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_outage_never_fails_a_post_and_the_feed_recovers(setup):
    """Redis is a speed-up: with it down, posts still succeed (and a stalled Redis never
    blocks the loop); when it is back, the listener resubscribes and cross-worker
    invalidation works again."""
    url, (_, _, pub, fol) = setup
    port = free_port()
    redis_proc = _redis_server(port)
    s = ServerSettings(
        database_url=url, redis_url=f"redis://127.0.0.1:{port}/0", book_revalidate_s=3600
    )
    try:
        with serve(s) as worker_a, serve(s) as worker_b:
            poll = f"{worker_b}/api/mt/copy/t/{fol}/slave-signals?master_account_id=1001"

            def tickets_on_b(want: list[int]) -> list[int]:
                deadline = time.monotonic() + 8
                while True:
                    body = httpx.get(poll).json()
                    assert body.get("success") is True, body  # refused is not "no positions"
                    got = [p["ticket"] for p in body["positions"]]
                    if got == want or time.monotonic() > deadline:
                        return got
                    time.sleep(0.05)

            master_signal(worker_a, pub, "heartbeat", positions=[])
            assert tickets_on_b([]) == []
            redis_proc.kill()
            redis_proc.wait()
            t0 = time.monotonic()
            master_signal(worker_a, pub, "heartbeat", positions=[])  # Redis down: still 200
            master_signal(
                worker_a, pub, "open", ticket=5, symbol="EURUSD", type=0, lots=0.1, open_price=1.1
            )
            assert time.monotonic() - t0 < 3
            redis_proc = _redis_server(port)
            # Back: the listener resubscribes (and forgets what it may have missed).
            assert tickets_on_b([5]) == [5]
            master_signal(
                worker_a, pub, "open", ticket=6, symbol="EURUSD", type=0, lots=0.1, open_price=1.1
            )
            assert tickets_on_b([5, 6]) == [5, 6]
    finally:
        redis_proc.kill()
        redis_proc.wait()
