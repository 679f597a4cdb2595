"""Regression tests for the independent review of the review fixes: bodies exactly as the
Sentra Master EA v4 builds them, partial heartbeats, retries in any order, compaction
racing readers, re-created operators, abandoned long polls, first snapshots racing a
compaction, and a new follower's starting book."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx

from mtponte.copy.server import admin, service
from mtponte.copy.server.models import Account, Event
from mtponte.copy.server.settings import ServerSettings
from tests.copy.server.conftest import World, make_world
from tests.copy.server.test_compat import ea_parse, slave_signals
from tests.copy.server.test_dashboard import login
from tests.copy.server.test_review_high_medium import churn, events, native, tickets_polled
from tests.integration.test_copy_push import serve


def post_raw(world: World, body: str):
    return world.client.post(
        f"/api/mt/copy/t/{world.publish}/master-signal",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )


HEAD = '{{"action":"{a}","master_email":"master@x.io","account_number":"1001","timestamp":{t},'


def v4_open(t: int, ticket: int = 123456, symbol: str = "EURUSD", lots: str = "0.10") -> str:
    return (
        HEAD.format(a="open", t=t)
        + f'"ticket":{ticket},"symbol":"{symbol}","type":0,"lots":{lots},"open_price":1.10000,'
        + f'"stop_loss":0.00000,"take_profit":0.00000,"open_time":{t},"comment":""}}'
    )


def v4_modify(t: int, sl: str, tp: str = "1.12000", ticket: int = 123456) -> str:
    return HEAD.format(a="modify", t=t) + f'"ticket":{ticket},"stop_loss":{sl},"take_profit":{tp}}}'


def v4_close(t: int, ticket: int = 123456) -> str:
    return HEAD.format(a="close", t=t) + f'"ticket":{ticket},"profit":1.50,"close_price":1.10150}}'


def native_events(world: World, after: int = 0) -> list[dict]:
    return events(world, after)["events"]


def test_v4_close_and_modify_carry_no_symbol_and_are_accepted(world: World):
    t = int(time.time())
    for body in (v4_open(t), v4_modify(t + 1, "1.09000"), v4_close(t + 2)):
        r = post_raw(world, body)
        assert r.status_code == 200 and r.json()["success"], r.text
    evs = native_events(world)
    assert [e["kind"] for e in evs] == ["open", "modify", "close"]
    assert evs[1]["payload"]["symbol"] == "EURUSD"  # filled in from the book
    assert evs[1]["payload"]["sl"] == 1.09


def test_v4_modify_removing_a_level_reaches_native_followers(world: World):
    t = int(time.time())
    post_raw(world, v4_open(t))
    post_raw(world, v4_modify(t + 1, "1.09000"))
    post_raw(world, v4_modify(t + 2, "0.00000"))
    _, pos = ea_parse(slave_signals(world).text)
    assert pos[0]["stop_loss"] == "0" and pos[0]["take_profit"] == "1.12"
    assert native_events(world)[-1]["payload"]["sl"] is None


def test_symbols_with_inner_spaces(world: World):
    t = int(time.time())
    assert post_raw(world, v4_open(t, 777, "Boom 1000 Index")).json()["success"]
    assert tickets_polled(world) == ["777"]
    assert post_raw(world, v4_open(t, 778, " Padded")).status_code == 400


def test_one_unreadable_position_never_rejects_a_heartbeat(world: World):
    t = int(time.time())
    pos = '{{"ticket":{k},"symbol":"EURUSD","type":0,"lots":{lots},"open_price":1.1}}'

    def heartbeat(*items: str) -> httpx.Response:
        return post_raw(
            world, HEAD.format(a="heartbeat", t=t) + f'"positions":[{",".join(items)}]}}'
        )

    assert heartbeat(pos.format(k=1, lots="0.10"), pos.format(k=2, lots="0.10")).json() == {
        "success": True,
        "positions_count": 2,
    }
    # 0.001 lots printed with two decimals by the EA: unreadable, kept as last known.
    r = heartbeat(pos.format(k=1, lots="0.00"), pos.format(k=3, lots="0.10"))
    assert r.status_code == 200 and r.json()["positions_count"] == 2
    assert [x["ticket"] for x in r.json()["rejected"]] == ["1"]
    assert tickets_polled(world) == ["1", "3"]  # 1 kept, 2 closed, 3 opened
    r = heartbeat(pos.format(k=9, lots="0.00"))  # never known: left out
    assert r.json()["positions_count"] == 0 and tickets_polled(world) == []


def test_a_retried_open_after_a_later_modify_is_stored(world: World):
    t = int(time.time())
    # The open's post failed; its modify (5 s later) got through; then the open is re-sent.
    assert post_raw(world, v4_modify(t + 5, "1.09000")).status_code == 200
    assert post_raw(world, v4_open(t)).json()["success"]
    assert [e["kind"] for e in native_events(world)] == ["modify", "open"]
    assert tickets_polled(world) == ["123456"]
    again = post_raw(world, v4_open(t)).json()["seq"]  # and a retry of it is a retry
    assert again == native_events(world)[-1]["seq"]


def test_a_late_retry_of_an_earlier_modify_in_the_same_second_is_dropped():
    def ev(seq: int, sl: float, created: datetime) -> Event:
        return Event(
            seq=seq,
            kind="modify",
            ticket="5",
            payload={"kind": "modify", "ticket": "5", "time": 1000, "sl": sl},
            created_at=created,
        )

    now = datetime.now(UTC)
    stored = [ev(1, 1.05, now - timedelta(seconds=6)), ev(2, 1.07, now - timedelta(seconds=5))]
    retry = {"kind": "modify", "ticket": "5", "time": 1000, "sl": 1.05}
    assert service.sentra_seen(stored, "modify", retry, now) is stored[0]  # re-sent after 5 s
    quick = [ev(1, 1.05, now - timedelta(seconds=0.5)), ev(2, 1.07, now)]
    assert service.sentra_seen(quick, "modify", retry, now) is None  # a real change back


def test_readers_never_see_a_half_done_compaction(world: World, monkeypatch):
    """Force a compaction to commit between the reader's snapshot read and its event
    read (the review's interleaving): the reader must read again, not lose ticket 1."""
    assert native(world, "keep", ticket="1").status_code == 201
    churn(world, 98)  # seq 99: the next publish (seq 100) compacts up to seq 50
    real = service.events_after
    fired = threading.Event()

    def events_after(session, master, after, limit=500):
        if not fired.is_set():
            fired.set()
            t = threading.Thread(target=native, args=(world, "trigger"), kwargs={"ticket": "999"})
            t.start()
            t.join()
        return real(session, master, after, limit)

    monkeypatch.setattr(service, "events_after", events_after)
    with world.client.app.state.sessions() as s:
        master = s.get(Account, world.master_id)
        _, book = service.current_book(s, master)
    assert fired.is_set()
    assert {p["ticket"] for p in book} >= {"1"}


def test_read_after_detects_a_gap_left_by_a_concurrent_trim(world: World):
    assert native(world, "keep", ticket="1").status_code == 201
    churn(world, 120)
    with world.client.app.state.sessions() as s:
        master = s.get(Account, world.master_id)
        _, evs, snapshot = service.read_after(s, master, 30)  # 31..50 trimmed at seq 100
    assert snapshot is not None and {p["ticket"] for p in snapshot} == {"1"} and not evs


def test_a_recreated_operator_does_not_revive_an_old_cookie(world: World):
    c = world.client
    assert login(world).status_code == 303
    stolen = dict(c.cookies)
    with c.app.state.sessions() as s:
        admin.remove_operator(s, "ops@x.io")
        admin.add_operator(s, "ops@x.io", "a brand new password")
        s.commit()
    c.cookies.clear()
    c.cookies.update(stolen)
    assert c.get("/", follow_redirects=False).status_code == 303


def test_an_abandoned_long_poll_gives_its_slot_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'slots.db'}"
    for world in make_world(url):  # builds the accounts and tokens; served below for real
        ids = SimpleNamespace(m=world.master_id, f=world.follower_id, tok=world.follow)
    with serve(ServerSettings(database_url=url, max_streams_per_token=2)) as base:
        poll = f"{base}/api/v1/followers/{ids.f}/masters/{ids.m}/events?after=0&wait=20"
        h = {"Authorization": f"Bearer {ids.tok}"}
        for _ in range(4):  # clients that give up after 0.3 s
            with contextlib.suppress(httpx.TimeoutException):
                httpx.get(poll, headers=h, timeout=0.3)
        time.sleep(1.5)  # within about a second the server notices they left
        r = httpx.get(poll.replace("wait=20", "wait=0.2"), headers=h, timeout=5)
        assert r.status_code == 200, r.text


