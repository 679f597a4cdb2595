"""Settings files, environment overrides and the broker factory."""

from __future__ import annotations

import json

import pytest

from mtponte.copy.publisher import load_settings, make_broker
from mtponte.domain.side import Side
from mtponte.errors import BrokerError, ConfigError

BASE = "server_url = 'https://copy.example'\nmaster_id = 3\ntoken = 'file-token'\n"


def write(tmp_path, extra=""):
    p = tmp_path / "conf" / "pub.toml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(BASE + extra, encoding="utf-8")
    return p


def test_relative_paths_are_taken_from_the_file_folder_and_the_env_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("MTPONTE_PUBLISH_TOKEN", "env-token")
    monkeypatch.setenv("MTPONTE_PUBLISH_BROKER__PAPER_MODE", "netting")
    cfg = load_settings(write(tmp_path, "magic = [7, 8]\n[broker]\npaper_state = 'paper.sqlite'\n"))
    assert cfg.token.get_secret_value() == "env-token"
    assert cfg.state_dir == tmp_path / "conf" / "publisher-state"
    assert cfg.broker.paper_state == (tmp_path / "conf" / "paper.sqlite").as_posix()
    assert cfg.broker.paper_mode == "netting" and cfg.magic == [7, 8]
    broker = make_broker(cfg.broker)
    assert broker.account().account_mode == "netting"


def test_every_problem_is_listed_on_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "poll_interval_s = 0\n[broker]\nkind = 'bridge'\n"))
    msg = str(err.value)
    assert "poll_interval_s" in msg and "bridge_dir is required" in msg and "\n" not in msg


def test_the_bridge_reader_reads_state_and_leaves_the_monitor_journal_alone(tmp_path):
    root = tmp_path / "bridge"
    (root / "state").mkdir(parents=True)
    pos = {
        "ticket": "77",
        "symbol": "WIN",
        "side": "sell",
        "volume": 2.0,
        "open_price": 120_000.0,
        "open_time": 1_700_000_000_000,
        "sl": 120_500.0,
        "magic": 7001,
    }
    (root / "state" / "positions.json").write_text(json.dumps({"positions": [pos]}))
    cfg = load_settings(write(tmp_path, f"[broker]\nkind = 'bridge'\nbridge_dir = '{root}'\n"))
    (p,) = make_broker(cfg.broker).positions()
    assert (p.ticket, p.side, p.volume, p.sl) == ("77", Side.SELL, 2.0, 120_500.0)
    assert not (root / "journal" / "client.sqlite").exists()


def test_mt5_is_imported_only_when_chosen_and_its_absence_is_one_line(tmp_path):
    try:
        import MetaTrader5  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the MetaTrader5 package is installed here")
    cfg = load_settings(
        write(tmp_path, "[broker]\nkind = 'mt5'\nserver_timezone = 'UTC'\npassword = 'pw'\n")
    )
    with pytest.raises(BrokerError, match="MetaTrader5 package is not installed") as err:
        make_broker(cfg.broker)
    assert "pw" not in str(err.value)
