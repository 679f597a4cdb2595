"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from mtponte.copy.server import admin
from mtponte.copy.server.db import make_engine, session_factory, upgrade
from mtponte.copy.server.settings import ServerSettings
from tests.integration.test_copy_push import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


def test_login_follower_goes_online_edit_setting(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001")
        f = admin.add_account(s, "follower", "2001")
        sub = admin.subscribe(s, f, m)
        fol = admin.issue_token(s, "follow", f)
        admin.add_operator(s, "ops@x.io", "correct horse battery")
        ids = (m.id, f.id, sub.id)
        s.commit()
    engine.dispose()
    m_id, f_id, sub_id = ids
    with serve(ServerSettings(database_url=url)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.goto(f"{base}/")
        expect(page).to_have_url(f"{base}/login")
        page.fill("#email", "ops@x.io")
        page.fill("#password", "correct horse battery")
        page.click("#login")
        row = page.locator(f"#follower-{f_id} .state")
        expect(row).to_have_text("offline")
        r = httpx.post(
            f"{base}/api/v1/followers/{f_id}/heartbeats",
            headers={"Authorization": f"Bearer {fol}"},
            json={"positions": []},
        )
        assert r.status_code == 204
        expect(row).to_have_text("online", timeout=10_000)  # the page refreshes itself
        page.click(f"a[href='/subscriptions/{sub_id}']")
        page.fill("#volumeMultiplier", "2.5")
        page.click("#save")
        expect(page).to_have_url(f"{base}/")
        page.screenshot(path=str(tmp_path / "dashboard.png"))
        browser.close()
        r = httpx.get(
            f"{base}/api/v1/followers/{f_id}/masters/{m_id}/settings",
            headers={"Authorization": f"Bearer {fol}"},
        )
        assert r.json()["volumeMultiplier"] == 2.5
