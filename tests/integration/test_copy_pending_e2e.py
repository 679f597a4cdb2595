"""Pending orders copied end to end (``copy_pending``): a real server process on
127.0.0.1, a master published from a paper account that places, modifies, cancels and
fills pending orders, and a hedging and a netting Python follower on paper accounts.
Fills happen at the master first, at the follower first, and at the follower only (the
master then cancels). The followers end holding exactly the master's orders and
positions, with no copy opened twice."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.follower import Follower, FollowerOptions, HttpLink
from mtponte.copy.publisher import Publisher, PublisherSettings
from mtponte.copy.server import admin
from mtponte.copy.server.db import open_database, session_factory
from mtponte.copy.server.models import CopyDecision, ExecutionReport
from mtponte.domain.bars import Bar
from mtponte.domain.side import Side
from tests.integration.test_copy_e2e import Server, paper
from tests.integration.test_copy_push import free_port

EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)
_T = [datetime(2027, 1, 4, tzinfo=UTC)]


def bar(b: PaperBroker, low: float, high: float) -> None:
    """Trade ``b``'s symbol through ``low``..``high`` (fills what those prices trigger),
    then quote it back at 1.10000."""
    name = next(iter(b.symbols()))
    _T[0] += timedelta(minutes=1)
    b.on_bar(name, Bar(_T[0], 1.1, high, low, 1.1))
    b.set_quote(name, 1.10000, 1.10002)


def modify_order(b: PaperBroker, ticket: str, price: float, volume: float) -> None:
    """MT5's in-place order modify (TRADE_ACTION_MODIFY keeps the ticket); the paper
    broker has none, so the test edits its order row."""
    with b._tx() as db:
        db.execute(
            "UPDATE orders SET price=?, volume=? WHERE ticket=?", (price, volume, int(ticket))
        )


def book(b: PaperBroker) -> tuple[list[tuple], list[tuple]]:
    """(positions, orders) as comparable tuples, symbol names aside."""
    ps = sorted((int(p.side), round(p.volume, 8), p.sl) for p in b.positions())
    os_ = sorted(
        (int(o.side), o.order_type, round(o.volume, 8), o.price, o.sl, o.expiry) for o in b.orders()
    )
    return ps, os_


def net(b: PaperBroker) -> tuple[float, list[tuple]]:
    return round(sum(int(p.side) * p.volume for p in b.positions()), 8), book(b)[1]


def test_master_pending_orders_copied_to_hedging_and_netting_followers(tmp_path, request):
    db = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = open_database(db)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001", "Alpha")
        fa = admin.add_account(s, "follower", "2001", "BetaPro")
        fc = admin.add_account(s, "follower", "2003", "B3net")
        admin.subscribe(s, fa, m, {"volumeMode": "copy", "copy_pending": True})
        admin.subscribe(s, fc, m, {"volumeMode": "copy", "copy_pending": True})
        pub_token = admin.issue_token(s, "publish", m)
        tokens = [admin.issue_token(s, "follow", f) for f in (fa, fc)]
        mid, fids = m.id, (fa.id, fc.id)
        s.commit()
    engine.dispose()
    server = Server(db, free_port())
    request.addfinalizer(server.stop)
    server.start()
    client = httpx.Client(base_url=server.base, timeout=10)
    master = paper("EURUSD", balance=100_000)
    a_b, c_b = paper("EURUSD.pro"), paper("EURUSD", "netting")
    followers: dict[str, Follower] = {}
    for name, fb, fid, tok in (("A", a_b, fids[0], tokens[0]), ("C", c_b, fids[1], tokens[1])):
        opts = FollowerOptions(magic=99, state_dir=Path(tmp_path / name))
        followers[name] = Follower(fb, HttpLink(client, fid, mid, tok), opts, name=name)
        followers[name].start()
    cfg = PublisherSettings(server_url=server.base, master_id=mid, token=pub_token)
    publisher = Publisher(master, client, mid, tmp_path / "pub", cfg)

    def sync() -> None:
        for _ in range(50):
            publisher.poll_once()
            if publisher.outbox.pending_count() == 0:
                break
            time.sleep(0.02)
        assert publisher.outbox.pending_count() == 0
        for _ in range(3):  # a replaced order or a master-first fill takes two passes
            for f in followers.values():
                f.cycle()

    def check(when: str) -> None:
        want = book(master)
        got_a = book(a_b)
        assert got_a == want, f"{when}: hedging {got_a} != master {want}"
        want_net = round(sum(int(p.side) * p.volume for p in master.positions()), 8)
        assert net(c_b) == (want_net, want[1]), f"{when}: netting {net(c_b)}"

    # 1. three orders: a buy limit with SL, a sell stop, a buy stop with expiry
    o1 = master.place_order("EURUSD", Side.BUY, "limit", 0.3, 1.095, sl=1.09).order
    o2 = master.place_order("EURUSD", Side.SELL, "stop", 0.2, 1.09).order
    o3 = master.place_order("EURUSD", Side.BUY, "stop", 0.1, 1.105, expiry=EXPIRY).order
    assert o1 and o2 and o3
    sync()
    check("placed")
    assert len(a_b.orders()) == 3 and len(c_b.orders()) == 3
    # 2. modify o1 in place (price, volume); cancel o2
    modify_order(master, o1, 1.094, 0.4)
    master.cancel_order(o2)
    sync()
    check("modified and cancelled")
    # 3. o1 fills at the master first: the followers cancel theirs and open once
    bar(master, 1.0935, 1.1)
    sync()
    check("master filled first")
    # 4. o3 fills at the followers first, then at the master: no second open
    bar(a_b, 1.1, 1.106)
    bar(c_b, 1.1, 1.106)
    sync()
    assert len(a_b.positions()) == 2 and a_b.orders() == []
    bar(master, 1.1, 1.106)
    sync()
    check("master filled after the followers")
    # 5. a buy limit fills at the followers only; the master cancels it: closed again
    o4 = master.place_order("EURUSD", Side.BUY, "limit", 0.2, 1.097).order
    assert o4
    sync()
    bar(a_b, 1.0965, 1.1)
    bar(c_b, 1.0965, 1.1)
    sync()
    assert len(a_b.positions()) == 3  # ours filled: held while the master's works
    master.cancel_order(o4)
    sync()
    check("filled here, cancelled at the master")
    # 6. one more order left working at the end
    master.place_order("EURUSD", Side.SELL, "limit", 0.5, 1.11, sl=1.12)
    sync()
    check("end")

    client.close()
    server.kill()
    # No copy opened twice: one entry deal per target id on the hedging follower, and
    # on both exactly three entries (o1 at market after the master's fill, o3 and o4
    # their own fills), never a close-and-reopen of a fill made here.
    ins = Counter(d.comment for d in a_b.deals() if d.entry == "in")
    assert ins and max(ins.values()) == 1, ins
    assert sum(ins.values()) == 3, ins
    assert sum(1 for d in c_b.deals() if d.entry == "in") == 3
    engine = open_database(db, migrate=False)
    with session_factory(engine)() as s:
        actions = Counter(d.action for d in s.scalars(select(CopyDecision)))
        reports = list(s.scalars(select(ExecutionReport)))
    engine.dispose()
    assert actions["place"] >= 8 and actions["fill"] >= 4 and actions["cancel"] >= 4, actions
    assert {r.action for r in reports} >= {"place", "cancel", "open"}
    assert all(r.reason for r in reports if r.status != "copied")
