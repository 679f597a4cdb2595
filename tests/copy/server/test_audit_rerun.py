"""Audit mutants that the first round of tests left masked by a second check added
since (re-run by ``tools/audit_mutants.py``): C3 on the edge's own path, C5 in the
publish helper itself, and C9's last guard, the ``IntegrityError`` fallback."""

from __future__ import annotations

import time

import pytest
from fastapi import HTTPException

from mtponte.copy.server.deps import Principal
from mtponte.copy.server.models import Account, Event
from mtponte.copy.server.routers.compat import _publisher
from mtponte.copy.server.schemas import SentraSignal
from mtponte.copy.server.service import publish_event
from tests.copy.server.conftest import World
from tests.copy.server.test_compat import signal, slave_signals

POS = {"ticket": 1, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}


# --- C3: the edge's cached answer ends when the master turns stale ------------------


def test_c3_the_edge_never_serves_a_master_gone_stale(world: World):
    """The route checks ``stale_at`` too, so only an answer the edge serves from memory
    (a cached grant and a cached slave answer) reaches ``BookCache.fetch``'s check."""
    edge = world.client.app.state.edge
    edge.books.revalidate_s = 3600.0
    world.client.app.state.settings.master_stale_s = 1
    signal(world, "heartbeat", positions=[POS])
    for _ in range(3):  # the route fills the grant, the book and this slave's answer
        assert slave_signals(world).json()["success"] is True
    time.sleep(1.3)
    r = slave_signals(world)
    assert r.json()["success"] is False and '"positions"' not in r.text


# --- C5: the publish helper checks the scope itself ---------------------------------


def test_c5_the_publish_helper_refuses_a_token_of_another_scope(world: World):
    """The route refuses other scopes first; the helper must not rely on it."""
    sig = SentraSignal.model_validate(
        {"action": "heartbeat", "account_number": "1001", "positions": []}
    )
    with world.client.app.state.sessions() as s:
        assert _publisher(s, Principal("publish", world.master_id), sig).id == world.master_id
        for scope in ("follow", "webhook"):
            with pytest.raises(HTTPException) as e:
                _publisher(s, Principal(scope, world.master_id), sig)
            assert e.value.status_code == 403


# --- C9: the last guard when two posts of one key both miss the stored event --------


def test_c9_an_integrity_error_on_the_key_answers_the_stored_event(world: World, monkeypatch):
    """Under the per-master lock the re-check always sees a raced-in event, so the
    ``IntegrityError`` fallback runs only if both look-ups miss: make them miss."""
    payload = {"kind": "open", "ticket": "5", "symbol": "EURUSD", "side": "buy"}
    sessions = world.client.app.state.sessions
    with sessions() as s:
        master = s.get(Account, world.master_id)
        first, created = publish_event(s, master, "open", "k1", "5", payload, 50)
        assert created
        seq, last_seq = first.seq, master.last_seq
        s.commit()
    with sessions() as s:
        master = s.get(Account, world.master_id)
        real = s.scalar
        misses = [2]  # the pre-check and the re-check under the lock

        def scalar(stmt, *a, **kw):
            if misses[0] and "idempotency_key" in str(stmt):
                misses[0] -= 1
                return None
            return real(stmt, *a, **kw)

        monkeypatch.setattr(s, "scalar", scalar)
        again, created = publish_event(s, master, "open", "k1", "5", payload, 50)
        assert not created and again.seq == seq and misses == [0]
        s.commit()
    with sessions() as s:
        assert s.query(Event).count() == 1
        assert s.get(Account, world.master_id).last_seq == last_seq  # the seq was given back


# --- deps.require: a token is bound to its own account, in both directions ----------


def test_a_follow_token_never_reads_another_follower_whichever_id_is_larger(world: World):
    """The mutation run found ``account_id != account.id`` weakened to ``>`` alive: the
    existing check used only the token of the higher id against the lower one."""
    f, g, m = world.follower_id, world.other_follower_id, world.master_id
    assert f < g
    for token, other in ((world.follow, g), (world.other_follow, f)):
        r = world.client.get(
            f"/api/v1/followers/{other}/masters/{m}/events", headers=world.h(token)
        )
        assert r.status_code == 403, (other, r.text)
