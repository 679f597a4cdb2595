"""Sentra-compatible routes, including a client that parses exactly like the legacy EA."""

from __future__ import annotations

import time

from tests.copy.server.conftest import World, make_world


def signal(world: World, action: str, **kw):
    body = {
        "action": action,
        "master_email": "master@x.io",
        "account_number": "1001",
        "broker": "BrokerA",
        "timestamp": int(time.time()),
    } | kw
    return world.client.post(f"/api/mt/copy/t/{world.publish}/master-signal", json=body)


def ea_parse(text: str) -> tuple[bool, list[dict[str, str]]]:
    """What the Slave EA does: substring search, split the list on '},{'."""
    if '"success":true' not in text:
        return False, []
    start = text.find('"positions":[') + len('"positions":[')
    end = text.find("]", start)
    body = text[start:end]
    out = []
    for chunk in body.split("},{") if body else []:
        item = {}
        for key in (
            "ticket",
            "symbol",
            "type",
            "lots",
            "open_price",
            "stop_loss",
            "take_profit",
            "open_time",
        ):
            i = chunk.find(f'"{key}":') + len(key) + 3
            j = min(x for x in (chunk.find(",", i), len(chunk)) if x >= 0)
            item[key] = chunk[i:j].strip('{}"')
        out.append(item)
    return True, out


def slave_signals(world: World, token: str | None = None):
    return world.client.get(
        f"/api/mt/copy/t/{token or world.follow}/slave-signals",
        params={"master_account_id": "1001", "slave_email": "slave@x.io"},
    )


def test_legacy_ea_sees_open_modify_close(world: World):
    assert signal(
        world,
        "open",
        ticket=55,
        symbol="EURUSD",
        type=0,
        lots=0.1,
        open_price=1.1,
        stop_loss=1.09,
        take_profit=1.12,
        open_time=1_700_000_000,
    ).json()["success"]
    r = slave_signals(world)
    text = r.text
    assert text.startswith('{"success":true,"action":"heartbeat","positions":[{"ticket":55,')
    ok, pos = ea_parse(text)
    assert ok and pos == [
        {
            "ticket": "55",
            "symbol": "EURUSD",
            "type": "0",
            "lots": "0.200000001",  # × the follower's volumeMultiplier, nudged for its floor
            "open_price": "1.1",
            "stop_loss": "1.09",
            "take_profit": "1.12",
            "open_time": "1700000000",
        }
    ]
    signal(world, "modify", ticket=55, symbol="EURUSD", stop_loss=1.095, take_profit=1.13)
    # Delivered once through the EA's modify handler, then listed.
    r = slave_signals(world).text
    assert (
        r == '{"success":true,"action":"modify","ticket":55,"stop_loss":1.095,"take_profit":1.13}'
    )
    assert ea_parse(slave_signals(world).text)[1][0]["stop_loss"] == "1.095"
    signal(world, "close", ticket=55, symbol="EURUSD", close_price=1.105)
    ok, pos = ea_parse(slave_signals(world).text)
    assert ok and pos == []


def test_open_then_close_between_polls_is_not_lost(world: World):
    signal(
        world,
        "heartbeat",
        positions=[
            {
                "ticket": 1,
                "symbol": "GBPUSD",
                "type": 1,
                "lots": 0.2,
                "open_price": 1.3,
                "stop_loss": 0,
                "take_profit": 0,
                "open_time": 1,
            }
        ],
        positions_count=1,
    )
    signal(world, "open", ticket=2, symbol="EURUSD", type=0, lots=0.1, open_price=1.1)
    # MT5 moves the opening order to history: the EA posts a close with no close price,
    # which is not a close (the position is open).
    assert "ignored" in signal(world, "close", ticket=2).json()
    ok, pos = ea_parse(slave_signals(world).text)
    assert ok and [p["ticket"] for p in pos] == ["1", "2"]
    signal(world, "close", ticket=2, close_price=1.102)  # the real close: its exit price
    ok, pos = ea_parse(slave_signals(world).text)
    assert ok and [p["ticket"] for p in pos] == ["1"]
    # The native API still carries both events for followers that copy events.
    r = world.client.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
        headers=world.h(world.follow),
    ).json()
    assert [e["kind"] for e in r["events"]] == ["open", "close"]


def test_retried_master_post_is_stored_once(world: World):
    body = dict(ticket=9, symbol="EURUSD", type=0, lots=0.1, open_price=1.1, timestamp=123)
    a = signal(world, "open", **body).json()
    b = signal(world, "open", **body).json()
    assert a["seq"] == b["seq"]


