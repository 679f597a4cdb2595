"""Regression tests for the adversarial review of the copy server
(``shared/reviews/copy-server-security-review.md``): H1-H3 and M1-M7. Each reproduces
the review's finding and asserts the fixed behaviour."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest

from mtponte.copy.server import admin
from tests.copy.server.conftest import World, make_world
from tests.copy.server.test_compat import ea_parse, signal, slave_signals
from tests.copy.server.test_dashboard import csrf_of, login


def native(world: World, key: str, kind: str = "open", ticket: str = "1", **kw):
    body = {"kind": kind, "idempotency_key": key, "ticket": ticket, "symbol": "EURUSD"}
    if kind == "open":
        body |= {"side": "buy", "volume": 0.1, "price": 1.1}
    body |= kw
    return world.client.post(
        f"/api/v1/masters/{world.master_id}/events", json=body, headers=world.h(world.publish)
    )


def events(world: World, after: int):
    r = world.client.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
        params={"after": after},
        headers=world.h(world.follow),
    )
    assert r.status_code == 200, r.text
    return r.json()


def tickets_polled(world: World) -> list[str]:
    ok, pos = ea_parse(slave_signals(world).text)
    assert ok
    return [p["ticket"] for p in pos]


def churn(world: World, n: int, first: int = 100) -> None:
    """``n`` events on other tickets (open then close), as a busy master makes."""
    for k in range(n // 2):
        t = str(first + k)
        assert native(world, f"o{t}", ticket=t).status_code == 201
        assert native(world, f"c{t}", "close", ticket=t).status_code == 201


# --- H1: retention never loses a position --------------------------------------------


def test_h1_trimmed_events_without_any_snapshot_keep_open_positions(world: World):
    assert native(world, "keep", ticket="1").status_code == 201
    churn(world, 300)  # retention 50: seq 1 is trimmed long before the end
    assert tickets_polled(world) == ["1"]  # Sentra slaves keep their copy
    r = events(world, 0)
    assert r["resync"] and [p["ticket"] for p in r["snapshot"]] == ["1"]
    cursor = r["cursor"]
    assert cursor == 301
    r = events(world, cursor)  # the resync cursor moves forward: no resync loop
    assert not r["resync"] and r["events"] == [] and r["cursor"] == cursor


def test_h1_snapshot_older_than_the_oldest_kept_event(world: World):
    pos = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    assert signal(world, "heartbeat", positions=[pos]).json()["success"]
    assert native(world, "after-snap", ticket="6").status_code == 201  # opened after it
    churn(world, 300)
    assert tickets_polled(world) == ["5", "6"]
    r = events(world, 0)
    assert r["resync"] and [p["ticket"] for p in r["snapshot"]] == ["5", "6"]
    assert not events(world, r["cursor"])["resync"]


def test_h1_a_follower_behind_reads_on_without_losing_anything(world: World):
    """Book from a resync + events read after it == the master's book."""
    assert native(world, "a", ticket="1").status_code == 201
    churn(world, 120)
    r = events(world, 2)  # seq 2 was trimmed
    book = {p["ticket"] for p in r["snapshot"]}
    assert native(world, "b", ticket="2").status_code == 201
    assert native(world, "c", ticket="3").status_code == 201
    assert native(world, "x", "close", ticket="3").status_code == 201
    later = events(world, r["cursor"])
    for e in later["events"]:
        if e["kind"] == "open":
            book.add(e["ticket"])
        elif e["kind"] == "close":
            book.discard(e["ticket"])
    assert book == {"1", "2"} and set(tickets_polled(world)) == {"1", "2"}


# --- H2: a Sentra heartbeat must carry its position list ----------------------------


@pytest.mark.parametrize("positions", ["missing", None, {}, 0, False, "[]"])
def test_h2_heartbeat_without_a_positions_list_is_refused(world: World, positions):
    pos = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    assert signal(world, "heartbeat", positions=[pos]).json()["success"]
    extra = {} if positions == "missing" else {"positions": positions}
    r = signal(world, "heartbeat", **extra)
    assert r.status_code == 400 and "positions" in r.text
    assert tickets_polled(world) == ["5"]  # nobody is told to close their copy


