"""Regression tests for the adversarial review of the copy server: M3, M8, M9 and
L2-L8 (L1 and the SSE parts of M9/L4 run against real servers in
``tests/integration/test_copy_hardening.py``)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import pytest
from typer.testing import CliRunner

from mtponte.cli import app as cli_app  # the Typer app
from mtponte.copy.server import admin
from mtponte.copy.server._edge import mask_tokens
from mtponte.copy.server.security import token_hash
from tests.copy.server.conftest import World, make_world
from tests.copy.server.test_compat import signal
from tests.copy.server.test_dashboard import csrf_of, login

TOKEN = "mtp_" + "A1b2C3d4" * 5 + "xyz"


# --- M3: tokens never in clear in the access log -------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/mt/copy/t//{TOKEN}/slave-signals",
        f"/api/mt/copy/{TOKEN}/slave-signals",
        f"/api/mt/copy/T/{TOKEN}/slave-signals",
        f"/api/mt/copy/t/x/{TOKEN}/slave-signals",
        f"//api/mt/copy/t/{TOKEN}/slave-signals",
        f"/api/mt/copy/t/{TOKEN.upper()}/x",
        f"/x/{TOKEN[4:]}",  # pasted without its prefix
    ],
)
def test_m3_mask_tokens_wherever_they_sit(path):
    masked = mask_tokens(path)
    assert TOKEN[4:] not in masked and TOKEN.upper()[4:] not in masked, masked


def test_m3_access_log_of_odd_paths(world: World, caplog):
    caplog.set_level(logging.INFO, logger="mtponte.access")
    for path in (
        f"/api/mt/copy/t//{world.follow}/slave-signals",
        f"/api/mt/copy/{world.follow}/slave-signals",
        f"/api/mt/copy/T/{world.follow}/slave-signals",
    ):
        world.client.get(path, params={"master_account_id": "1001"})
    assert caplog.records and world.follow[4:] not in caplog.text


def test_m3_a_trailing_slash_in_the_ea_base_url_still_works(world: World):
    signal(world, "heartbeat", positions=[])
    r = world.client.get(
        f"/api/mt/copy/t//{world.follow}/slave-signals", params={"master_account_id": "1001"}
    )
    assert r.status_code == 200 and r.json()["success"]


# --- M8: several workers without Redis -----------------------------------------------


def test_m8_workers_without_redis_refuse_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("MTPONTE_REDIS_URL", raising=False)
    r = CliRunner().invoke(
        cli_app, ["server", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--workers", "2"]
    )
    assert r.exit_code == 2
    assert "MTPONTE_REDIS_URL" in r.output and "--allow-no-redis" in r.output
    assert "Traceback" not in r.output


# --- M9: a cap on long-lived responses per token --------------------------------------


def test_m9_long_polls_per_token_are_capped(db_url):
    for world in make_world(db_url, max_streams_per_token=2):
        url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events"
        h = world.h(world.follow)
        signal(world, "heartbeat", positions=[])
        statuses: list[int] = []

        def wait(world: World = world, url: str = url, h: dict = h, out=statuses) -> None:
            out.append(world.client.get(url, params={"after": 0, "wait": 2}, headers=h).status_code)

        held = [threading.Thread(target=wait) for _ in range(2)]
        for t in held:
            t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        r = world.client.get(url, params={"after": 0, "wait": 2}, headers=h)
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert time.monotonic() - t0 < 1.0  # refused at once, not after waiting
        other = world.client.get(  # another token is not affected
            url, params={"after": 0, "wait": 0.1}, headers=world.h(world.admin)
        )
        assert other.status_code == 200
        for t in held:
            t.join()
        assert statuses == [200, 200]
        assert world.client.app.state.edge.streams.count(token_hash(world.follow)) == 0
        r = world.client.get(url, params={"after": 0, "wait": 0.1}, headers=h)
        assert r.status_code == 200  # slots came back


# --- L2: log-in timing does not tell which e-mails exist -----------------------------


def test_l2_unknown_email_costs_a_password_check(world: World, monkeypatch):
    from mtponte.copy.server.routers import dashboard

    checked: list[str] = []
    real = dashboard.verify_password

    def spy(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(dashboard, "verify_password", spy)
    c = world.client
    csrf = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"email": "nobody@x.io", "password": "whatever12", "csrf": csrf})
    assert "wrong e-mail or password" in r.text
    assert len(checked) == 1 and checked[0].startswith("scrypt$")


# --- L3: a new token's secret is shown once, never stored in the cookie ---------------


def _cookie_payload(world: World) -> dict:
    raw = world.client.cookies.get("mtponte_session") or ""
    data = raw.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))


def test_l3_new_token_is_not_in_the_session_cookie(world: World):
    c = world.client
    login(world)
    csrf = csrf_of(c.get("/tokens").text)
    r = c.post("/tokens", data={"scope": "follow", "account": str(world.follower_id), "csrf": csrf})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = r.text.split('<code id="new-token">')[1].split("</code>")[0]
    assert secret.startswith("mtp_")
    assert secret not in json.dumps(_cookie_payload(world))
    assert secret not in c.get("/tokens").text  # shown once


# --- L4: a long poll does not outlive its token's expiry -----------------------------


def test_l4_long_poll_ends_at_token_expiry(world: World):
    from datetime import UTC, datetime, timedelta

    from mtponte.copy.server.models import ApiToken
    from mtponte.copy.server.security import token_hash

    with world.client.app.state.sessions() as s:
        tok = s.query(ApiToken).filter(ApiToken.token_hash == token_hash(world.follow)).one()
        tok.expires_at = datetime.now(UTC) + timedelta(seconds=1.0)
        s.commit()
    signal(world, "heartbeat", positions=[])
    url = f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events"
    t0 = time.monotonic()
    r = world.client.get(url, params={"after": 0, "wait": 20}, headers=world.h(world.follow))
    assert r.status_code == 401 and time.monotonic() - t0 < 5


# --- L5: security headers ------------------------------------------------------------


def test_l5_security_headers_everywhere(world: World):
    c = world.client
    signal(world, "heartbeat", positions=[])
    poll = f"/api/mt/copy/t/{world.follow}/slave-signals?master_account_id=1001"
    c.get(poll)  # the second poll is answered from the edge's cache
    for r in (c.get("/login"), c.get(poll), c.get(poll), c.get("/api/v1/nothing")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in r.headers


def test_l5_https_deployments_get_hsts_and_secure_cookies(db_url):
    for world in make_world(db_url, https_only_cookies=True):
        r = world.client.get("/login")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in r.headers["set-cookie"].lower()


# --- L6: the licence route is no account oracle --------------------------------------


def test_l6_license_is_uniform_and_rate_limited(db_url):
    for world in make_world(db_url, license_rate_per_min=5):
        c = world.client
        answers = {
            c.post("/api/ea-license/validate", json={"accountNumber": n}).content
            for n in ("1001", "2001", "424242")
        }
        assert len(answers) == 1  # known or not, the same answer
        codes = [
            c.post("/api/ea-license/validate", json={"accountNumber": "1"}).status_code
            for _ in range(5)
        ]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        bad = c.post("/api/ea-license/validate", json={"accountNumber": {"x": 1}})
        assert bad.status_code in (400, 429)


# --- L7: the admin CLI refuses mistakes with one line --------------------------------


def run(*args: str):
    return CliRunner().invoke(cli_app, list(args))


def test_l7_admin_mistakes(tmp_path):
    db = f"sqlite:///{tmp_path / 'admin.db'}"
    assert (
        run("admin", "account", "--role", "master", "--number", "1001", "--db", db).exit_code == 0
    )
    assert (
        run("admin", "account", "--role", "follower", "--number", "2001", "--db", db).exit_code == 0
    )
    cases = [
        (("subscribe", "--follower", "1", "--master", "2"), "not a follower"),  # roles swapped
        (("subscribe", "--follower", "2", "--master", "2"), "not a master"),  # follows itself
        (("token", "--scope", "follow", "--account", "2", "--days", "-1"), "days"),
        (("token", "--scope", "follow", "--account", "2", "--days", "0"), "days"),
        (("account", "--role", "master", "--number", "1001"), "already exists"),
    ]
    assert run("admin", "subscribe", "--follower", "2", "--master", "1", "--db", db).exit_code == 0
    cases.append((("subscribe", "--follower", "2", "--master", "1"), "already exists"))
    for args, words in cases:
        r = run("admin", *args, "--db", db)
        assert r.exit_code == 2, (args, r.output)
        assert words in r.output and "Traceback" not in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) <= 2, (args, r.output)


def test_l7_operator_duplicate_logout_and_removal(tmp_path):
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    pw = ["--password", "correct horse battery"]
    assert run("admin", "operator", "--email", "a@x.io", *pw, "--db", db).exit_code == 0
    dup = run("admin", "operator", "--email", "a@x.io", *pw, "--db", db)
    assert dup.exit_code == 2 and "already exists" in dup.output and "Traceback" not in dup.output
    assert run("admin", "logout", "--email", "a@x.io", "--db", db).exit_code == 0
    assert run("admin", "remove-operator", "--email", "a@x.io", "--db", db).exit_code == 0
    gone = run("admin", "remove-operator", "--email", "a@x.io", "--db", db)
    assert gone.exit_code == 2 and "no operator" in gone.output


# --- L8: the edge and the route read the query string alike --------------------------


def test_l8_duplicated_parameters_cannot_poison_the_grant_cache(world: World):
    c = world.client
    with c.app.state.sessions() as s:
        other = admin.add_account(s, "master", "2002", "BrokerA", "m2@x.io")
        other_pub = admin.issue_token(s, "publish", other)
        s.commit()
    p = {"ticket": 1, "symbol": "EURUSD", "type": 0, "lots": 0.1, "open_price": 1.1}
    signal(world, "heartbeat", positions=[])
    c.post(
        f"/api/mt/copy/t/{other_pub}/master-signal",
        json={"action": "heartbeat", "account_number": "2002", "positions": [p]},
    )
    base = f"/api/mt/copy/t/{world.follow}/slave-signals"
    r = c.get(base + "?master_account_id=2002&master_account_id=&master_email=master@x.io")
    assert r.status_code == 200 and r.json()["positions"] == []  # master 1001 by e-mail
    for _ in range(2):  # neither the route nor the edge's cache serves master 2002
        assert c.get(base + "?master_account_id=2002").status_code == 403
