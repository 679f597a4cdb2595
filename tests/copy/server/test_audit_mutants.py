"""Tests for the copy-server mutants that survived the test audit
(``shared/reviews/test-audit.md``): C2, C4, C5, C9, C10, C11, C13, C14, C15."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mtponte.copy.server import admin
from mtponte.copy.server._grants import signals_key
from mtponte.copy.server.models import ApiToken, Event
from mtponte.copy.server.security import new_token, token_hash
from mtponte.errors import ConfigError
from tests.copy.server.conftest import World, make_world
from tests.copy.server.test_compat import signal, slave_signals
from tests.copy.server.test_dashboard import csrf_of, login

# --- C2: a master never seen is offline, never an empty list -------------------------


def test_c2_a_never_seen_master_is_offline_not_flat(world: World):
    for _ in range(2):  # through the route, then from the edge's cache
        r = slave_signals(world)
        assert r.status_code == 200 and r.json()["success"] is False
        assert '"positions"' not in r.text


# --- C4, C5, C13: scope checks that do not hide behind the role invariant -----------


def _raw_token(world: World, scope: str, account_id: int | None) -> str:
    """A token row with any scope on any account, bypassing ``issue_token``'s rules."""
    secret = new_token()
    with world.client.app.state.sessions() as s:
        s.add(
            ApiToken(
                token_hash=token_hash(secret),
                prefix=secret[:12],
                scope=scope,
                account_id=account_id,
            )
        )
        s.commit()
    return secret


def test_c4_native_routes_check_the_scope_itself(world: World):
    c, m, f = world.client, world.master_id, world.follower_id
    follow_on_master = _raw_token(world, "follow", m)
    publish_on_follower = _raw_token(world, "publish", f)
    ev = {"kind": "close", "idempotency_key": "k", "ticket": "1", "symbol": "X"}
    r = c.post(f"/api/v1/masters/{m}/events", json=ev, headers=world.h(follow_on_master))
    assert r.status_code == 403
    r = c.get(f"/api/v1/followers/{f}/masters/{m}/events", headers=world.h(publish_on_follower))
    assert r.status_code == 403


def test_c5_compat_publish_checks_the_scope_itself(world: World):
    follow_on_master = _raw_token(world, "follow", world.master_id)
    body = {"action": "heartbeat", "account_number": "1001", "positions": []}
    r = world.client.post(f"/api/mt/copy/t/{follow_on_master}/master-signal", json=body)
    assert r.status_code == 403


def test_c13_compat_follow_checks_the_scope_itself(world: World):
    signal(world, "heartbeat", positions=[])
    publish_on_follower = _raw_token(world, "publish", world.follower_id)
    assert slave_signals(world, publish_on_follower).status_code == 403
    r = world.client.get(
        f"/api/mt/copy/t/{publish_on_follower}/settings", params={"master_account_id": "1001"}
    )
    assert r.status_code == 403


def test_c15_issue_token_binds_scopes_to_roles(world: World):
    with world.client.app.state.sessions() as s:
        from mtponte.copy.server.models import Account

        master, follower = s.get(Account, world.master_id), s.get(Account, world.follower_id)
        with pytest.raises(ConfigError, match="follower"):
            admin.issue_token(s, "follow", master)
        with pytest.raises(ConfigError, match="master"):
            admin.issue_token(s, "publish", follower)


# --- C9: the same key posted at once is stored once ---------------------------------


def test_c9_the_same_key_at_once_is_one_event(world: World):
    url = f"/api/v1/masters/{world.master_id}/events"
    body = {"kind": "open", "idempotency_key": "same", "ticket": "5", "symbol": "EURUSD"}
    body |= {"side": "buy", "volume": 0.1, "price": 1.1}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: world.client.post(url, json=body, headers=world.h(world.publish)),
                range(16),
            )
        )
    assert sorted(a.status_code for a in answers) == [200] * 15 + [201]
    assert {a.json()["seq"] for a in answers} == {1}
    with world.client.app.state.sessions() as s:
        assert s.query(Event).count() == 1


# --- C10: a revocation from the dashboard reaches a cached poller -------------------


def test_c10_dashboard_revoke_reaches_a_cached_poller(db_url):
    # Neither the periodic reload nor the epoch check would see it within the test: only
    # the dashboard's own kick (refresh_soon) can.
    for world in make_world(db_url, auth_cache_s=3600, revocation_check_s=30):
        c = world.client
        signal(world, "heartbeat", positions=[])
        assert slave_signals(world).json()["success"]
        assert slave_signals(world).json()["success"]  # cached at the edge
        login(world)
        page = c.get("/tokens").text
        with c.app.state.sessions() as s:
            tid = s.query(ApiToken).filter(ApiToken.token_hash == token_hash(world.follow)).one().id
        r = c.post(f"/tokens/{tid}/revoke", data={"csrf": csrf_of(page)}, follow_redirects=False)
        assert r.status_code == 303
        deadline = time.monotonic() + 3
        while slave_signals(world).status_code != 401:
            assert time.monotonic() < deadline, "a revoked token is still served"
            time.sleep(0.05)


# --- C11: when the authorizations cannot be re-read, none is trusted ----------------


def test_c11_the_grant_table_fails_closed(db_url):
    for world in make_world(db_url, auth_cache_s=3600, revocation_check_s=0.1):
        signal(world, "heartbeat", positions=[])
        assert slave_signals(world).json()["success"]  # the grant is now cached
        grants = world.client.app.state.edge.grants
        real = grants.loader

        def broken():
            raise RuntimeError("database unreachable")

        grants.loader = broken
        with world.client.app.state.sessions() as s:  # revoked behind the server's back
            for t in s.query(ApiToken).filter(ApiToken.scope == "follow"):
                t.revoked = True
            s.commit()
        key = signals_key(
            token_hash(world.follow), b"master_account_id=1001&slave_email=slave@x.io"
        )
        assert grants.get(key) is not None
        grants.refresh_soon()
        deadline = time.monotonic() + 3
        while grants.get(key) is not None:  # dropped, not kept as it was
            assert time.monotonic() < deadline, "a stale grant is still trusted"
            time.sleep(0.05)
        grants.loader = real
        assert slave_signals(world).status_code == 401  # decided by the database again


# --- C14: CSRF on every dashboard form -----------------------------------------------


def test_c14_every_form_checks_csrf(world: World):
    c = world.client
    login(world)
    page = c.get("/tokens").text
    assert re.search(r'name="csrf"', page)
    forged = {"csrf": "forged"}
    posts = [
        ("/subscriptions/1", forged | {"volumeMultiplier": "3"}),
        ("/tokens", forged | {"scope": "admin"}),
        ("/tokens/1/revoke", forged),
        ("/logout", forged),
    ]
    for url, data in posts:
        r = c.post(url, data=data, follow_redirects=False)
        assert r.status_code == 403, url
    with c.app.state.sessions() as s:
        assert s.query(ApiToken).filter(ApiToken.revoked.is_(True)).count() == 0
        assert s.query(ApiToken).count() == 4  # nothing issued
    assert c.get("/", follow_redirects=False).status_code == 200  # still logged in
