"""Bad bodies get a *clear* 4xx, not only "no 5xx" (issue 15): arbitrary JSON with
valid tokens on every route that takes a body, the hand-parsed Sentra routes
included, on SQLite and PostgreSQL. A refusal carries a ``detail`` that says what is
wrong (a message, or FastAPI's list of field errors); a body that is not a JSON
object is always a 400/422."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.copy.server.conftest import World
from tests.copy.server.test_fuzz_inputs import _post, _valid_bodies, json_values


def assert_clear_refusal(r: Any, context: object) -> None:
    """A 4xx whose JSON ``detail`` names the problem."""
    assert 400 <= r.status_code < 500, (context, r.status_code, r.text[:300])
    detail = r.json().get("detail")
    if isinstance(detail, list):  # FastAPI's field errors: each names where and what
        assert detail and all(e.get("loc") and e.get("msg") for e in detail), r.text[:300]
    else:
        assert isinstance(detail, str) and detail.strip(), (context, r.text[:300])


objects = st.dictionaries(st.text(max_size=12), json_values, max_size=5)


def test_arbitrary_json_is_answered_or_refused_clearly(world: World):
    routes = _valid_bodies(world)

    @given(which=st.integers(0, len(routes) - 1), body=json_values | objects)
    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(which: int, body: Any) -> None:
        url, token, _ = routes[which]
        r = _post(world, url, token, json.dumps(body, allow_nan=True).encode())
        assert r.status_code < 500, (url, body, r.status_code, r.text[:300])
        if not isinstance(body, dict) and r.status_code != 429:  # 429: the license
            # route's look-ups per address are limited before the body is read
            assert r.status_code in (400, 422), (url, body, r.status_code)
        if r.status_code >= 400:
            assert_clear_refusal(r, (url, body))

    run()


def test_a_missing_required_field_is_named(world: World):
    """Each valid body without one of its top-level keys is either still valid (an
    optional key) or refused with a detail that names the key."""
    for url, token, valid in _valid_bodies(world):
        for key in valid:
            body = {k: v for k, v in valid.items() if k != key}
            r = _post(world, url, token, json.dumps(body).encode())
            assert r.status_code < 500, (url, key, r.text[:300])
            if r.status_code in (400, 422):
                assert_clear_refusal(r, (url, key))
                assert key in r.text, (url, key, r.text[:300])
