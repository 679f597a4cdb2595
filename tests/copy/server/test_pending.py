"""Pending orders through the server: events and snapshots stored, target books with
pending targets when the subscription copies them, hidden from position readers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mtponte.copy.server.models import Account, Subscription
from mtponte.copy.server.service import current_book
from tests.copy.server.conftest import World, make_world, report_symbol


@pytest.fixture
def pworld(db_url) -> Iterator[World]:
    yield from make_world(db_url)


def _settings(world: World, **kw: Any) -> None:
    app: Any = world.client.app
    with app.state.sessions() as s:
        sub = s.scalar(select(Subscription).where(Subscription.follower_id == world.follower_id))
        sub.settings = {"volumeMultiplier": 2.0, **kw}
        sub.version += 1
        s.commit()


def _event(world: World, key: str, kind: str, ticket: str, **kw: Any) -> int:
    body = {"kind": kind, "idempotency_key": key, "ticket": ticket, "symbol": "EURUSD", **kw}
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events", json=body, headers=world.h(world.publish)
    )
    return r.status_code


def _targets(world: World) -> list[dict[str, Any]]:
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/targets"
    r = world.client.get(url, headers=world.h(world.follow))
    assert r.status_code == 200, r.text
    return list(r.json()["targets"])


ORDER = {"side": "buy", "order_type": "limit", "volume": 0.1, "price": 1.09}


def test_pending_events_stored_and_ignored_when_copy_pending_off(pworld: World) -> None:
    report_symbol(pworld)
    assert _event(pworld, "k1", "pending_place", "50", **ORDER) == 201
    assert _targets(pworld) == []


def test_pending_lifecycle_place_modify_fill_keeps_one_target(pworld: World) -> None:
    report_symbol(pworld)
    _settings(pworld, copy_pending=True)
    assert _event(pworld, "k1", "pending_place", "50", **ORDER, expiry=4_000_000_000) == 201
    (t,) = _targets(pworld)
    tid = t["target_id"]
    assert (t["order_type"], t["price"], t["volume"], t["expiry"]) == (
        "limit",
        1.09,
        0.2,
        4_000_000_000,
    )
    assert _event(pworld, "k2", "pending_modify", "50", **(ORDER | {"price": 1.085})) == 201
    (t,) = _targets(pworld)
    assert (t["target_id"], t["price"]) == (tid, 1.085)
    fill = {"side": "buy", "volume": 0.1, "price": 1.085, "from_order": "50"}
    assert _event(pworld, "k3", "open", "51", **fill) == 201
    (t,) = _targets(pworld)
    assert t["target_id"] == tid and "order_type" not in t and t["volume"] == 0.2
    assert t["master_tickets"] == ["51"]


def test_netting_fill_gives_a_net_target_whose_sources_name_the_pending_copy(
    pworld: World,
) -> None:
    report_symbol(pworld, netting=True)
    _settings(pworld, copy_pending=True)
    assert _event(pworld, "k1", "pending_place", "50", **ORDER) == 201
    (t,) = _targets(pworld)
    tid = t["target_id"]
    assert "sources" not in t  # a pending target is one copy: its own id names it
    fill = {"side": "buy", "volume": 0.1, "price": 1.09, "from_order": "50"}
    assert _event(pworld, "k2", "open", "51", **fill) == 201
    (t,) = _targets(pworld)
    assert t["target_id"] != tid and t["target_id"].endswith("nEURUSD")
    assert (t["sources"], t["master_tickets"], t["volume"]) == ([tid], ["51"], 0.2)


def test_pending_cancel_removes_the_target(pworld: World) -> None:
    report_symbol(pworld)
    _settings(pworld, copy_pending=True)
    _event(pworld, "k1", "pending_place", "60", **ORDER)
    assert len(_targets(pworld)) == 1
    assert _event(pworld, "k2", "pending_cancel", "60") == 201
    assert _targets(pworld) == []


def test_snapshot_with_pending_order_and_position_readers_never_see_it(pworld: World) -> None:
    report_symbol(pworld)
    _settings(pworld, copy_pending=True)
    snap = {
        "positions": [
            {
                "ticket": "70",
                "symbol": "EURUSD",
                "side": "sell",
                "volume": 0.1,
                "open_price": 1.2,
                "order_type": "stop",
                "expiry": 0,
            }
        ]
    }
    r = pworld.client.post(
        f"/api/v1/masters/{pworld.master_id}/snapshots", json=snap, headers=pworld.h(pworld.publish)
    )
    assert r.status_code == 204, r.text
    (t,) = _targets(pworld)
    assert (t["order_type"], t["side"], t["price"]) == ("stop", "sell", 1.2)
    app: Any = pworld.client.app
    with app.state.sessions() as s:
        master = s.get(Account, pworld.master_id)
        assert current_book(s, master)[1] == []
        assert len(current_book(s, master, pending=True)[1]) == 1


@pytest.mark.parametrize("missing", ["order_type", "price", "volume", "side"])
def test_pending_place_without_its_order_fields_is_refused(pworld: World, missing: str) -> None:
    body = {k: v for k, v in ORDER.items() if k != missing}
    assert _event(pworld, "k1", "pending_place", "50", **body) == 422


def test_legacy_slave_never_gets_a_pending_target_as_a_position() -> None:
    from mtponte.copy.server.legacy import wanted_by_targets

    common = {"symbol": "EURUSD", "side": "buy", "volume": 0.2, "sl": None, "tp": None}
    targets = [
        {**common, "target_id": "s1t50", "master_tickets": ["50"], "order_type": "limit"},
        {**common, "target_id": "s1t51", "master_tickets": ["51"]},
    ]
    assert list(wanted_by_targets(targets, [])) == ["51"]