def test_h2_an_empty_list_still_means_flat(world: World):
    pos = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    signal(world, "heartbeat", positions=[pos])
    assert signal(world, "heartbeat", positions=[]).json() == {
        "success": True,
        "positions_count": 0,
    }
    assert tickets_polled(world) == []


# --- H3: Sentra POSTs never block the event loop -------------------------------------


@pytest.mark.parametrize("route", ["master-signal", "slave-heartbeat"])
def test_h3_a_busy_sqlite_lock_does_not_freeze_polls(tmp_path, route):
    db = tmp_path / "busy.db"
    for world in make_world(f"sqlite:///{db}"):
        pos = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
        signal(world, "heartbeat", positions=[pos])
        assert slave_signals(world).status_code == 200  # cached from here on
        holder = sqlite3.connect(db, timeout=30)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for 2 s
        if route == "master-signal":
            token, body = world.publish, {"action": "heartbeat", "account_number": "1001"}
            body["positions"] = [pos]
        else:
            token, body = world.follow, {"master_account_id": "1001", "positions_count": 1}
        post = threading.Thread(
            target=world.client.post,
            args=(f"/api/mt/copy/t/{token}/{route}",),
            kwargs={"json": body},
        )
        post.start()
        time.sleep(0.3)  # the post is now waiting for the lock
        slowest = 0.0
        for _ in range(10):
            t0 = time.monotonic()
            assert slave_signals(world).status_code == 200
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.1)
        holder.rollback()
        holder.close()
        post.join(timeout=30)
        # Before the fix every poll waited for the lock (seconds); now it never does.
        assert slowest < 0.5, slowest


# --- M1: unauthenticated input never causes a 500 ------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "path",
    [
        "/api/ea-license/validate",
        "/api/mt/copy/t/mtp_bogus/master-signal",
        "/api/mt/copy/t/mtp_bogus/slave-heartbeat",
    ],
)
def test_m1_deep_json_is_a_4xx(world: World, path):
    r = world.client.post(path, content=DEEP, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_m1_a_bogus_token_is_refused_before_the_body_is_read(world: World):
    r = world.client.post(
        "/api/mt/copy/t/mtp_bogus/master-signal", json={"action": "open", "master_email": {"a": 1}}
    )
    assert r.status_code == 401


# --- M2: bad values are 4xx, never 500 -----------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_m2_non_finite_floats_on_the_native_api(world: World, bad):
    c, m, f = world.client, world.master_id, world.follower_id
    hp, hf = world.h(world.publish), world.h(world.follow)
    posted = [
        (f"/api/v1/masters/{m}/events", hp, native_body(price=bad)),
        (
            f"/api/v1/masters/{m}/snapshots",
            hp,
            '{"positions":[{"ticket":"1","symbol":"X","side":"buy","volume":BAD,"open_price":1}]}'.replace(
                "BAD", bad
            ),
        ),
        (f"/api/v1/followers/{f}/heartbeats", hf, '{"balance":BAD}'.replace("BAD", bad)),
        (
            f"/api/v1/followers/{f}/reports",
            hf,
            f'{{"master_id":{m},"status":"copied","latency_ms":{bad}}}',
        ),
    ]
    for url, h, body in posted:
        r = c.post(url, content=body, headers=h | {"content-type": "application/json"})
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert "finite" in r.text or "number" in r.text


def native_body(**kw: str) -> str:
    fields = {
        "kind": '"open"',
        "idempotency_key": '"k"',
        "ticket": '"1"',
        "symbol": '"EURUSD"',
        "side": '"buy"',
        "volume": "0.1",
        "price": "1.1",
    } | kw
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


@pytest.mark.parametrize(
    "extra",
    [
        {"ticket": "²"},
        {"lots": int("9" * 401)},
        {"timestamp": 1e306},
        {"ticket": 2**64},
        {"open_time": 1e300},
    ],
)
def test_m2_compat_master_signal_overflow_and_odd_digits(world: World, extra):
    body = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1} | extra
    r = signal(world, "open", **body)
    assert r.status_code == 400, r.text


def test_m2_compat_slave_heartbeat_count_overflow(world: World):
    r = world.client.post(
        f"/api/mt/copy/t/{world.follow}/slave-heartbeat",
        json={"master_account_id": "1001", "positions_count": 1e30},
    )
    assert r.status_code == 400


