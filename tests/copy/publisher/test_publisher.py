"""The publisher against a real in-process copy server: durability, order, outages,
dead letters, snapshots and the token's secrecy."""

from __future__ import annotations

import logging

import httpx
import pytest

from mtponte.copy.publisher import Outbox, Pos, Publisher, PublisherSettings
from mtponte.copy.server.book import apply_events
from mtponte.copy.server.models import Snapshot
from mtponte.domain.side import Side
from mtponte.domain.symbols import EURUSD
from mtponte.errors import ConfigError
from tests.copy.publisher.conftest import Crash, Rig

T0 = 1_800_000_000.0


def expected(rig: Rig) -> list[dict]:
    from mtponte.copy.publisher import to_pos

    ps = sorted((to_pos(p) for p in rig.broker.positions()), key=lambda p: int(p.ticket))
    return [p.as_json() for p in ps]


def norm(book: list[dict]) -> list[dict]:
    """A server book entry as :meth:`Pos.as_json` writes it."""
    return [Pos.from_json(p).as_json() for p in book]


def snapshots(rig: Rig) -> int:
    return sum(1 for path, what in rig.transport.seen if path.endswith("/snapshots"))


def test_open_modify_partial_close_close_reach_the_server_in_order(rig: Rig):
    pub = rig.publisher()
    b = rig.broker
    t = b.market_order("EURUSD", Side.BUY, 0.5, sl=1.09, tp=1.2).ticket
    s = pub.poll_once(T0)
    assert (s.queued, s.delivered, s.pending, s.snapshot, s.server_ok) == (1, 1, 0, True, True)
    b.modify_position(t, 1.095, 1.2)
    b.close_position(t, 0.2)
    pub.poll_once(T0 + 1)
    assert norm(rig.book()) == expected(rig)
    b.close_position(t)
    pub.poll_once(T0 + 2)
    evs = rig.events()
    assert [(e.kind, e.payload.get("volume")) for e in evs] == [
        ("open", 0.5),
        ("partial_close", 0.2),
        ("modify", None),
        ("close", None),
    ]
    assert evs[2].payload["sl"] == 1.095 and evs[0].payload["time"] == int(T0 * 1000)
    assert rig.book() == []


def test_sl_a_b_a_gives_three_modifies_with_distinct_keys(rig: Rig):
    pub = rig.publisher()
    t = rig.broker.market_order("EURUSD", Side.BUY, 0.1, sl=1.09).ticket
    pub.poll_once(T0)
    for i, sl in enumerate((1.08, 1.09, 1.08)):
        rig.broker.modify_position(t, sl, None)
        pub.poll_once(T0 + 1 + i)
    mods = [e for e in rig.events() if e.kind == "modify"]
    assert [e.payload["sl"] for e in mods] == [1.08, 1.09, 1.08]
    assert len({e.idempotency_key for e in mods}) == 3


def test_events_are_on_disk_before_any_http_call_and_a_restart_delivers_them_once(rig: Rig):
    rig.transport.plan = lambda r: "crash"
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    with pytest.raises(Crash):
        pub.poll_once(T0)
    del pub  # killed: no drain, no close
    assert rig.events() == []
    probe = Outbox(rig.state_dir, rig.world.master_id)
    (queued,) = probe.pending()
    probe.close()
    rig.transport.plan = lambda r: "ok"
    again = rig.publisher()
    s = again.poll_once(T0 + 1)
    assert (s.queued, s.delivered, s.pending) == (0, 1, 0)
    (ev,) = rig.events()
    assert ev.idempotency_key == queued.key and ev.kind == "open"


def test_an_answer_lost_after_the_server_stored_the_event_is_resent_and_answered_200(rig: Rig):
    answers = iter(["crash_after"])
    rig.transport.plan = lambda r: next(answers, "ok")
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    with pytest.raises(Crash):
        pub.poll_once(T0)
    assert len(rig.events()) == 1  # stored; the publisher never heard
    rig.publisher().poll_once(T0 + 1)
    assert len(rig.events()) == 1
    assert ("/api/v1/masters/1/events", "ok") in rig.transport.seen[1:]


def test_a_crash_between_diff_and_commit_loses_nothing(rig: Rig, monkeypatch):
    real = Outbox.record

    def dying(self, *a, **kw):
        raise Crash("killed inside the transaction")

    monkeypatch.setattr(Outbox, "record", dying)
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    with pytest.raises(Crash):
        pub.poll_once(T0)
    monkeypatch.setattr(Outbox, "record", real)
    rig.publisher().poll_once(T0 + 1)
    assert [e.kind for e in rig.events()] == ["open"]


