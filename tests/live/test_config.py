from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.errors import ConfigError
from mtponte.live.config import config_problems, load_config, with_strategy_overrides

runner = CliRunner()

GOOD = """
symbol = "WIN"
[runner]
mode = "trade"
magic = 42
[strategy]
entry_mode = "next_open"
sl_atr = 1.5
[risk]
daily_loss_limit = 300.0
window_start = "09:15"
window_end = "12:00"
[feed]
path = "bars.csv"
"""

BAD = """
[runner]
mode = "yolo"
magic = -1
[strategy]
sl_atr = -2
nope = 1
[risk]
window_start = "12:00"
window_end = "09:00"
[broker]
kind = "bridge"
[surprise]
x = 1
"""


def test_safe_defaults() -> None:
    cfg = load_config(None)
    assert cfg.runner.mode == "log_only"
    assert cfg.runner.allow_real_account is False
    assert cfg.runner.on_existing == "refuse"
    assert cfg.journal.url.startswith("sqlite:///")


def test_toml_is_typed(tmp_path: Path) -> None:
    f = tmp_path / "live.toml"
    f.write_text(GOOD, encoding="utf-8")
    cfg = load_config(f)
    assert cfg.runner.magic == 42 and cfg.strategy.entry_mode == "next_open"
    assert cfg.risk.limits().daily_loss_limit == 300.0
    assert str(cfg.risk.window_start) == "09:15:00"
    assert config_problems(f) == []


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "live.toml"
    f.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("MTPONTE_LIVE__RUNNER__MAGIC", "99")
    monkeypatch.setenv("MTPONTE_LIVE__RISK__MAX_TRADES_PER_DAY", "3")
    cfg = load_config(f)
    assert cfg.runner.magic == 99 and cfg.risk.max_trades_per_day == 3
    assert cfg.runner.mode == "trade"  # untouched keys keep the file's value


def test_every_problem_with_its_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(BAD, encoding="utf-8")
    problems = config_problems(f)
    keys = {p.split(":", 1)[0] for p in problems}
    assert {
        "runner.mode",
        "runner.magic",
        "strategy.sl_atr",
        "strategy.nope",
        "risk",
        "broker",
        "surprise",
    } <= keys, problems
    with pytest.raises(ConfigError, match=r"runner\.mode"):
        load_config(f)


