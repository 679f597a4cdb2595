"""``mtponte publish``: errors are one line (exit 2), a run publishes and stops cleanly."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from mtponte.brokers.paper import PaperBroker
from mtponte.cli import app
from mtponte.domain import WIN, Side
from tests.copy.server.conftest import make_world

runner = CliRunner()


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not found"),
        ("server_url = 'http://x'\nmaster_id = 1\n", "token: Field required"),
        ("server_url = 'ftp://x'\nmaster_id = 1\ntoken = 't'\n", "server_url"),
        ("server_url = 'http://x'\nmaster_id = 0\ntoken = 't'\n", "master_id"),
        ("server_url = 'http://x'\nmaster_id = 1\ntoken = 't'\nbogus = 1\n", "bogus"),
        (
            "server_url = 'http://x'\nmaster_id = 1\ntoken = 't'\n[broker]\nkind = 'mt5'\n",
            "server_timezone is required",
        ),
        ("server_url = 'http://x'\nmaster_id = [\n", "not valid TOML"),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, text, message):
    cfg = tmp_path / "pub.toml"
    if text is not None:
        write(cfg, text)
    res = runner.invoke(app, ["publish", "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 2  # one line (rich may wrap a long one)


def test_a_bad_token_value_is_never_echoed(tmp_path):
    cfg = write(
        tmp_path / "pub.toml", "server_url = 'http://x'\nmaster_id = 1\ntoken = 123456789\n"
    )
    res = runner.invoke(app, ["publish", "--config", str(cfg)])
    assert res.exit_code == 2 and "token" in res.output and "123456789" not in res.output


def test_publish_runs_against_a_server_and_stops_cleanly(tmp_path, monkeypatch):
    gen = make_world(f"sqlite:///{tmp_path / 'copy.db'}")
    world = next(gen)
    try:
        paper = PaperBroker(tmp_path / "master.sqlite")
        paper.set_quote("WIN", 120_000, 120_005)
        paper.market_order("WIN", Side.BUY, 2, sl=119_000.0)
        monkeypatch.setattr(
            "mtponte.cli.publish._client",
            lambda cfg: httpx.Client(transport=world.client._transport, base_url=cfg.server_url),
        )
        monkeypatch.setenv("MTPONTE_PUBLISH_TOKEN", world.publish)
        cfg = write(
            tmp_path / "pub.toml",
            f"server_url = 'http://testserver'\nmaster_id = {world.master_id}\n"
            "token = 'overridden'\nstate_dir = 'state'\npoll_interval_s = 0.05\n"
            "[broker]\nkind = 'paper'\npaper_state = 'master.sqlite'\nsymbols = ['WIN']\n",
        )
        res = runner.invoke(app, ["publish", "--config", str(cfg), "--seconds", "0.5"])
        assert res.exit_code == 0, res.output
        assert "0 events waiting" in res.output and world.publish not in res.output
        assert (tmp_path / "state" / "publisher.sqlite").is_file()
        r = world.client.get(
            f"/api/v1/followers/{world.follower_id}/masters/{world.master_id}/events",
            params={"after": 0},
            headers=world.h(world.follow),
        )
        (ev,) = r.json()["events"]
        assert ev["kind"] == "open" and ev["payload"]["symbol"] == WIN.name
        assert ev["payload"]["volume"] == 2 and ev["payload"]["sl"] == 119_000.0
    finally:
        for _ in gen:
            pass


def test_publish_keeps_running_while_the_server_is_unreachable(tmp_path):
    cfg = write(
        tmp_path / "pub.toml",
        "server_url = 'http://127.0.0.1:9'\nmaster_id = 1\ntoken = 'secret-token'\n"
        "state_dir = 'state'\npoll_interval_s = 0.05\nhttp_timeout_s = 0.5\n",
    )
    res = runner.invoke(app, ["publish", "--config", str(cfg), "--seconds", "0.3"])
    assert res.exit_code == 0, res.output
    assert "secret-token" not in res.output
