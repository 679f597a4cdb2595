"""``mtponte follow``: errors are one line (exit 2); a run copies and stops cleanly."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mtponte.brokers.paper import PaperBroker
from mtponte.cli import app
from mtponte.copy.server.models import Subscription
from tests.copy.server.conftest import make_world

runner = CliRunner()
BASE = "server_url = 'http://x'\nfollower_id = 2\nmaster_id = 1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not found"),
        (BASE, "token: Field required"),
        (BASE + "token = 't'\nmagic = -1\n", "magic"),
        (BASE + "token = 't'\nlong_poll_s = 99\n", "long_poll_s"),
        (BASE + "token = 't'\n[broker]\nkind = 'bridge'\n", "bridge_dir is required"),
        (BASE + "token = 't'\nwho = 1\n", "who"),
        (BASE + "token = 't'\n[broker]\nkind = 'bridge'\nbridge_dir = 'b'\n", "cannot follow"),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, text, message):
    cfg = tmp_path / "f.toml"
    if text is not None:
        cfg.write_text(text, encoding="utf-8")
    res = runner.invoke(app, ["follow", "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_follow_copies_from_a_server_and_stops_leaving_the_account(tmp_path, monkeypatch):
    gen = make_world(f"sqlite:///{tmp_path / 'copy.db'}")
    world = next(gen)
    try:
        with world.client.app.state.sessions() as s:  # type: ignore[attr-defined]
            sub = s.scalar(
                select(Subscription).where(Subscription.follower_id == world.follower_id)
            )
            # The master's position exists before the follower starts: a late join.
            sub.settings = {"volumeMultiplier": 2.0, "lateJoin": "market"}
            sub.version += 1
            s.commit()
        r = world.client.post(
            f"/api/v1/masters/{world.master_id}/events",
            json={
                "kind": "open",
                "idempotency_key": "k1",
                "ticket": "5",
                "symbol": "WIN",
                "side": "buy",
                "volume": 1.0,
                "price": 120_000.0,
            },
            headers=world.h(world.publish),
        )
        assert r.status_code == 201
        paper = PaperBroker(tmp_path / "acct.sqlite", account_mode="netting")
        paper.set_quote("WIN", 120_000, 120_005)
        paper.close()
        monkeypatch.setattr(
            "mtponte.cli.follow._client",
            lambda cfg: httpx.Client(transport=world.client._transport, base_url=cfg.server_url),
        )
        monkeypatch.setenv("MTPONTE_FOLLOW_TOKEN", world.follow)
        cfg = tmp_path / "f.toml"
        cfg.write_text(
            f"server_url = 'http://testserver'\nfollower_id = {world.follower_id}\n"
            f"master_id = {world.master_id}\ntoken = 'overridden'\nstate_dir = 'state'\n"
            "long_poll_s = 0.2\nheartbeat_interval_s = 0.2\nmagic = 42\n"
            "[broker]\nkind = 'paper'\npaper_state = 'acct.sqlite'\npaper_mode = 'netting'\n"
            "symbols = ['WIN']\n",
            encoding="utf-8",
        )
        res = runner.invoke(app, ["follow", "--config", str(cfg), "--seconds", "1.5"])
        assert res.exit_code == 0, res.output
        assert "left as it is" in res.output and world.follow not in res.output
        acct = PaperBroker(tmp_path / "acct.sqlite", account_mode="netting")
        # The master opened 1 lot: the subscription multiplies by 2 (make_world).
        assert [(p.symbol, p.volume, p.magic) for p in acct.positions()] == [("WIN", 2.0, 42)]
        assert (tmp_path / "state" / f"ledger-{world.follower_id}-{world.master_id}.json").is_file()
    finally:
        gen.close()