def test_config_check_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    res = runner.invoke(app, ["config", "check", str(bad)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == len(config_problems(bad)) and any(
        x.startswith("runner.mode:") for x in lines
    )

    broken = tmp_path / "broken.toml"
    broken.write_text("[runner\nmode=", encoding="utf-8")
    res = runner.invoke(app, ["config", "check", str(broken)])
    assert res.exit_code == 2 and "not valid TOML" in res.output and "Traceback" not in res.output

    res = runner.invoke(app, ["config", "check", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "cannot read" in res.output

    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    res = runner.invoke(app, ["config", "check", str(good)])
    assert res.exit_code == 0 and "ok" in res.output


def test_strategy_overrides() -> None:
    cfg = with_strategy_overrides(load_config(None), {"sl_atr": "1.0"})
    assert cfg.strategy.sl_atr == 1.0
    with pytest.raises(ConfigError, match="unknown parameter"):
        with_strategy_overrides(cfg, {"bogus": "1"})


def test_relative_paths_are_the_config_files(tmp_path: Path) -> None:
    from mtponte.live.config import resolve_paths

    f = tmp_path / "live.toml"
    f.write_text(GOOD, encoding="utf-8")
    cfg = resolve_paths(load_config(f), tmp_path)
    assert cfg.feed.path == tmp_path / "bars.csv"
    assert cfg.journal.logs_dir == tmp_path / "logs"
    assert cfg.risk.kill_switch_file == tmp_path / "KILL_SWITCH"
    assert cfg.journal.url == "sqlite:///" + (tmp_path / "state/journal.sqlite").as_posix()
    pg = cfg.model_copy(
        update={"journal": cfg.journal.model_copy(update={"url": "postgresql://h/db"})}
    )
    assert resolve_paths(pg, tmp_path).journal.url == "postgresql://h/db"


def test_polled_feeds_need_their_keys(tmp_path: Path) -> None:
    def problems(text: str) -> list[str]:
        f = tmp_path / "feed.toml"
        f.write_text(text, encoding="utf-8")
        return config_problems(f)

    assert any(
        p.startswith("feed:") and "timeframe required" in p
        for p in problems('[feed]\nkind = "mt5"\n')
    )
    mt5 = problems('[feed]\nkind = "mt5"\ntimeframe = "M5"\n')
    assert len(mt5) == 1 and "server_timezone is required" in mt5[0], mt5
    assert (
        problems('server_timezone = "America/Sao_Paulo"\n[feed]\nkind = "mt5"\ntimeframe = "M5"\n')
        == []
    )
    bridge = problems('[feed]\nkind = "bridge"\n')
    assert len(bridge) == 1 and "timeframe and bridge_dir required" in bridge[0], bridge
    assert problems('[feed]\nkind = "bridge"\ntimeframe = "M5"\nbridge_dir = "b"\n') == []
    server = problems(
        '[feed]\nkind = "bridge"\ntimeframe = "M5"\nbridge_dir = "b"\nbridge_times = "server"\n'
    )
    assert len(server) == 1 and "server_timezone" in server[0], server
    assert any("MN1" in p for p in problems('[feed]\nkind = "mt5"\ntimeframe = "MN1"\n'))


def test_live_refuses_a_feed_without_its_broker(tmp_path: Path, monkeypatch) -> None:
    m = tmp_path / "mt5.toml"
    mt5 = 'server_timezone = "America/Sao_Paulo"\n[feed]\nkind = "mt5"\ntimeframe = "M5"\n'
    m.write_text(mt5, encoding="utf-8")
    res = runner.invoke(app, ["live", "--config", str(m)])
    assert res.exit_code == 2 and "broker.kind" in res.output and "Traceback" not in res.output
    # the mt5 feed runs through the mt5 broker: without the package, a one-line error
    monkeypatch.delenv("MTPONTE_MT5_MODULE", raising=False)
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)  # import fails even on Windows
    m.write_text(mt5 + '[broker]\nkind = "mt5"\n', encoding="utf-8")
    res = runner.invoke(app, ["live", "--config", str(m)])
    assert res.exit_code == 2 and "MetaTrader5 package" in res.output
    assert "Traceback" not in res.output
    # the bridge feed runs, through the bridge broker only
    f = tmp_path / "live.toml"
    f.write_text('[feed]\nkind = "bridge"\ntimeframe = "M5"\nbridge_dir = "b"\n', encoding="utf-8")
    res = runner.invoke(app, ["live", "--config", str(f)])
    assert res.exit_code == 2 and "broker.kind = 'bridge'" in res.output
    assert "Traceback" not in res.output
    from mtponte.live.config import resolve_paths

    assert resolve_paths(load_config(f), tmp_path).feed.bridge_dir == tmp_path / "b"


def test_csv_tail_needs_its_path_and_a_live_broker(tmp_path: Path) -> None:
    f = tmp_path / "tail.toml"
    f.write_text('[feed]\nkind = "csv_tail"\ntimeframe = "M5"\n', encoding="utf-8")
    assert any(p.startswith("feed") and "path" in p for p in config_problems(f))
    f.write_text(
        '[feed]\nkind = "csv_tail"\ntimeframe = "M5"\npath = "bars.csv"\n', encoding="utf-8"
    )
    assert config_problems(f) == []
    res = runner.invoke(app, ["live", "--config", str(f)])
    assert res.exit_code == 2 and "broker.kind" in res.output and "'bridge' or 'mt5'" in res.output
    assert "Traceback" not in res.output
