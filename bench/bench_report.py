"""Report benchmark (not a test): run with ``uv run python bench/bench_report.py``.

For 100k and 1M bars of synthetic WIN M5: time to write ``report.html`` (decimation,
Bokeh document, inline resources, tables), its size, the candles drawn, and, with
``--browser``, the time headless Chromium takes to load and draw it (Debian's
chromium driven by Playwright). ``trades.csv``/``stats.json`` are timed apart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from mtponte.backtest import run_backtest
from mtponte.backtest.decimate import decimate
from mtponte.backtest.report import render_html, write_outputs
from mtponte.data import synth_win
from mtponte.domain import WIN

BARS_PER_DAY = 114


def browser_load_s(path: Path) -> float:
    """Seconds from navigation until Bokeh has drawn every plot canvas."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("--browser needs Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_function(
            "window.Bokeh && Bokeh.documents.length > 0 && "
            "document.querySelector('[data-root-id]') && "
            "Object.values(Bokeh.index).some((v) => v.model.type === 'Column')",
            timeout=120_000,
        )
        page.locator(".bk-Canvas").nth(2).wait_for(timeout=120_000)
        dt = time.perf_counter() - t0
        browser.close()
    return dt


def bench(n_bars: int, browser: bool) -> dict:
    bars = synth_win(days=n_bars // BARS_PER_DAY + 1, seed=3)[:n_bars]
    result = run_backtest(bars, WIN)
    trades = result.trades()
    cd = decimate(bars.open, bars.high, bars.low, bars.close, result.t.entry_i, result.t.exit_i)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        doc = json.loads(
            json.dumps(
                {
                    "stats": result.stats,
                    "params": {},
                    "bars": len(bars),
                    "first_bar": None,
                    "last_bar": None,
                },
                default=str,
            )
        )
        render_html(result, trades, doc)  # warm-up: first Bokeh import and model setup
        t0 = time.perf_counter()
        html = render_html(result, trades, doc)
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = write_outputs(result, out)
        t_all = time.perf_counter() - t0
        size = paths["report"].stat().st_size
        row = {
            "bars": len(bars),
            "trades": len(trades),
            "candles_drawn": len(cd),
            "render_html_s": round(t_render, 3),
            "write_outputs_s": round(t_all, 3),
            "report_bytes": size,
            "report_mb": round(size / 1e6, 2),
            "html_chars": len(html),
        }
        if browser:
            row["chromium_load_s"] = round(browser_load_s(paths["report"]), 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--browser", action="store_true", help="also time Chromium loading it")
    a = ap.parse_args()
    for n in a.bars:
        print(json.dumps(bench(n, a.browser)))


if __name__ == "__main__":
    main()
