"""Follower ↔ copy server in process: the master publishes, the server's engine
decides each follower's book, Python followers on paper brokers execute it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.follower import Follower, FollowerOptions, HttpLink, LeaseHeld
from mtponte.copy.server.models import CopyDecision, ExecutionReport, Subscription
from mtponte.domain.symbols import SymbolSpec
from tests.copy.server.conftest import World, make_world

PRO = SymbolSpec("EURUSD.pro", 0.00001, 1.0, 100_000, 5, 0.01, 100, 0.01, currency="USD")


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'copy.db'}")


def settings(world: World, **values: Any) -> None:
    app = world.client.app
    with app.state.sessions() as s:  # type: ignore[attr-defined]
        sub = s.scalar(select(Subscription).where(Subscription.follower_id == world.follower_id))
        sub.settings = values
        sub.version += 1
        s.commit()


def publish(world: World, key: str, kind: str, ticket: str, **body: Any) -> None:
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events",
        json={"kind": kind, "idempotency_key": key, "ticket": ticket, "symbol": "EURUSD", **body},
        headers=world.h(world.publish),
    )
    assert r.status_code in (200, 201), r.text


def follower(world: World, tmp_path, mode: str = "hedging") -> tuple[Follower, PaperBroker]:
    b = PaperBroker(symbols=[PRO], currency="USD", account_mode=mode)  # type: ignore[arg-type]
    b.set_quote("EURUSD.pro", 1.10000, 1.10002)
    link = HttpLink(world.client, world.follower_id, world.master_id, world.follow)
    f = Follower(b, link, FollowerOptions(magic=42, state_dir=tmp_path), name="f")
    f.start()
    return f, b


def held(b: PaperBroker) -> list[tuple[str, int, float, float | None, float | None]]:
    return sorted((p.symbol, int(p.side), p.volume, p.sl, p.tp) for p in b.positions())


def test_master_trades_reach_a_suffixed_follower_sized_and_mapped(world, tmp_path):
    settings(world, volumeMultiplier=2.0)
    f, b = follower(world, tmp_path)
    now_ms = int(time.time() * 1000)
    publish(world, "k1", "open", "501", side="buy", volume=0.15, price=1.1, sl=1.09, time=now_ms)
    f.cycle()
    assert held(b) == [("EURUSD.pro", 1, 0.3, 1.09, None)]
    publish(world, "k2", "modify", "501", sl=1.095, tp=1.12)
    f.cycle()
    assert held(b) == [("EURUSD.pro", 1, 0.3, 1.095, 1.12)]
    publish(world, "k3", "partial_close", "501", volume=0.05)  # 1/3 of the master's
    f.cycle()
    assert held(b) == [("EURUSD.pro", 1, 0.2, 1.095, 1.12)]
    publish(world, "k4", "close", "501")
    f.cycle()
    assert b.positions() == []
    with world.client.app.state.sessions() as s:  # type: ignore[attr-defined]
        reps = list(s.scalars(select(ExecutionReport).order_by(ExecutionReport.id)))
        acts = [d.action for d in s.scalars(select(CopyDecision).order_by(CopyDecision.id))]
    assert [r.status for r in reps] == ["copied"] * len(reps) and len(reps) >= 4
    assert reps[0].latency_ms is not None and reps[0].details["latency"]["master_ms"] == now_ms
    # Before the master's first event it was stale (never seen): the book said so once.
    assert acts == ["freeze", "open", "modify", "resize", "close"]


def test_book_is_versioned_and_304_when_unchanged(world, tmp_path):
    follower(world, tmp_path)
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/targets"
    r = world.client.get(url, headers=world.h(world.follow))
    assert r.status_code == 200 and r.json()["targets"] == []
    etag = r.headers["ETag"]
    r2 = world.client.get(url, headers={**world.h(world.follow), "If-None-Match": etag})
    assert r2.status_code == 304
    publish(world, "k1", "open", "7", side="sell", volume=1.0, price=1.1)
    t0 = time.monotonic()
    r3 = world.client.get(
        url, params={"version": int(etag.strip('"')), "wait": 5}, headers=world.h(world.follow)
    )
    assert r3.status_code == 200 and time.monotonic() - t0 < 2
    (t,) = r3.json()["targets"]
    assert (t["symbol"], t["side"], t["volume"]) == ("EURUSD.pro", "sell", 2.0)  # ×2 default


def test_other_followers_token_cannot_read_the_book(world):
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/targets"
    assert world.client.get(url, headers=world.h(world.other_follow)).status_code == 403
    assert world.client.get(url).status_code == 401


def test_second_instance_is_refused_the_lease(world, tmp_path):
    follower(world, tmp_path / "a")
    with pytest.raises(LeaseHeld, match="another follower instance"):
        follower(world, tmp_path / "b")


def test_skip_reasons_are_recorded_and_nothing_is_opened(world, tmp_path):
    settings(world, enableSymbolFilter=True, allowedSymbols=["GBPUSD"])
    f, b = follower(world, tmp_path)
    publish(world, "k1", "open", "9", side="buy", volume=1.0, price=1.1)
    f.cycle()
    assert b.positions() == []
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/decisions"
    newest = world.client.get(url, headers=world.h(world.follow)).json()
    d = newest[0]
    assert d["action"] == "skip" and d["master_ticket"] == "9"
    assert "allowedSymbols" in d["reason"], d["reason"]
    assert [x["action"] for x in newest] == ["skip", "freeze"]


def test_a_restart_from_the_same_state_folder_takes_its_lease_back_at_once(world, tmp_path):
    follower(world, tmp_path / "a")
    f, _ = follower(world, tmp_path / "a")  # the crashed one's folder: same instance
    assert f.instance == (tmp_path / "a" / "instance-f").read_text()