def test_stale_master_never_answers_an_empty_list(world: World):
    from datetime import UTC, datetime, timedelta

    from mtponte.copy.server.models import Account

    signal(world, "heartbeat", positions=[], positions_count=0)
    with world.client.app.state.sessions() as s:
        s.get(Account, world.master_id).last_seen = datetime.now(UTC) - timedelta(hours=1)
        s.commit()
    r = slave_signals(world)
    assert r.json()["success"] is False and '"positions"' not in r.text


def test_path_token_scope_must_match(world: World):
    assert slave_signals(world, world.publish).status_code == 403
    assert slave_signals(world, "mtp_forged").status_code == 401
    r = world.client.get(
        f"/api/mt/copy/t/{world.other_follow}/slave-signals", params={"master_account_id": "1001"}
    )
    assert r.status_code == 403  # not subscribed to that master
    body = {"action": "open", "account_number": "1001", "ticket": 1, "timestamp": 1}
    r = world.client.post(f"/api/mt/copy/t/{world.follow}/master-signal", json=body)
    assert r.status_code == 403  # a follower cannot inject master positions


def test_settings_heartbeat_license(world: World):
    c = world.client
    r = c.get(f"/api/mt/copy/t/{world.follow}/settings", params={"master_account_id": "1001"})
    assert r.text.startswith('{"success":true,"settings":{')
    s = r.json()["settings"]
    assert s["volumeMultiplier"] == 2.0 and s["isActive"] is True and "maxDailyLoss" in s
    r = c.post(
        f"/api/mt/copy/t/{world.follow}/slave-heartbeat",
        json={
            "slave_email": "slave@x.io",
            "master_account_id": "1001",
            "account_number": "2001",
            "broker": "BrokerB",
            "timestamp": 1,
            "positions_count": 0,
            "balance": 1000,
            "equity": 1000,
        },
    )
    assert r.json() == {"success": True}
    known = c.post("/api/ea-license/validate", json={"accountNumber": "2001", "eaType": "slave"})
    unknown = c.post("/api/ea-license/validate", json={"accountNumber": "9"})
    # Licensed either way, and the same answer: the route is no account oracle.
    assert known.json()["valid"] and known.content == unknown.content


def test_compat_bad_input_is_4xx(world: World):
    url = f"/api/mt/copy/t/{world.publish}/master-signal"
    c = world.client
    assert c.post(url, content=b"not json").status_code == 400
    assert c.post(url, json=[1]).status_code == 400
    assert signal(world, "teleport", ticket=1).status_code == 400
    assert signal(world, "open", ticket="abc").status_code == 400
    assert signal(world, "open", ticket=1, lots="x").status_code == 400
    assert signal(world, "heartbeat", positions="x").status_code == 400


def test_a_change_behind_the_servers_back_is_seen_within_auth_cache_s(db_url):
    """Revoked by hand in SQL (no epoch bump): the periodic full re-read catches it."""
    from mtponte.copy.server.models import ApiToken

    for world in make_world(db_url, auth_cache_s=0.5, revocation_check_s=0.1):
        signal(world, "heartbeat", positions=[], positions_count=0)
        assert slave_signals(world).json()["success"]
        with world.client.app.state.sessions() as s:
            for t in s.query(ApiToken).filter(ApiToken.scope == "follow"):
                t.revoked = True
            s.commit()
        codes = [slave_signals(world).status_code]
        deadline = time.monotonic() + 3
        while codes[-1] != 401 and time.monotonic() < deadline:
            time.sleep(0.05)
            codes.append(slave_signals(world).status_code)
        assert codes[0] == 200 and codes[-1] == 401, codes  # cached at first, then refused
        assert len(codes) <= 15, codes


def test_revocation_reaches_a_cached_poller_within_the_epoch_check(db_url):
    """Revoked from another process (``mtponte admin revoke``), with authorizations
    cached for an hour: refused within ``revocation_check_s``."""
    from mtponte.copy.server import admin
    from mtponte.copy.server.models import ApiToken
    from mtponte.copy.server.security import token_hash

    for world in make_world(db_url, auth_cache_s=3600, revocation_check_s=0.2):
        signal(world, "heartbeat", positions=[], positions_count=0)
        assert slave_signals(world).json()["success"]
        assert slave_signals(world).json()["success"]  # from the edge cache
        with world.client.app.state.sessions() as s:
            tok = s.query(ApiToken).filter(ApiToken.token_hash == token_hash(world.follow)).one()
            admin.revoke_token(s, tok.id)
            s.commit()
        codes = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (not codes or codes[-1] != 401):
            codes.append(slave_signals(world).status_code)
            time.sleep(0.05)
        assert codes[-1] == 401, codes
        assert len(codes) <= 10, f"still served {len(codes) - 1} polls after the revocation"
        assert slave_signals(world, world.other_follow).status_code == 403