def test_m2_sse_last_event_id_must_be_a_seq(world: World):
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/stream"
    for bad in (b"\xb2", b"-1", b"99999999999999999999999"):
        r = world.client.get(url, headers=world.h(world.follow) | {"Last-Event-ID": bad})
        assert r.status_code == 400, bad


@pytest.mark.parametrize(
    "field",
    [("account", "99999999999999999999"), ("account", "²"), ("days", "99999999999"), ("days", "²")],
)
def test_m2_dashboard_token_form_values(world: World, field):
    c = world.client
    login(world)
    csrf = csrf_of(c.get("/tokens").text)
    data = {"scope": "follow", "account": str(world.follower_id), "days": "", "csrf": csrf}
    data[field[0]] = field[1]
    r = c.post("/tokens", data=data)
    assert r.status_code == 400 and field[0] in r.text


# --- M4: garbage is refused by one validation layer ----------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"lots": -5},
        {"lots": 0},
        {"lots": True},
        {"open_price": -1},
        {"type": 2},
        {"type": -7},
        {"symbol": ""},
        {"symbol": "EUR\x00USD"},
        {"symbol": "E" * 60},
        {"timestamp": -1e12},
        {"ticket": 2**64},
        {"ticket": "١٢٣"},
    ],
)
def test_m4_compat_open_garbage(world: World, extra):
    assert signal(world, "heartbeat", positions=[]).json()["success"]  # online, flat
    body = {"ticket": 5, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1} | extra
    r = signal(world, "open", **body)
    assert r.status_code == 400, (extra, r.text)
    assert tickets_polled(world) == []


@pytest.mark.parametrize(
    "position",
    [
        {"ticket": 1, "type": 0, "lots": 0.1, "open_price": 1.1},  # no symbol
        {"ticket": 1, "symbol": "X", "type": 0, "lots": 0.1},  # no price
        {"ticket": 1, "symbol": "X", "type": 0, "lots": -1, "open_price": 1.1},
        {"ticket": 1, "symbol": "X", "type": 2, "lots": 0.1, "open_price": 1.1},
    ],
)
def test_m4_compat_heartbeat_positions(world: World, position):
    """A position that does not validate never reaches a follower; the others do (one
    unreadable position must not reject the whole heartbeat: see test_review_followup)."""
    ok = {"ticket": 2, "symbol": "Y", "type": 1, "lots": 0.2, "open_price": 1.2}
    r = signal(world, "heartbeat", positions=[position, ok])
    assert r.status_code == 200 and [x["ticket"] for x in r.json()["rejected"]] == ["1"]
    assert tickets_polled(world) == ["2"]


def test_m4_compat_heartbeat_limits(world: World):
    pos = {"ticket": 1, "symbol": "X", "type": 0, "lots": 0.1, "open_price": 1.1}
    r = signal(world, "heartbeat", positions=[pos, pos, pos])  # one ticket three times
    assert r.json()["rejected"] == [{"ticket": "1", "error": "ticket listed twice"}]
    assert tickets_polled(world) == []
    many = [pos | {"ticket": k + 1} for k in range(1001)]
    assert signal(world, "heartbeat", positions=many).status_code in (400, 413)


@pytest.mark.parametrize(
    "body",
    [
        {"side": None},
        {"volume": None},
        {"price": None},
        {"ticket": "١٢٣"},
        {"ticket": "𝟗𝟎𝟐"},
        {"symbol": "EUR\x00USD"},
        {"symbol": "EUR\u202eUSD"},
        {"volume": 1e308},
    ],
)
def test_m4_native_open_garbage(world: World, body):
    fields = {
        "kind": "open",
        "idempotency_key": "k",
        "ticket": "1",
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "price": 1.1,
    } | body
    fields = {k: v for k, v in fields.items() if v is not None}
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events", json=fields, headers=world.h(world.publish)
    )
    assert r.status_code == 422, (body, r.text)


def test_m4_leading_zeros_name_the_same_ticket(world: World):
    assert native(world, "o", ticket="00000000000000000903").status_code == 201
    assert tickets_polled(world) == ["903"]
    assert native(world, "c", "close", ticket="903").status_code == 201
    assert tickets_polled(world) == []


def test_m4_duplicate_ticket_in_a_native_snapshot(world: World):
    p = {"ticket": "7", "symbol": "EURUSD", "side": "buy", "volume": 0.1, "open_price": 1.1}
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/snapshots",
        json={"positions": [p, p]},
        headers=world.h(world.publish),
    )
    assert r.status_code == 422 and "twice" in r.text


