"""The master view cached for target books belongs to one database: two servers in one
process (tests, several apps) with a master of the same id and seq never share it."""

from __future__ import annotations

from tests.copy.server.conftest import make_world, report_symbol


def _open(world, symbol: str) -> None:
    r = world.client.post(
        f"/api/v1/masters/{world.master_id}/events",
        json={
            "kind": "open",
            "idempotency_key": "k1",
            "ticket": "5",
            "symbol": symbol,
            "side": "buy",
            "volume": 0.1,
            "price": 1.1,
        },
        headers=world.h(world.publish),
    )
    assert r.status_code == 201, r.text


def _book(world) -> list[tuple[str, float]]:
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/targets"
    got = world.client.get(url, headers=world.h(world.follow)).json()["targets"]
    return [(t["symbol"], t["volume"]) for t in got]


def test_two_databases_with_the_same_master_id_and_seq_get_their_own_books(tmp_path):
    a_gen = make_world(f"sqlite:///{tmp_path / 'a.db'}")
    b_gen = make_world(f"sqlite:///{tmp_path / 'b.db'}")
    a, b = next(a_gen), next(b_gen)
    try:
        assert a.master_id == b.master_id  # same id, same seq 1 after one event
        report_symbol(a, "EURUSD")
        report_symbol(b, "GBPUSD")
        _open(a, "EURUSD")
        _open(b, "GBPUSD")
        assert _book(a) == [("EURUSD", 0.2)]  # the worlds' multiplier is 2
        assert _book(b) == [("GBPUSD", 0.2)]
    finally:
        a_gen.close()
        b_gen.close()
