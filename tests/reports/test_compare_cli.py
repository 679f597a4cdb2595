"""``mtponte compare`` end to end, and its page rendered in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.data import save_bars_csv
from mtponte.domain import Bars
from mtponte.domain.orders import Trade
from tests.reports.conftest import Faults, run_replay

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory, data: Bars, bt_trades: list[Trade]) -> Path:
    d = tmp_path_factory.mktemp("cli")
    save_bars_csv(data, d / "win.csv")
    run_replay(data, d, Faults(reject=(bt_trades[8].entry_time,)))
    res = runner.invoke(
        app, ["compare", "--live", str(d), "--data", str(d / "win.csv"), "--out", str(d / "out")]
    )
    assert res.exit_code == 0, res.output
    assert "rejected by the broker (retcode 10019" in res.output
    return d / "out"


def test_writes_json_html_png(compared: Path, bt_trades: list[Trade]) -> None:
    doc = json.loads((compared / "compare.json").read_text(encoding="utf-8"))
    assert doc["counts"]["missed"] >= 1 and doc["metrics"]["backtest_trades"] == len(bt_trades)
    assert set(doc["checks"]) == {"identity", "slippage", "latency", "uptime", "sharpe"}
    missed = [t for t in doc["trades"] if t["status"] == "missed"]
    assert missed[0]["cause"].startswith("stop order rejected by the broker")
    page = (compared / "compare.html").read_text(encoding="utf-8")
    assert 'id="equity"' in page and "<script" not in page and "src=" not in page
    assert (compared / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["compare", "--live", str(tmp_path / "nope"), "--data", "x.csv", "--out", str(tmp_path)],
    )
    assert res.exit_code == 2
    assert "no such file or folder" in res.output and "Traceback" not in res.output


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_page_renders_in_chromium(compared: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 1800})
        page.goto((compared / "compare.html").resolve().as_uri())
        expect(page.locator("h1")).to_contain_text("Live vs backtest")
        for sel in ("svg#equity", "svg#slippage-hist", "svg#latency-hist"):
            expect(page.locator(sel)).to_be_visible()
        assert page.locator("svg#equity polyline.curve-backtest").count() == 1
        assert page.locator("svg#equity polyline.curve-live").count() == 1
        assert page.locator("svg#latency-hist rect").count() > 0
        box = page.locator("svg#equity").bounding_box()
        assert box is not None and box["width"] > 500 and box["height"] > 200
        expect(page.locator("#unmatched")).to_contain_text("rejected by the broker")
        shot = tmp_path / "compare.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    shutil.copy(shot, compared / "compare-screenshot.png")
