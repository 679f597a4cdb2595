from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.copy.server.conftest import World


def ev(key: str, kind: str = "open", ticket: str = "1", **kw):
    body = {"kind": kind, "idempotency_key": key, "ticket": ticket, "symbol": "EURUSD"}
    if kind == "open":
        body |= {"side": "buy", "volume": 0.1, "price": 1.1, "sl": 1.09, "tp": 1.12}
    return body | kw


def test_every_route_needs_the_right_token(world: World):
    c, m, f = world.client, world.master_id, world.follower_id
    url = f"/api/v1/masters/{m}/events"
    assert c.post(url, json=ev("a")).status_code == 401
    assert c.post(url, json=ev("a"), headers=world.h("mtp_nope")).status_code == 401
    assert c.post(url, json=ev("a"), headers=world.h(world.follow)).status_code == 403
    r = c.get(f"/api/v1/followers/{f}/masters/{m}/events", headers=world.h(world.other_follow))
    assert r.status_code == 403  # a follow token reads only its own follower
    r = c.get(
        f"/api/v1/followers/{world.other_follower_id}/masters/{m}/events",
        headers=world.h(world.other_follow),
    )
    assert r.status_code == 404  # not subscribed
    assert c.post(url, json=ev("a"), headers=world.h(world.admin)).status_code == 201


def test_revoked_and_expired_tokens(world: World):
    from datetime import UTC, datetime, timedelta

    from mtponte.copy.server.models import ApiToken

    app = world.client.app
    with app.state.sessions() as s:
        for t in s.query(ApiToken).filter(ApiToken.scope == "follow"):
            t.revoked = True
        s.query(ApiToken).filter(ApiToken.scope == "publish").update(
            {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
        )
        s.commit()
    c = world.client
    r = c.post(
        f"/api/v1/masters/{world.master_id}/events", json=ev("a"), headers=world.h(world.publish)
    )
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    r = c.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
        headers=world.h(world.follow),
    )
    assert r.status_code == 401


def test_idempotent_sequenced_events(world: World):
    c, url = world.client, f"/api/v1/masters/{world.master_id}/events"
    h = world.h(world.publish)
    r1 = c.post(url, json=ev("k1"), headers=h)
    r2 = c.post(url, json=ev("k1"), headers=h)  # a retried post
    r3 = c.post(url, json=ev("k2", "close"), headers=h)
    assert (r1.status_code, r2.status_code, r3.status_code) == (201, 200, 201)
    assert r1.json()["seq"] == r2.json()["seq"] == 1 and r3.json()["seq"] == 2


def test_concurrent_publishers_get_distinct_consecutive_seqs(world: World):
    c, url, h = world.client, f"/api/v1/masters/{world.master_id}/events", world.h(world.publish)
    with ThreadPoolExecutor(8) as pool:
        seqs = list(
            pool.map(
                lambda k: c.post(url, json=ev(f"k{k}", ticket=str(k + 1)), headers=h).json()["seq"],
                range(40),
            )
        )
    assert sorted(seqs) == list(range(1, 41))


def test_follower_reads_events_after_cursor_and_long_polls(world: World):
    c, m, f = world.client, world.master_id, world.follower_id
    hp, hf = world.h(world.publish), world.h(world.follow)
    c.post(f"/api/v1/masters/{m}/events", json=ev("k1"), headers=hp)
    url = f"/api/v1/followers/{f}/masters/{m}/events"
    r = c.get(url, params={"after": 0}, headers=hf).json()
    assert [e["seq"] for e in r["events"]] == [1] and r["cursor"] == 1 and r["master_online"]

    def later():
        time.sleep(0.3)
        c.post(f"/api/v1/masters/{m}/events", json=ev("k2", "close"), headers=hp)

    threading.Thread(target=later).start()
    t0 = time.monotonic()
    r = c.get(url, params={"after": 1, "wait": 10}, headers=hf).json()
    dt = time.monotonic() - t0
    assert [e["kind"] for e in r["events"]] == ["close"] and dt < 5  # woken, not timed out
    t0 = time.monotonic()
    r = c.get(url, params={"after": 2, "wait": 0.3}, headers=hf).json()
    assert r["events"] == [] and r["cursor"] == 2 and time.monotonic() - t0 >= 0.25