def test_first_snapshot_racing_the_first_compaction_is_no_500(world: World):
    assert native(world, "a", ticket="1").status_code == 201
    churn(world, 98)
    pos = [{"ticket": "1", "symbol": "EURUSD", "side": "buy", "volume": 0.1, "open_price": 1.1}]
    codes: list[int] = []

    def snap() -> None:
        codes.append(
            world.client.post(
                f"/api/v1/masters/{world.master_id}/snapshots",
                json={"positions": pos},
                headers=world.h(world.publish),
            ).status_code
        )

    threads = [threading.Thread(target=snap) for _ in range(3)]
    threads.append(threading.Thread(target=native, args=(world, "c100"), kwargs={"ticket": "7"}))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [204, 204, 204]


def test_a_new_follower_starts_from_the_book(world: World):
    pos = {"ticket": 77, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    post_raw(
        world,
        HEAD.format(a="heartbeat", t=int(time.time()))
        + f'"positions":[{str(pos).replace(chr(39), chr(34))}]}}',
    )
    assert native(world, "n", ticket="5").status_code == 201
    r = world.client.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
        params={"resync": "true"},
        headers=world.h(world.follow),
    ).json()
    assert r["resync"] and [p["ticket"] for p in r["snapshot"]] == ["5", "77"]
    assert r["cursor"] == 1 and not events(world, r["cursor"])["resync"]
