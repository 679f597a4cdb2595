from __future__ import annotations

import re

from mtponte.copy.server import admin
from tests.copy.server.conftest import World


def login(world: World, password: str = "correct horse battery") -> None:
    c = world.client
    with c.app.state.sessions() as s:
        admin.add_operator(s, "ops@x.io", "correct horse battery")
        s.commit()
    page = c.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = c.post(
        "/login",
        data={"email": "ops@x.io", "password": password, "csrf": csrf},
        follow_redirects=False,
    )
    return r


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_login_required_and_wrong_password(world: World):
    c = world.client
    assert c.get("/", follow_redirects=False).headers["location"] == "/login"
    r = login(world, "wrong password!!")
    assert "wrong e-mail or password" in r.text
    assert c.get("/", follow_redirects=False).status_code == 303


def test_csrf_is_enforced(world: World):
    c = world.client
    c.get("/login")
    r = c.post("/login", data={"email": "x", "password": "y", "csrf": "forged"})
    assert r.status_code == 403


def test_overview_settings_tokens(world: World):
    c = world.client
    assert login(world).status_code == 303
    html = c.get("/").text
    assert 'id="followers"' in html and "offline" in html
    c.post(
        f"/api/v1/followers/{world.follower_id}/heartbeats",
        headers=world.h(world.follow),
        json={"positions": [], "balance": 1.0},
    )
    row = re.search(rf'<tr id="follower-{world.follower_id}">(.*?)</tr>', c.get("/").text, re.S)
    assert "online" in row.group(1)
    # settings editor: invalid value is refused with a message, valid one saved
    page = c.get("/subscriptions/1").text
    bad = c.post(
        "/subscriptions/1",
        data={"csrf": csrf_of(page), "volumeMultiplier": "-2", "slTpMode": "copy"},
    )
    assert "volumeMultiplier" in bad.text
    ok = c.post(
        "/subscriptions/1",
        data={"csrf": csrf_of(page), "volumeMultiplier": "3", "slTpMode": "copy", "isActive": "on"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    r = c.get(
        f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/settings",
        headers=world.h(world.follow),
    )
    assert r.json()["volumeMultiplier"] == 3.0
    # tokens: issue shows the secret once; revoke
    page = c.get("/tokens").text
    html = c.post(
        "/tokens",
        data={
            "csrf": csrf_of(page),
            "scope": "follow",
            "account": str(world.follower_id),
            "days": "30",
        },
    ).text
    secret = re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)
    assert secret.startswith("mtp_") and secret not in c.get("/tokens").text
