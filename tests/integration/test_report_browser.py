"""report.html and the optimization heatmap in a real headless Chromium (Playwright)."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from mtponte.backtest import run_backtest
from mtponte.backtest.report import write_outputs
from mtponte.cli import app
from mtponte.data import save_bars_csv, synth_win
from mtponte.domain import WIN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _open(path, shot=None):
    """Load ``path`` offline; return console errors, outside requests, the Bokeh root
    models' types and the number of plot canvases drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            # Offline: any request leaving the file fails the test.
            requests: list[str] = []
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith("file:")
                    else (requests.append(route.request.url), route.abort())
                ),
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_selector("[data-root-id] canvas, .bk-Canvas, canvas", timeout=30_000)
            page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=30_000)
            roots = page.evaluate("Bokeh.documents.flatMap((d) => d.roots().map((r) => r.type))")
            canvases = page.locator(".bk-Canvas").count()
            if shot:
                page.screenshot(path=str(shot))
            return errors, requests, sorted(roots), canvases
        finally:
            browser.close()


def test_report_on_demo_data_loads_without_errors(tmp_path):
    bars = synth_win(days=250, seed=7)  # the demo's data
    result = run_backtest(bars, WIN)
    paths = write_outputs(result, tmp_path, {"data": "synthetic WIN M5", "seed": 7})
    errors, requests, roots, canvases = _open(paths["report"], tmp_path / "report.png")
    assert errors == [] and requests == []
    assert roots == ["Column"]  # price, equity and drawdown in one layout
    assert canvases == 3
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_heatmap_page_loads_without_errors(tmp_path):
    data = tmp_path / "win.csv"
    save_bars_csv(synth_win(days=60, seed=5), data)
    res = CliRunner().invoke(
        app,
        [
            "optimize",
            str(data),
            "--grid",
            "sl_atr=1,2",
            "--grid",
            "tp_atr=2,3",
            "--forward",
            "1/3",
            "--heatmap",
            "sl_atr,tp_atr",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    errors, requests, roots, canvases = _open(tmp_path / "o" / "heatmap.html")
    assert errors == [] and requests == []
    assert roots == ["Figure", "Figure"] and canvases == 2  # in-sample and forward
