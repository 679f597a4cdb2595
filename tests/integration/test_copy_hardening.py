"""Copy-server hardening that needs real servers: X-Forwarded-For (L1), SSE streams per
token (M9) and SSE ending at token expiry (L4)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx

from mtponte.copy.server import admin
from mtponte.copy.server.db import make_engine, session_factory, upgrade
from mtponte.copy.server.models import ApiToken
from mtponte.copy.server.security import token_hash
from mtponte.copy.server.settings import ServerSettings
from tests.integration.test_copy_push import free_port, serve, wait_up


def test_l1_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path):
    db = f"sqlite:///{tmp_path / 'copy.db'}"
    port = free_port()
    env = os.environ | {"MTPONTE_LOGIN_RATE_PER_MIN": "3", "MTPONTE_DATABASE_URL": db}
    env.pop("MTPONTE_TRUSTED_PROXIES", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtponte", "server", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base)
        codes = [
            httpx.post(
                base + "/login",
                data={"email": "a@x.io", "password": "wrong password", "csrf": "x"},
                headers={"X-Forwarded-For": f"10.0.0.{k}"},
            ).status_code
            for k in range(6)
        ]
        # A client choosing its own address would get a fresh bucket every time.
        assert codes[:3] == [403, 403, 403] and codes[3:] == [429, 429, 429], codes
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _world(tmp_path, expires_in: float | None = None) -> tuple[str, int, int, str]:
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001")
        f = admin.add_account(s, "follower", "2001")
        admin.subscribe(s, f, m)
        follow = admin.issue_token(s, "follow", f)
        if expires_in is not None:
            tok = s.query(ApiToken).filter(ApiToken.token_hash == token_hash(follow)).one()
            tok.expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        ids = (m.id, f.id)
        s.commit()
    engine.dispose()
    return url, *ids, follow


def test_m9_sse_streams_per_token_are_capped(tmp_path):
    url, m, f, follow = _world(tmp_path)
    with serve(ServerSettings(database_url=url, max_streams_per_token=2)) as base:
        stream = f"{base}/api/v1/followers/{f}/masters/{m}/stream"
        h = {"Authorization": f"Bearer {follow}"}
        with httpx.Client(timeout=10) as client, ExitStack() as held:
            for _ in range(2):
                r = held.enter_context(client.stream("GET", stream, headers=h))
                assert r.status_code == 200
            third = client.get(stream, headers=h)
            assert third.status_code == 429 and "open streams" in third.text
        # The two streams closed: their slots are free again.
        deadline = time.monotonic() + 5
        while True:
            with httpx.Client(timeout=10) as client, client.stream("GET", stream, headers=h) as r:
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
        assert r.status_code == 200


def test_l4_sse_stream_ends_when_its_token_expires(tmp_path):
    url, m, f, follow = _world(tmp_path, expires_in=2.0)
    with serve(ServerSettings(database_url=url)) as base:
        stream = f"{base}/api/v1/followers/{f}/masters/{m}/stream"
        t0 = time.monotonic()
        with httpx.stream(
            "GET", stream, headers={"Authorization": f"Bearer {follow}"}, timeout=30
        ) as r:
            assert r.status_code == 200
            for _ in r.iter_bytes():
                pass  # ends when the server closes the stream
        assert time.monotonic() - t0 < 6
