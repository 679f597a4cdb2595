"""A master event steps its followers' target books in the transaction that stores it:
the followers it wakes are answered from memory (no second transaction, no second
fsync), and a failing step never costs the event."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from mtponte.copy.server import targets
from mtponte.copy.server.models import Event, TargetBook
from tests.copy.server.conftest import report_symbol


def _open(world, key: str = "k1", ticket: str = "5") -> int:
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events",
        json={
            "kind": "open",
            "idempotency_key": key,
            "ticket": ticket,
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 0.1,
            "price": 1.1,
        },
        headers=world.h(world.publish),
    )
    assert r.status_code in (200, 201), r.text
    return int(r.json()["seq"])


def _stored_book(world) -> TargetBook | None:
    app = world.client.app
    with app.state.sessions() as s:
        return s.scalar(select(TargetBook))


def test_the_book_is_stepped_and_its_answer_ready_when_the_post_returns(world):
    report_symbol(world)
    seq = _open(world)
    book = _stored_book(world)  # nobody has read the book: the post stepped it
    assert book is not None
    assert [(t["symbol"], t["volume"]) for t in book.targets] == [("EURUSD", 0.2)]
    refresher = world.client.app.state.refresher
    assert refresher._done[world.master_id] == seq
    answer = refresher.answers[book.subscription_id]
    assert answer.version == book.version
    assert [t.target_id for t in answer.targets] == [t["target_id"] for t in book.targets]


def test_a_repeated_post_steps_nothing(world, monkeypatch):
    report_symbol(world)
    _open(world)
    before = _stored_book(world)
    assert before is not None
    refresher = world.client.app.state.refresher
    steps: list[int] = []
    real = refresher.step_in
    monkeypatch.setattr(refresher, "step_in", lambda s, m: steps.append(m) or real(s, m))
    assert _open(world) == 1  # the same key again: the stored event, not a new one
    assert steps == []  # (a step would write nothing either: its inputs are unchanged)
    after = _stored_book(world)
    assert after is not None
    assert (after.version, after.updated_at) == (before.version, before.updated_at)


def test_a_step_that_fails_rolls_back_alone_and_the_event_is_stored(world, monkeypatch, caplog):
    report_symbol(world)

    def broken(*_a, **_k):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(targets, "_step", broken)
    with caplog.at_level(logging.ERROR, logger="mtponte.copy"):
        seq = _open(world)
    assert "stepping the target books of master" in caplog.text
    with world.client.app.state.sessions() as s:
        assert s.scalar(select(Event.seq).where(Event.master_id == world.master_id)) == seq
    book = _stored_book(world)  # the heartbeat's, if any: not stepped with the event
    assert book is None or book.targets == []
    assert world.master_id not in world.client.app.state.refresher._done
    monkeypatch.undo()
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/targets"
    got = world.client.get(url, headers=world.h(world.follow)).json()["targets"]
    assert [(t["symbol"], t["volume"]) for t in got] == [("EURUSD", 0.2)]  # stepped on read


def test_an_older_batch_never_replaces_a_newer_answer(world):
    refresher = world.client.app.state.refresher
    report_symbol(world)
    _open(world)
    book = _stored_book(world)
    assert book is not None
    new = refresher.answers[book.subscription_id]
    old = new.model_copy(update={"version": new.version - 1, "targets": []})
    refresher._keep({book.subscription_id: old})
    assert refresher.answers[book.subscription_id] is new


def test_a_failed_commit_forgets_the_master_view_it_stepped_with(world):
    """Review: the view cached while stepping a transaction that then fails to commit
    holds an event that was never stored; the next event, given the same seq, must not
    be stepped with it."""
    from mtponte.copy.server.models import Account
    from mtponte.copy.server.service import publish_event

    report_symbol(world)
    app = world.client.app
    with app.state.sessions() as s:
        master = s.get(Account, world.master_id)
        payload = {"symbol": "EURUSD", "side": "buy", "volume": 0.1, "price": 1.1}
        publish_event(s, master, "open", "kA", "5", {"kind": "open", "ticket": "5", **payload}, 50)
        assert app.state.refresher.step_in(s, world.master_id) is not None

        def refused() -> None:  # the database refuses the commit (disk full, ...)
            s.rollback()
            raise RuntimeError("commit failed")

        s.commit = refused  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            targets.commit_step(s, world.master_id)
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events",
        json={"kind": "open", "idempotency_key": "kB", "ticket": "6", **payload, "volume": 0.3},
        headers=world.h(world.publish),
    )
    assert r.status_code == 201 and r.json()["seq"] == 1  # the seq A was given
    book = _stored_book(world)
    assert book is not None
    assert [t["master_tickets"] for t in book.targets] == [["6"]]