def scenario(rig: Rig, pub_factory, until_crash: bool = True) -> None:
    """Five polls of master activity; a :class:`Crash` restarts the publisher."""
    b = rig.broker
    steps = [
        lambda: (
            b.market_order("EURUSD", Side.BUY, 0.3, sl=1.0),
            b.market_order("EURUSD", Side.SELL, 0.2),
        ),
        lambda: b.modify_position(b.positions()[0].ticket, 1.01, 1.3),
        lambda: b.close_position(b.positions()[0].ticket, 0.1),
        lambda: b.close_position(b.positions()[1].ticket),
        lambda: b.market_order("EURUSD", Side.BUY, 0.05),
    ]
    pub = pub_factory()
    now = T0
    for step in steps:
        step()
        while True:
            now += 10
            try:
                pub.poll_once(now)
                break
            except Crash:
                pub = pub_factory()  # the dead one is dropped as it is
    for _ in range(3):
        now += 10
        try:
            pub.poll_once(now)
        except Crash:
            pub = pub_factory()
    now += 10
    pub.poll_once(now)
    assert pub.outbox.pending_count() == 0


def reference_kinds() -> list[tuple[str, str]]:
    return [
        ("open", "b"),
        ("open", "s"),
        ("modify", "b"),
        ("partial_close", "b"),
        ("close", "s"),
        ("open", "n"),
    ]


FAILURE_POINTS = [
    *((w, at) for w in ("crash", "crash_after", "lost") for at in range(12)),
    *((w, at) for w in ("down", "503") for at in range(0, 12, 3)),
]


@pytest.mark.parametrize(("where", "at"), FAILURE_POINTS)
def test_a_failure_at_any_request_still_delivers_every_event_exactly_once(rig_factory, where, at):
    rig = rig_factory()
    calls = {"n": 0}

    def plan(_r):
        calls["n"] += 1
        return where if calls["n"] - 1 == at else "ok"

    rig.transport.plan = plan
    scenario(rig, rig.publisher)
    assert (rig.transport.seen[at][1]) == where  # the failure did happen
    evs = rig.events()
    assert len(evs) == len(reference_kinds())
    assert [e.kind for e in evs] == [k for k, _ in reference_kinds()]
    assert len({e.idempotency_key for e in evs}) == len(evs)
    assert norm(rig.book()) == expected(rig)


def test_server_outage_queues_in_order_logs_once_and_delivers_afterwards(rig: Rig, caplog):
    down = {"on": True}
    rig.transport.plan = lambda r: "down" if down["on"] else "ok"
    pub = rig.publisher()
    b = rig.broker
    caplog.set_level(logging.DEBUG, logger="mtponte")
    tickets = []
    for i in range(6):
        tickets.append(b.market_order("EURUSD", Side.BUY, round(0.1 * (i + 1), 2)).ticket)
        if i % 2:
            b.close_position(tickets[i - 1])
        s = pub.poll_once(T0 + i * 10)
        assert s.server_ok in (False, None) and s.delivered == 0
    assert pub.outbox.pending_count() == 9
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert snapshots(rig) == 0
    down["on"] = False
    s = pub.poll_once(T0 + 100)
    assert (s.delivered, s.pending, s.snapshot) == (9, 0, True)
    assert [(e.kind, e.ticket) for e in rig.events()] == [
        (k, str(t))
        for k, t in [
            ("open", tickets[0]),
            ("close", tickets[0]),
            ("open", tickets[1]),
            ("open", tickets[2]),
            ("close", tickets[2]),
            ("open", tickets[3]),
            ("open", tickets[4]),
            ("close", tickets[4]),
            ("open", tickets[5]),
        ]
    ]
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_backoff_grows_is_capped_and_no_request_is_made_before_it_ends(rig: Rig):
    rig.transport.plan = lambda r: "down"
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    waits = []
    now = T0
    for _ in range(8):
        pub.poll_once(now)
        wait = pub._retry_at - now
        waits.append(wait)
        n = len(rig.transport.seen)
        pub.poll_once(now + wait * 0.99)  # too early: no request
        assert len(rig.transport.seen) == n
        now += wait
    assert waits[0] <= 0.5 and waits[1] > waits[0] * 0.9
    assert max(waits) <= 4.0 and waits[-1] >= 2.0  # capped at backoff_max_s, jittered above half


