"""The push stream of target changes: a real server (uvicorn on 127.0.0.1), a follower
reading its book's changes in order, the Python follower's stream link."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from mtponte.copy.engine.changes import apply_changes
from mtponte.copy.follower._http import HttpLink
from mtponte.copy.follower._stream import StreamLink, sse_events
from mtponte.copy.server import admin
from mtponte.copy.server.db import make_engine, session_factory, upgrade
from mtponte.copy.server.schemas import SymbolSpecIn
from mtponte.copy.server.settings import ServerSettings
from tests.integration.test_copy_push import serve


@pytest.fixture
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001")
        f = admin.add_account(s, "follower", "2001")
        g = admin.add_account(s, "follower", "2002")
        admin.subscribe(s, f, m, {"volumeMode": "copy"})
        admin.subscribe(s, g, m, {"volumeMode": "copy"})
        ids = {
            "m": m.id,
            "f": f.id,
            "g": g.id,
            "pub": admin.issue_token(s, "publish", m),
            "fol": admin.issue_token(s, "follow", f),
            "gol": admin.issue_token(s, "follow", g),
        }
        s.commit()
    engine.dispose()
    return url, ids


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _report(base: str, fid: int, token: str) -> None:
    spec = SymbolSpecIn(name="EURUSD", tick_size=1e-5, tick_value=1.0, digits=5).model_dump()
    r = httpx.post(
        f"{base}/api/v1/followers/{fid}/heartbeats",
        json={"instance": "t", "symbols": [spec]},
        headers=_h(token),
    )
    assert r.status_code == 204, r.text


def _event(base: str, ids: dict, k: int, kind: str, ticket: int, **kw: object) -> None:
    body = {
        "kind": kind,
        "idempotency_key": f"e{k}",
        "ticket": str(ticket),
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "price": 1.1,
    } | kw
    r = httpx.post(f"{base}/api/v1/masters/{ids['m']}/events", json=body, headers=_h(ids["pub"]))
    assert r.status_code == 201, r.text


def _full(base: str, ids: dict) -> dict:
    url = f"{base}/api/v1/followers/{ids['f']}/masters/{ids['m']}/targets"
    r = httpx.get(url, headers=_h(ids["fol"]))
    assert r.status_code == 200, r.text
    return r.json()


SCRIPT: list[tuple[str, int, dict[str, object]]] = [
    ("open", 1, {}),
    ("open", 2, {"volume": 0.3}),
    ("modify", 1, {"sl": 1.0, "tp": 1.2}),
    ("partial_close", 2, {"volume": 0.1}),
    ("close", 1, {}),
    ("open", 3, {"side": "sell"}),
    ("close", 2, {}),
]


def test_each_change_arrives_once_in_order_and_adds_up_to_the_book(world):
    url, ids = world
    with serve(ServerSettings(database_url=url)) as base:
        _report(base, ids["f"], ids["fol"])
        start = _full(base, ids)
        path = f"/api/v1/followers/{ids['f']}/masters/{ids['m']}/targets/stream"

        done = threading.Event()

        def master() -> None:
            for k, (kind, ticket, kw) in enumerate(SCRIPT):
                _event(base, ids, k, kind, ticket, **kw)
                time.sleep(0.15)
            done.set()

        frames: list[tuple[str, dict]] = []
        threading.Timer(0.3, master).start()
        with httpx.stream(
            "GET",
            base + path,
            params={"version": start["version"]},
            headers=_h(ids["fol"]),
            timeout=30,
        ) as r:
            assert r.status_code == 200
            for kind, data in sse_events(r.iter_lines()):
                if kind == "":
                    if done.is_set():
                        break  # a keep-alive after the script: nothing more to come
                    continue
                frames.append((kind, json.loads(data)))
        final = _full(base, ids)
    # The client held the current version: no full book first, only changes.
    assert [k for k, _ in frames] == ["changes"] * len(frames)
    version, targets = start["version"], start["targets"]
    for _, d in frames:
        assert d["from"] == version, (d["from"], version)  # in order, none twice
        assert d["version"] > version
        targets = apply_changes(targets, d["changes"])
        version = d["version"]
    assert version == final["version"]
    key = sorted(json.dumps(t, sort_keys=True) for t in targets)
    assert key == sorted(json.dumps(t, sort_keys=True) for t in final["targets"])
    ops = [c["op"] for _, d in frames for c in d["changes"]]
    assert {"open", "modify", "close"} <= set(ops)


def test_a_stale_version_gets_the_full_book_first(world):
    url, ids = world
    with serve(ServerSettings(database_url=url)) as base:
        _report(base, ids["f"], ids["fol"])
        _event(base, ids, 0, "open", 1)
        now = _full(base, ids)
        path = f"/api/v1/followers/{ids['f']}/masters/{ids['m']}/targets/stream"
        hdr = _h(ids["fol"])
        with httpx.stream("GET", base + path, params={"version": 0}, headers=hdr, timeout=30) as r:
            # The first frame, before any keep-alive (5 s): nothing happens meanwhile.
            kind, data = next(sse_events(r.iter_lines()))
    assert kind == "book"
    assert json.loads(data)["version"] == now["version"]
    assert json.loads(data)["targets"] == now["targets"]


def test_only_the_followers_own_token_opens_its_stream(world):
    url, ids = world
    with serve(ServerSettings(database_url=url)) as base:
        path = f"{base}/api/v1/followers/{ids['f']}/masters/{ids['m']}/targets/stream"
        assert httpx.get(path).status_code == 401
        assert httpx.get(path, headers=_h("nope")).status_code == 401
        assert httpx.get(path, headers=_h(ids["pub"])).status_code == 403  # the master's
        assert httpx.get(path, headers=_h(ids["gol"])).status_code == 403  # another follower's


def test_the_python_follower_rides_the_stream(world):
    url, ids = world
    with serve(ServerSettings(database_url=url)) as base, httpx.Client(base_url=base) as c:
        _report(base, ids["f"], ids["fol"])
        link = StreamLink(HttpLink(c, ids["f"], ids["m"], ids["fol"]))
        try:
            book = link.targets(None, 0)
            assert book is not None and link.full_reads == 1
            for k, (kind, ticket, kw) in enumerate(SCRIPT[:3]):
                _event(base, ids, k, kind, ticket, **kw)
                got = link.targets(book.version, 5.0)
                assert got is not None and got.version > book.version, kind
                book = got
            final = _full(base, ids)
        finally:
            link.close()
    assert link.full_reads == 1 and link.applied >= 3  # every change came by the stream
    assert book.version == final["version"]
    assert [t.to_json() for t in book.targets] == final["targets"]
