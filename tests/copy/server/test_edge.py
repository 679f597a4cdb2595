"""The edge: cached slave-signals answers, rate limits and the body limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mtponte.copy.server._books import BookCache
from mtponte.copy.server._edge import TokenBuckets
from mtponte.copy.server.models import Account, Snapshot
from mtponte.copy.server.settings import ServerSettings
from tests.copy.server.conftest import World, make_world
from tests.copy.server.test_compat import ea_parse, signal, slave_signals


def _pos(ticket: int) -> dict[str, object]:
    return {
        "ticket": ticket,
        "symbol": "EURUSD",
        "type": 0,
        "lots": 0.1,
        "open_price": 1.1,
        "stop_loss": 0,
        "take_profit": 0,
        "open_time": 1,
    }


def tickets(world: World) -> list[str]:
    ok, pos = ea_parse(slave_signals(world).text)
    assert ok
    return [p["ticket"] for p in pos]


def test_publish_and_snapshot_reach_a_cached_poller_at_once(world: World):
    world.client.app.state.edge.books.revalidate_s = 3600.0  # only invalidation can help
    signal(world, "heartbeat", positions=[_pos(1)])
    assert tickets(world) == ["1"]
    assert tickets(world) == ["1"]  # now served from the edge cache
    signal(world, "open", ticket=2, symbol="EURUSD", type=0, lots=0.1, open_price=1.1)
    assert tickets(world) == ["1", "2"]
    signal(world, "heartbeat", positions=[_pos(3)])  # a snapshot alone changes the book
    assert tickets(world) == ["3"]


def test_cached_answer_is_rechecked_against_the_database(world: World):
    """A change that bypasses this worker's notifier (another worker without Redis)
    shows after ``book_revalidate_s`` at the latest — and not before: proof the edge
    really answers from its cache."""
    books = world.client.app.state.edge.books
    books.revalidate_s = 0.5
    signal(world, "heartbeat", positions=[_pos(1)])
    assert tickets(world) == ["1"]
    with world.client.app.state.sessions() as s:  # as another worker would
        snap = s.get(Snapshot, world.master_id)
        snap.positions = [dict(snap.positions[0], ticket="9")]
        s.get(Account, world.master_id).last_seen = snap.created_at = time_now()
        s.commit()
    assert tickets(world) == ["1"]
    time.sleep(0.6)
    # Due for its re-check: served once more while one background read runs, then new.
    seen = [tickets(world)]
    deadline = time.monotonic() + 2
    while seen[-1] != ["9"] and time.monotonic() < deadline:
        time.sleep(0.01)
        seen.append(tickets(world))
    assert seen[-1] == ["9"] and len(seen) <= 3, seen


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_master_going_stale_is_not_hidden_by_the_cache(world: World):
    world.client.app.state.edge.books.revalidate_s = 3600.0
    world.client.app.state.settings.master_stale_s = 1
    signal(world, "heartbeat", positions=[_pos(1)])
    assert slave_signals(world).json()["success"] is True
    time.sleep(1.2)
    r = slave_signals(world)
    assert r.json()["success"] is False and '"positions"' not in r.text


def test_cache_serves_only_the_token_and_master_it_authorized(world: World):
    signal(world, "heartbeat", positions=[_pos(1)])
    assert slave_signals(world).status_code == 200  # cached for (follow token, 1001)
    # The other follower does not follow this master: refused, cache or not.
    assert slave_signals(world, world.other_follow).status_code == 403
    r = world.client.get(
        f"/api/mt/copy/t/{world.follow}/slave-signals", params={"master_account_id": "9999"}
    )
    assert r.status_code == 403
    assert world.client.get("/api/mt/copy/t/nope/slave-signals").status_code == 401


def test_book_cache_drops_an_answer_read_before_an_invalidation():
    books = BookCache(revalidate_s=60)
    gen = books.generation(1)
    books.invalidate(1)  # a publish lands while the route reads the database
    books.put(1, gen, (1, time.time()), b"old", stale_s=300)
    assert books.get(1) is None
    gen = books.generation(1)
    books.put(1, gen, (2, time.time()), b"new", stale_s=300)
    got = books.get(1)
    assert got is not None and got.body == b"new"
    books.put(1, gen, (2, time.time() - 400), b"stale", stale_s=300)
    assert books.get(1) is None  # the master went stale: never served from the cache


def test_token_bucket():
    b = TokenBuckets(rate=10, burst=3)
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = b.take("a")
    assert 0 < wait <= 0.1
    assert b.take("b") == 0.0  # keys are independent
    time.sleep(0.12)
    assert b.take("a") == 0.0


def test_token_bucket_memory_is_bounded():
    b = TokenBuckets(rate=1000, burst=1, max_keys=100)
    for k in range(1000):
        b.take(str(k))
    assert len(b._b) <= 100


@pytest.fixture
def limited(db_url) -> Iterator[World]:
    yield from make_world(db_url, rate_limit_per_s=5, rate_limit_burst=3, login_rate_per_min=2)


def test_rate_limit_per_token(limited: World):
    w = limited
    signal(w, "heartbeat", positions=[])
    codes = [slave_signals(w).status_code for _ in range(6)]
    assert codes.count(429) >= 2 and codes[:2] == [200, 200]
    r = slave_signals(w)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "rate limit" in r.json()["detail"] and w.follow not in r.text
    # Another token has its own bucket: refused for following nobody, not for the rate.
    assert slave_signals(w, w.other_follow).status_code == 403
    # Bearer tokens of the native API count too.
    url = f"/api/v1/followers/{w.other_follower_id}/masters/{w.master_id}/events"
    codes = [w.client.get(url, headers=w.h(w.other_follow)).status_code for _ in range(5)]
    assert 429 in codes
    time.sleep(0.5)  # 5/s refills
    assert slave_signals(w).status_code == 200


def test_login_attempts_are_limited_per_address(limited: World):
    c = limited.client
    codes = [
        c.post("/login", data={"email": "a@b", "password": "x", "csrf": "x"}).status_code
        for _ in range(4)
    ]
    assert codes[-1] == 429 and 429 not in codes[:2]


def test_body_limit_counts_chunked_bodies(world: World):
    url = f"/api/v1/masters/{world.master_id}/events"
    h = world.h(world.publish) | {"Content-Type": "application/json"}

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b" " * 10_000

    r = world.client.post(url, content=chunks(30), headers=h)  # no Content-Length
    assert r.status_code == 413 and "256000" in r.json()["detail"]
    body = b'{"kind":"open","idempotency_key":"c1","ticket":"1","symbol":"EURUSD",'
    body += b'"side":"buy","volume":0.1,"price":1.1}'
    r = world.client.post(url, content=iter([body[:20], body[20:]]), headers=h)
    assert r.status_code == 201, r.text
    bad = h | {"Content-Length": "abc"}
    assert world.client.post(url, content=b"{}", headers=bad).status_code in (400, 413)


def test_access_log_masks_tokens_and_sums_up_polls(world: World, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="mtponte.access")
    signal(world, "heartbeat", positions=[_pos(1)])
    world.client.get(f"/api/mt/copy/t/{world.follow}/settings")  # 422/403: logged
    edge_mw = world.client.app.middleware_stack
    while not hasattr(edge_mw, "polls"):
        edge_mw = edge_mw.app
    edge_mw.polls.period_s, edge_mw.polls.since, edge_mw.polls.n = 1.0, time.monotonic(), 0
    for _ in range(5):
        assert slave_signals(world).status_code == 200
    time.sleep(1.05)
    slave_signals(world)
    text = caplog.text
    assert world.follow not in text and world.publish not in text
    assert '"POST /api/mt/copy/t/***/master-signal" 200' in text
    assert "/api/mt/copy/t/***/settings" in text
    import re

    sums = [int(n) for n in re.findall(r"slave-signals: (\d+) polls in", text)]
    assert sums == [6]
    assert "/slave-signals" not in text  # no line per poll


def test_nul_characters_are_4xx_never_500(world: World, db_url):
    c = world.client
    r = c.get(f"/api/mt/copy/t/{world.follow}/slave-signals?master_account_id=1%00")
    assert r.status_code == 400 and "NUL" in r.json()["detail"]
    # In a JSON body bound for a text column: PostgreSQL refuses NUL, SQLite stores it.
    r = c.post(
        f"/api/v1/followers/{world.follower_id}/reports",
        json={"master_id": world.master_id, "status": "skipped", "reason": "a\u0000b"},
        headers=world.h(world.follow),
    )
    expected = 400 if db_url.startswith("postgresql") else 204
    assert r.status_code == expected, r.text


def test_tokens_are_masked_wherever_they_sit():
    from mtponte.copy.server._edge import mask_tokens

    assert mask_tokens("//api/mt/copy/t/mtp_S3CRET/slave-signals") == (
        "//api/mt/copy/t/***/slave-signals"
    )
    assert "S3CRET" not in mask_tokens("/api/mt/copy/t/mtp_S3CRET")


def test_a_chunked_body_cut_off_by_a_disconnect_never_reaches_the_app():
    import asyncio

    from mtponte.copy.server._edge import Edge, EdgeMiddleware

    called = []

    async def app(scope, receive, send):
        called.append(await receive())

    messages = [
        {"type": "http.request", "body": b"email=a&isActive=on", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def send(message):
        pass

    mw = EdgeMiddleware(app, Edge(ServerSettings()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/subscriptions/1",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(mw(scope, receive, send))
    assert called == []


def test_an_offline_master_is_answered_from_memory(world: World):
    from datetime import UTC, datetime, timedelta

    books = world.client.app.state.edge.books
    books.revalidate_s = 3600.0
    signal(world, "heartbeat", positions=[])
    with world.client.app.state.sessions() as s:
        s.get(Account, world.master_id).last_seen = datetime.now(UTC) - timedelta(hours=1)
        s.commit()
    books.invalidate(world.master_id)
    reads = []
    loader = books.loader
    books.loader = lambda mid: reads.append(mid) or loader(mid)
    answers = [slave_signals(world).json() for _ in range(5)]
    assert all(a == {"success": False, "error": "master offline"} for a in answers)
    assert len(reads) <= 1
    signal(world, "heartbeat", positions=[_pos(4)])  # back: the cache is emptied at once
    assert tickets(world) == ["4"]


def test_the_master_is_named_by_account_number_else_by_email(world: World):
    signal(world, "heartbeat", positions=[_pos(1)])
    grants = world.client.app.state.edge.grants
    before = len(grants._table)
    for k in range(20):  # junk e-mails next to the right account: same key, same answer
        r = world.client.get(
            f"/api/mt/copy/t/{world.follow}/slave-signals",
            params={"master_account_id": "1001", "master_email": f"junk{k}@x.io"},
        )
        assert r.json()["success"] is True
    r = world.client.get(
        f"/api/mt/copy/t/{world.follow}/slave-signals", params={"master_email": "master@x.io"}
    )
    assert r.json()["success"] is True
    for k in range(20):  # names of no master: refused, nothing cached
        r = world.client.get(
            f"/api/mt/copy/t/{world.follow}/slave-signals", params={"master_email": f"n{k}@x"}
        )
        assert r.status_code == 403
    assert len(grants._table) <= before + 2