def test_a_409_is_dead_lettered_with_a_clear_message_and_later_events_still_flow(rig: Rig, caplog):
    probe = Outbox(rig.state_dir, rig.world.master_id)
    epoch = probe.epoch
    probe.close()
    t = rig.broker.market_order("EURUSD", Side.BUY, 0.1).ticket
    clash = {
        "kind": "close",
        "idempotency_key": f"{epoch}-1-open-{t}",
        "ticket": "999",
        "symbol": "EURUSD",
    }
    w = rig.world
    r = w.client.post(f"/api/v1/masters/{w.master_id}/events", json=clash, headers=w.h(w.publish))
    assert r.status_code == 201
    pub = rig.publisher()
    s = pub.poll_once(T0)
    assert (s.dead, s.pending, s.snapshot) == (1, 0, True)
    (dead,) = pub.outbox.dead()
    assert dead.status == 409 and dead.key == clash["idempotency_key"]
    msg = next(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert "reused for another event" in msg and "dead letters" in msg and "\n" not in msg
    rig.broker.close_position(t)
    pub.poll_once(T0 + 1)
    assert [e.kind for e in rig.events()] == ["close", "close"]


def test_a_validation_refusal_is_dead_lettered_not_retried(rig_factory):
    rig = rig_factory()
    rig.broker._specs["BAD,SYM"] = EURUSD.with_name("BAD,SYM")  # a comma: the API refuses it
    rig.broker.set_quote("BAD,SYM", 1.1, 1.1)
    rig.broker.market_order("BAD,SYM", Side.BUY, 0.1)
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    pub = rig.publisher(symbols=None)
    s = pub.poll_once(T0)
    assert (s.dead, s.delivered, s.pending) == (1, 1, 0)
    assert pub.outbox.dead()[0].status == 422
    assert [e.payload["symbol"] for e in rig.events()] == ["EURUSD"]


def test_the_snapshot_is_never_posted_while_events_are_pending(rig: Rig):
    order: list[str] = []

    def plan(r: httpx.Request) -> str:
        order.append("snap" if r.url.path.endswith("/snapshots") else "ev")
        return "down" if len(order) <= 3 else "ok"

    rig.transport.plan = plan
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    rig.broker.market_order("EURUSD", Side.BUY, 0.2)
    for i in range(3):
        s = pub.poll_once(T0 + 10 * i)
        assert not s.snapshot
    assert "snap" not in order
    s = pub.poll_once(T0 + 100)
    assert s.snapshot and order[-3:] == ["ev", "ev", "snap"]


def test_snapshots_are_the_heartbeat_every_interval_and_right_after_a_change(rig: Rig):
    pub = rig.publisher()
    assert pub.poll_once(T0).snapshot  # the first poll announces the master
    assert not pub.poll_once(T0 + 1).snapshot
    assert pub.poll_once(T0 + 5.01).snapshot
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    assert pub.poll_once(T0 + 6).snapshot  # right after the change was delivered
    assert not pub.poll_once(T0 + 7).snapshot


def test_netting_add_is_published_by_a_snapshot_at_once(rig_factory):
    rig = rig_factory("netting")
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    pub.poll_once(T0)
    rig.broker.set_quote("EURUSD", 1.2, 1.2002)
    rig.broker.market_order("EURUSD", Side.BUY, 0.3)
    s = pub.poll_once(T0 + 1)
    assert (s.queued, s.snapshot) == (0, True)
    (p,) = rig.book()
    assert p["volume"] == 0.4 and norm([p]) == expected(rig)
    assert [e.kind for e in rig.events()] == ["open"]


def test_a_removed_sl_reaches_the_book_through_the_snapshot(rig: Rig):
    pub = rig.publisher()
    t = rig.broker.market_order("EURUSD", Side.BUY, 0.1, sl=1.0, tp=1.3).ticket
    pub.poll_once(T0)
    assert rig.broker.modify_position(t, 0.0, None).ok  # the paper broker: 0 clears the SL
    s = pub.poll_once(T0 + 1)
    assert s.snapshot
    (p,) = rig.book()
    assert "sl" not in p and p["tp"] == 1.3


def test_an_unreadable_master_stops_the_heartbeat_and_is_logged_once(rig: Rig, caplog, monkeypatch):
    from mtponte.errors import BrokerError

    pub = rig.publisher()
    pub.poll_once(T0)

    def boom():
        raise BrokerError("terminal disconnected")

    monkeypatch.setattr(rig.broker, "positions", boom)
    for i in range(3):
        s = pub.poll_once(T0 + 10 * (i + 1))
        assert not s.broker_ok and not s.snapshot
    assert sum("cannot read the master" in r.getMessage() for r in caplog.records) == 1


def test_a_wrong_token_keeps_events_queued_and_says_so_once(rig: Rig, caplog):
    pub = rig.publisher(token="mtp_wrong")
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    for i in range(3):
        pub.poll_once(T0 + 10 * i)
    assert pub.outbox.pending_count() == 1 and pub.outbox.dead() == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "token" in errors[0] and "mtp_wrong" not in errors[0]
    rig.publisher().poll_once(T0 + 100)  # the right token: delivered
    assert len(rig.events()) == 1


def test_the_token_never_appears_in_logs_or_errors(rig: Rig, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    token = rig.world.publish
    plans = iter(["down", "lost", "503", "crash_after"])
    rig.transport.plan = lambda r: next(plans, "ok")
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    texts = []
    for i in range(6):
        try:
            pub.poll_once(T0 + 10 * i)
        except Crash as exc:
            texts.append(str(exc))
            pub = rig.publisher()
    texts.append(repr(rig.settings))
    texts.append(str(rig.settings.model_dump()))
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'server_url = "x"\nmaster_id = 1\ntoken = ["{token}"]\n', encoding="utf-8")
    from mtponte.copy.publisher import load_settings

    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    texts.append(str(err.value))
    assert "token" in str(err.value)
    assert token not in caplog.text and all(token not in t for t in texts)
    assert len(rig.events()) == 1


def test_a_state_folder_of_another_master_is_refused(rig: Rig):
    Outbox(rig.state_dir, 99).close()
    with pytest.raises(ConfigError, match="belongs to master 99"):
        rig.publisher()


def test_the_snapshot_holds_what_the_events_said(rig: Rig):
    pub = rig.publisher()
    rig.broker.market_order("EURUSD", Side.SELL, 0.2, tp=1.0)
    pub.poll_once(T0)
    app = rig.world.client.app
    with app.state.sessions() as s:
        snap = s.get(Snapshot, rig.world.master_id)
        assert norm(snap.positions) == expected(rig)
    events = [(e.kind, e.ticket, e.payload) for e in rig.events()]
    assert norm(apply_events([], events))[0]["volume"] == 0.2


def test_settings_need_a_token_and_a_server(tmp_path):
    with pytest.raises(ConfigError, match="token"):
        from mtponte.copy.publisher import load_settings

        load_settings(None, {"server_url": "http://x", "master_id": 1})
    s = PublisherSettings(server_url="http://x", master_id=1, token="abc")
    assert "abc" not in repr(s) and s.poll_interval_s == 0.2 and s.snapshot_interval_s == 5.0
    assert isinstance(Publisher, type)


def test_run_publishes_from_a_thread_beside_whoever_trades_the_account(rig: Rig):
    """The hybrid monitor's account becomes a master this way: its broker object,
    traded by the monitor, watched by a publisher thread."""
    import threading

    pub = rig.publisher(poll_interval_s=0.01)
    stop = threading.Event()
    th = threading.Thread(target=pub.run, args=(stop,), daemon=True)
    th.start()
    try:
        b = rig.broker
        t = b.market_order("EURUSD", Side.BUY, 0.4, sl=1.0).ticket
        b.market_order("EURUSD", Side.SELL, 0.1)
        b.close_position(t, 0.1)
        b.modify_position(t, 1.05, None)
        for _ in range(200):
            if norm(rig.book()) == expected(rig) and pub.outbox.pending_count() == 0:
                break
            stop.wait(0.02)
    finally:
        stop.set()
        th.join(5)
    assert not th.is_alive()
    assert norm(rig.book()) == expected(rig)


def test_a_refused_snapshot_is_logged_once_not_every_interval(rig_factory, caplog):
    caplog.set_level(logging.DEBUG, logger="mtponte")
    rig = rig_factory()
    rig.broker._specs["BAD,SYM"] = EURUSD.with_name("BAD,SYM")
    rig.broker.set_quote("BAD,SYM", 1.1, 1.1)
    rig.broker.market_order("BAD,SYM", Side.BUY, 0.1)
    pub = rig.publisher()
    for i in range(4):
        pub.poll_once(T0 + 10 * i)
    assert snapshots(rig) == 4
    refused = [r for r in caplog.records if "snapshot refused" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.ERROR] + [logging.DEBUG] * 3
