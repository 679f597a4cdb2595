"""`mtponte status` on the journal, heartbeat, paper account and alert history a short
`mtponte live` run leaves behind (and a bridge folder's EA heartbeat)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.data import save_bars_csv, synth_win

cli = CliRunner()


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mon")
    save_bars_csv(synth_win(days=6, seed=4), d / "bars.csv")
    (d / "live.toml").write_text(
        'symbol = "WIN"\n[runner]\nmode = "trade"\nheartbeat_file = "hb"\n'
        '[risk]\ndaily_loss_limit = 300.0\nmax_trades_per_day = 2\nkill_switch_file = "KILL"\n'
        '[feed]\nkind = "replay"\npath = "bars.csv"\n'
        '[broker]\npaper_state = "paper.sqlite"\nbridge_dir = "bridge"\n'
        '[journal]\nurl = "sqlite:///journal.sqlite"\n',
        encoding="utf-8",
    )
    res = cli.invoke(app, ["live", "--config", str(d / "live.toml")])
    assert res.exit_code == 0, res.output
    return d


def test_status_json(ran: Path) -> None:
    res = cli.invoke(app, ["status", "--config", str(ran / "live.toml"), "--json"])
    assert res.exit_code == 0, res.output
    st = json.loads(res.output)
    j = st["journal"]
    assert j["trades_total"] > 0 and j["run"]["mode"] == "trade"
    assert 0 <= st["monitor"]["heartbeat_file_age_s"] < 120
    assert st["monitor"]["journal_heartbeat_age_s"] is not None
    assert st["kill_switch"] == {"file": str(ran / "KILL"), "active": False}
    limits = {x["limit"]: x for x in st["limits"]}
    assert limits["max_trades_per_day"]["value"] == 2
    assert limits["max_trades_per_day"]["now"] == j["entries_today"]
    assert limits["daily_loss"]["value"] == 300.0
    assert st["account"]["positions"] == [] and st["account"]["balance"] > 0
    assert {a["kind"] for a in st["alerts"]} >= {"fill", "exit"}
    assert st["bridge"]["error"].startswith("no ")  # configured, but no EA ever wrote


def test_status_screen_with_an_ea_heartbeat_and_the_kill_switch(ran: Path) -> None:
    state = ran / "bridge" / "state"
    state.mkdir(parents=True, exist_ok=True)
    hb = {"v": 1, "seq": 3, "time": int((time.time() - 42) * 1000), "terminal_connected": True}
    (state / "heartbeat.json").write_text(json.dumps(hb), encoding="utf-8")
    (ran / "KILL").write_text("x")
    try:
        res = cli.invoke(app, ["status", "--config", str(ran / "live.toml"), "--json"])
        st = json.loads(res.output)
        assert 40 <= st["bridge"]["ea_heartbeat_age_s"] < 100
        assert st["kill_switch"]["active"] is True
        res = cli.invoke(app, ["status", "--config", str(ran / "live.toml")])
        assert res.exit_code == 0, res.output
        for text in ("mtponte status", "EA heartbeat", "kill switch", "risk limits", "ON"):
            assert text in res.output
        assert "mtp:" in res.output  # alert texts are shown verbatim (not as markup)
    finally:
        (ran / "KILL").unlink()


def test_status_errors_are_one_line(tmp_path: Path) -> None:
    res = cli.invoke(app, ["status", "--config", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2 and "not found" in res.output
    (tmp_path / "c.toml").write_text('[journal]\nurl = "sqlite:///j.sqlite"\n')
    res = cli.invoke(app, ["status", "--config", str(tmp_path / "c.toml"), "--json"])
    assert res.exit_code == 0 and "no journal" in json.loads(res.output)["journal"]["error"]