# --- M5: idempotency ------------------------------------------------------------------


def test_m5_a_key_reused_for_another_event_is_a_conflict(world: World):
    assert native(world, "K1", "open", ticket="4").status_code == 201
    r = native(world, "K1", "close", ticket="4")
    assert r.status_code == 409 and "K1" in r.text
    assert tickets_polled(world) == ["4"]  # the close was not taken for the open
    assert native(world, "K1", "open", ticket="4").status_code == 200  # a true retry


def test_m5_sentra_modify_back_in_the_same_second_is_kept(world: World):
    ts = int(time.time())
    base = {"ticket": 5, "symbol": "EURUSD", "timestamp": ts}
    signal(world, "open", **base, type=0, lots=0.1, open_price=1.2, stop_loss=1.05)
    seqs = [
        signal(world, "modify", **base, stop_loss=sl).json()["seq"] for sl in (1.10, 1.15, 1.10)
    ]
    assert len(set(seqs)) == 3  # three distinct events
    _, pos = ea_parse(slave_signals(world).text)
    assert pos[0]["stop_loss"] == "1.1"
    again = signal(world, "modify", **base, stop_loss=1.10).json()["seq"]  # a retry
    assert again == seqs[-1]


# --- M6: one account number at two brokers -------------------------------------------


def test_m6_the_master_is_the_publish_tokens_own_account(world: World):
    with world.client.app.state.sessions() as s:
        twin = admin.add_account(s, "master", "1001", "BrokerZ", "twin@z.io")
        twin_token = admin.issue_token(s, "publish", twin)
        s.commit()
    assert signal(world, "heartbeat", positions=[]).json()["success"]  # the first 1001
    body = {
        "action": "open",
        "account_number": "1001",
        "ticket": 9,
        "symbol": "EURUSD",
        "type": 0,
        "lots": 0.1,
        "open_price": 1.1,
        "timestamp": 1,
    }
    r = world.client.post(f"/api/mt/copy/t/{twin_token}/master-signal", json=body)
    assert r.json()["success"]
    assert tickets_polled(world) == []  # the first 1001's followers copy nothing of it
    other = world.client.post(
        f"/api/mt/copy/t/{twin_token}/master-signal", json=body | {"account_number": "1002"}
    )
    assert other.status_code == 403  # naming another account is refused


# --- M7: dashboard sessions can be ended ---------------------------------------------


def test_m7_a_copied_cookie_dies_with_logout(world: World):
    c = world.client
    assert login(world).status_code == 303
    stolen = dict(c.cookies)
    c.post("/logout", data={"csrf": csrf_of(c.get("/").text)})
    c.cookies.clear()
    c.cookies.update(stolen)
    assert c.get("/", follow_redirects=False).status_code == 303  # back to the log-in


def test_m7_a_removed_operator_can_issue_nothing(world: World):
    c = world.client
    assert login(world).status_code == 303
    csrf = csrf_of(c.get("/tokens").text)
    with c.app.state.sessions() as s:
        admin.remove_operator(s, "ops@x.io")
        s.commit()
    r = c.post("/tokens", data={"scope": "admin", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_m7_sessions_end_after_their_maximum_age(db_url, monkeypatch):
    from mtponte.copy.server.routers import dashboard

    for world in make_world(db_url, session_max_age_s=60):
        c = world.client
        assert login(world).status_code == 303
        assert c.get("/", follow_redirects=False).status_code == 200
        later = SimpleNamespace(time=lambda: time.time() + 61)
        monkeypatch.setattr(dashboard, "time", later)  # the dashboard's clock only
        assert c.get("/", follow_redirects=False).status_code == 303


def test_nan_is_not_json(world: World):
    """The 422 body itself must be JSON (the old handler failed on echoing NaN)."""
    r = world.client.post(
        f"/api/v1/followers/{world.follower_id}/heartbeats",
        content='{"balance":NaN}',
        headers=world.h(world.follow) | {"content-type": "application/json"},
    )
    detail = json.loads(r.text)["detail"]
    assert r.status_code == 422 and not any(
        isinstance(v, float) and not math.isfinite(v) for d in detail for v in d.values()
    )
