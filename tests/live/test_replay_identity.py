"""MUST SHOW: `mtponte replay --via paper` and `--via bridge` (the reference executor as
a child process behind the file bridge) write the trades.csv of `mtponte backtest`, byte
for byte, on synthetic WIN M5 and on the real WIN H1 export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtponte.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "win_m5.csv"
    res = runner.invoke(app, ["data", "synth", "--out", str(path), "--days", "80", "--seed", "3"])
    assert res.exit_code == 0, res.output
    return path


def _both(data: Path, tmp: Path, sets: list[str]) -> tuple[Path, Path]:
    extra = [a for s in sets for a in ("--set", s)]
    bt, rp = tmp / "bt", tmp / "rp"
    res = runner.invoke(app, ["backtest", str(data), "--symbol", "WIN", *extra, "--out", str(bt)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        ["replay", str(data), "--symbol", "WIN", "--via", "paper", *extra, "--out", str(rp)],
    )
    assert res.exit_code == 0, res.output
    return bt, rp


def _assert_identical(bt: Path, rp: Path) -> None:
    a, b = (bt / "trades.csv").read_bytes(), (rp / "trades.csv").read_bytes()
    assert a.count(b"\n") > 10, "too few trades for the comparison to mean anything"
    assert a == b
    assert (bt / "stats.json").read_bytes() == (rp / "stats.json").read_bytes()


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_synthetic_m5(synth_file: Path, tmp_path: Path, mode: str) -> None:
    bt, rp = _both(synth_file, tmp_path, [f"entry_mode={mode}"])
    _assert_identical(bt, rp)
    assert (rp / "journal.sqlite").is_file()
    assert (rp / "logs" / "monitor_live.log").read_text(encoding="utf-8").count(" | ") > 10


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_synthetic_m5_with_costs(synth_file: Path, tmp_path: Path, mode: str) -> None:
    sets = [f"entry_mode={mode}", "slippage_ticks=2", "fee_per_contract=0.25", "volume=3"]
    _assert_identical(*_both(synth_file, tmp_path, sets))


H1_FIT = ["window_start=09:00", "window_end=15:00", "flat_time=17:00"]


@pytest.mark.parametrize("fit", [False, True], ids=["defaults", "h1-window"])
@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_real_h1(win_h1_path: Path, tmp_path: Path, mode: str, fit: bool) -> None:
    # The defaults, and a window and flat time that fit bars opening on the hour.
    sets = [f"entry_mode={mode}", *(H1_FIT if fit else [])]
    _assert_identical(*_both(win_h1_path, tmp_path, sets))


def _via_bridge(data: Path, tmp: Path, sets: list[str]) -> tuple[Path, Path]:
    """The backtest, and the replay through the file bridge to the reference executor
    running as a child process (`mtponte bridge market`)."""
    extra = [a for s in sets for a in ("--set", s)]
    bt, rb = tmp / "bt", tmp / "rb"
    res = runner.invoke(app, ["backtest", str(data), "--symbol", "WIN", *extra, "--out", str(bt)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        ["replay", str(data), "--symbol", "WIN", "--via", "bridge", *extra, "--out", str(rb)],
    )
    assert res.exit_code == 0, res.output
    return bt, rb


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_synthetic_m5_via_bridge(synth_file: Path, tmp_path: Path, mode: str) -> None:
    sets = [f"entry_mode={mode}", "fee_per_contract=0.25", "volume=2"]
    bt, rb = _via_bridge(synth_file, tmp_path, sets)
    _assert_identical(bt, rb)
    # the orders went through the bridge: the executor journaled each command once
    with sqlite3.connect(rb / "mt5-files" / "journal" / "executor.sqlite") as db:
        rows = db.execute("SELECT state, command FROM commands").fetchall()
    entries = [r for r in rows if json.loads(r[1])["kind"] in ("open", "place")]
    trades = (bt / "trades.csv").read_bytes().count(b"\n") - 1
    assert {r[0] for r in rows} == {"done"}
    assert len(entries) >= trades  # every trade entered by a command the executor ran
    assert "market stopped after" in (rb / "executor.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_real_h1_via_bridge(win_h1_path: Path, tmp_path: Path, mode: str) -> None:
    _assert_identical(*_via_bridge(win_h1_path, tmp_path, [f"entry_mode={mode}", *H1_FIT]))


def test_via_bridge_refuses_slippage_in_one_line(synth_file: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["replay", str(synth_file), "--via", "bridge", "--set", "slippage_ticks=2", "--out",
         str(tmp_path / "x")],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "slippage_ticks" in res.output and "Traceback" not in res.output
