"""Property tests over every route that takes a body, with *valid* tokens (so inputs
reach the parsers, including the Sentra routes that schemathesis cannot describe):
arbitrary JSON, and valid bodies with one value swapped for NaN, Infinity, huge or
negative numbers, Unicode digits, NUL, booleans or deep nesting. Never a 5xx, on SQLite
and on PostgreSQL. What is accepted must be readable back (a poll never fails after)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.copy.server.conftest import World

NASTY: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    10**30,
    -(10**30),
    2**64,
    -1,
    0,
    True,
    None,
    "",
    "١٢٣",
    "𝟗𝟎𝟐",
    "²",
    "x\x00y",
    "\u202e",
    "9" * 400,
    [],
    {},
    {"a": 1},
    [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def _valid_bodies(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    m, f = world.master_id, world.follower_id
    pos = {"ticket": 7, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    npos = {"ticket": "7", "symbol": "EURUSD", "side": "buy", "volume": 0.1, "open_price": 1.1}
    return [
        (
            f"/api/mt/copy/t/{world.publish}/master-signal",
            "",
            {"action": "open", "account_number": "1001", "timestamp": 1, **pos, "stop_loss": 1.0},
        ),
        (
            f"/api/mt/copy/t/{world.publish}/master-signal",
            "",
            {"action": "heartbeat", "account_number": "1001", "positions": [pos]},
        ),
        (
            f"/api/mt/copy/t/{world.follow}/slave-heartbeat",
            "",
            {"master_account_id": "1001", "positions_count": 1, "balance": 1.0, "equity": 1.0},
        ),
        ("/api/ea-license/validate", "", {"accountNumber": "1001"}),
        (
            f"/api/v1/masters/{m}/events",
            world.publish,
            {"kind": "open", "idempotency_key": "k", "ticket": "7", "symbol": "X"}
            | {"side": "buy", "volume": 0.1, "price": 1.1, "sl": 1.0, "time": 1},
        ),
        (f"/api/v1/masters/{m}/snapshots", world.publish, {"positions": [npos]}),
        (
            f"/api/v1/followers/{f}/heartbeats",
            world.follow,
            {"positions": [npos], "balance": 1.0, "equity": 1.0, "cursor": 0},
        ),
        (
            f"/api/v1/followers/{f}/reports",
            world.follow,
            {"master_id": m, "status": "copied", "latency_ms": 1.0, "slippage_points": 0.0},
        ),
    ]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value that can hold a replacement."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _post(world: World, url: str, token: str, body: bytes):
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return world.client.post(url, content=body, headers=headers)


def _still_readable(world: World) -> None:
    r = world.client.get(
        f"/api/mt/copy/t/{world.follow}/slave-signals", params={"master_account_id": "1001"}
    )
    assert r.status_code == 200, r.text
    r = world.client.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
        params={"after": 0},
        headers=world.h(world.follow),
    )
    assert r.status_code == 200, r.text


def test_one_value_swapped_for_something_nasty(world: World):
    bodies = _valid_bodies(world)

    @given(
        which=st.integers(0, len(bodies) - 1),
        pick=st.integers(0, 10_000),
        nasty=st.sampled_from(NASTY) | json_values,
    )
    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(which: int, pick: int, nasty: Any) -> None:
        url, token, valid = bodies[which]
        paths = _paths(valid)
        body = _replace(valid, paths[pick % len(paths)], nasty)
        r = _post(world, url, token, json.dumps(body, allow_nan=True).encode())
        assert r.status_code < 500, (url, body, r.status_code, r.text[:300])

    run()
    _still_readable(world)


def test_arbitrary_json_and_deep_nesting(world: World):
    urls = [(u, t) for u, t, _ in _valid_bodies(world)]

    @given(which=st.integers(0, len(urls) - 1), body=json_values)
    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(which: int, body: Any) -> None:
        url, token = urls[which]
        r = _post(world, url, token, json.dumps(body, allow_nan=True).encode())
        assert r.status_code < 500, (url, body, r.status_code, r.text[:300])

    run()
    for url, token in urls:
        for raw in (b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
            assert 400 <= _post(world, url, token, raw).status_code < 500, url
        assert 400 <= _post(world, url, token, b"\xff\xfe").status_code < 500, url
    _still_readable(world)


def test_arbitrary_query_strings_on_the_polling_routes(world: World):
    @given(
        params=st.lists(
            st.tuples(
                st.sampled_from(["master_account_id", "master_email", "slave_email", "after"])
                | st.text(max_size=8),
                st.text(max_size=30) | st.sampled_from(["١٢٣", "²", "9" * 40, "-1", ""]),
            ),
            max_size=4,
        )
    )
    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(params: list[tuple[str, str]]) -> None:
        safe = [(k, v) for k, v in params if "\x00" not in k + v]
        for url, h in (
            (f"/api/mt/copy/t/{world.follow}/slave-signals", {}),
            (f"/api/mt/copy/t/{world.follow}/settings", {}),
            (
                f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
                world.h(world.follow),
            ),
        ):
            r = world.client.get(url, params=safe, headers=h)
            assert r.status_code < 500, (url, safe, r.text[:300])

    run()