def test_resync_when_cursor_is_too_old_or_ahead(world: World):
    c, m, f = world.client, world.master_id, world.follower_id
    hp, hf = world.h(world.publish), world.h(world.follow)
    c.post(
        f"/api/v1/masters/{m}/snapshots",
        headers=hp,
        json={
            "positions": [
                {"ticket": "7", "symbol": "EURUSD", "side": "buy", "volume": 0.1, "open_price": 1.1}
            ]
        },
    )
    for k in range(210):  # retention 50: old events are trimmed
        r = c.post(f"/api/v1/masters/{m}/events", json=ev(f"k{k}", ticket=str(k + 10)), headers=hp)
        assert r.status_code == 201
    url = f"/api/v1/followers/{f}/masters/{m}/events"
    # A resync is the snapshot with every later event applied, current at the newest seq.
    r = c.get(url, params={"after": 3}, headers=hf).json()
    assert r["resync"] and r["cursor"] == 210
    assert [p["ticket"] for p in r["snapshot"]] == ["7"] + [str(k + 10) for k in range(210)]
    r = c.get(url, params={"after": 9999}, headers=hf).json()
    assert r["resync"] and r["cursor"] == 210 and len(r["snapshot"]) == 211
    r = c.get(url, params={"after": 205}, headers=hf).json()
    assert not r["resync"] and [e["seq"] for e in r["events"]] == [206, 207, 208, 209, 210]


def test_settings_etag(world: World):
    c = world.client
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/settings"
    r = c.get(url, headers=world.h(world.follow))
    assert r.json() == {"volumeMultiplier": 2.0}
    etag = r.headers["ETag"]
    r2 = c.get(url, headers=world.h(world.follow) | {"If-None-Match": etag})
    assert r2.status_code == 304


def test_heartbeats_and_reports(world: World):
    c, f, m, hf = world.client, world.follower_id, world.master_id, world.h(world.follow)
    r = c.post(
        f"/api/v1/followers/{f}/heartbeats",
        headers=hf,
        json={"balance": 1000, "equity": 990, "cursor": 3, "positions": []},
    )
    assert r.status_code == 204
    r = c.post(
        f"/api/v1/followers/{f}/reports",
        headers=hf,
        json={
            "master_id": m,
            "event_seq": 1,
            "status": "skipped",
            "reason": "symbol filter",
            "latency_ms": 12.5,
        },
    )
    assert r.status_code == 204


def test_bad_input_is_4xx_never_500(world: World):
    c, url, h = world.client, f"/api/v1/masters/{world.master_id}/events", world.h(world.publish)
    for body in (
        {},
        {"kind": "open"},
        ev("x", volume=-1),
        ev("x", ticket="abc"),
        ev("x", kind="teleport"),
        ev("x", extra=1),
    ):
        assert c.post(url, json=body, headers=h).status_code == 422
    r = c.post(url, content=b"x" * 300_000, headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 413
    assert c.post("/api/v1/masters/999/events", json=ev("x"), headers=h).status_code == 404
    assert (
        c.get(
            f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
            params={"after": -1},
            headers=world.h(world.follow),
        ).status_code
        == 422
    )


def test_tokens_never_in_access_logs():
    import logging

    from mtponte.copy.server.app import RedactTokens

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s"',
        ("1.2.3.4", "GET", "/api/mt/copy/t/mtp_SECRET/slave-signals?x=1"),
        None,
    )
    RedactTokens().filter(rec)
    assert "SECRET" not in rec.getMessage() and "/t/***/slave-signals" in rec.getMessage()


def test_migrations_match_the_models(db_url):
    """Alembic's head creates exactly the tables and columns the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mtponte.copy.server.db import make_engine, upgrade
    from mtponte.copy.server.models import Base

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
