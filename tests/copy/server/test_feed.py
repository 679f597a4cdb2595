"""The SSE feed: an event handed over by its publisher equals a database read."""

from __future__ import annotations

import asyncio

from mtponte.copy.server.models import Account, Event
from tests.copy.server.conftest import World
from tests.copy.server.test_native_api import ev


def test_primed_batch_equals_the_database_read(world: World):
    c, m = world.client, world.master_id
    for k in range(3):
        r = c.post(f"/api/v1/masters/{m}/events", json=ev(f"p{k}"), headers=world.h(world.publish))
        assert r.status_code == 201
    feed = c.app.state.feed
    with c.app.state.sessions() as s:
        last = s.query(Event).filter(Event.master_id == m, Event.seq == 3).one()
        assert s.get(Account, m).last_seq == 3
    primed = feed._primed[m]  # left by the route that published seq 3
    assert primed[0] == 2 and primed[1].cursor == 3
    from_db = feed._load(m, 2)
    assert from_db == primed[1]
    assert b'"created_at": "' in from_db.sse and last.ticket.encode() in from_db.sse
    # A stream at cursor 2 woken for seq 3 gets it from memory; any other cursor reads.
    got = asyncio.run(feed.after(m, 2, 3))
    assert got is primed[1]
    older = asyncio.run(feed.after(m, 1, 3))
    assert older.cursor == 3 and older.sse.count(b"event: open") == 2


def test_a_follower_leaving_never_cancels_the_read_others_share(world: World):
    import time as _time

    feed = world.client.app.state.feed
    slow_load = feed._load

    def load(master_id, cursor):
        _time.sleep(0.2)
        return slow_load(master_id, cursor)

    feed._load = load

    async def scenario():
        first = asyncio.create_task(feed.after(world.master_id, 0, 0))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(feed.after(world.master_id, 0, 0))
        await asyncio.sleep(0.05)
        first.cancel()  # its client went away while it owned the shared read
        got = await second
        late = await feed.after(world.master_id, 0, 0)  # arrives after: shares or re-reads
        return got, late

    got, late = asyncio.run(scenario())
    assert got.cursor == 0 and late.cursor == 0
