"""``compare.html``: one self-contained page, plots drawn as inline SVG.

Same approach as :mod:`mtponte.backtest.report` (hand-written SVG, no JavaScript, no
plotting dependency): the page opens offline on a trading desk.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mtponte.reports.compare import CompareReport

W, H = 900, 260
COLORS = {"backtest": "#1f77b4", "live": "#d62728"}


def _scale(v: np.ndarray, lo: float, hi: float, size: float, pad: float = 10) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return pad + (v - lo) / span * (size - 2 * pad)


def equity_svg(curves: dict[str, Sequence[tuple[float, float]]]) -> str:
    """Step curves of cumulative P&L over time, overlaid (one polyline each)."""
    pts = [p for c in curves.values() for p in c]
    if not pts:
        return (
            '<svg id="equity" class="plot" viewBox="0 0 900 40">'
            '<text x="4" y="20">no trades</text></svg>'
        )
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts] + [0.0])
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    lines = []
    for name, c in curves.items():
        if not c:
            continue
        t = np.array([x0] + [p[0] for p in c])
        v = np.array([0.0] + [p[1] for p in c])
        px, py = _scale(t, x0, x1, W), H - _scale(v, y0, y1, H)
        steps = [f"{px[0]:.1f},{py[0]:.1f}"]
        for k in range(1, len(px)):
            steps.append(f"{px[k]:.1f},{py[k - 1]:.1f} {px[k]:.1f},{py[k]:.1f}")
        lines.append(
            f'<polyline class="curve-{name}" fill="none" stroke="{COLORS.get(name, "#555")}" '
            f'stroke-width="1.6" points="{" ".join(steps)}"/>'
        )
    zero = H - _scale(np.array([0.0]), y0, y1, H)[0]
    first = datetime.fromtimestamp(x0, tz=UTC).strftime("%Y-%m-%d")
    last = datetime.fromtimestamp(x1, tz=UTC).strftime("%Y-%m-%d")
    legend = "".join(
        f'<text x="{W - 150}" y="{16 + 14 * k}" font-size="12" fill="{COLORS.get(n, "#555")}">'
        f"— {n}</text>"
        for k, n in enumerate(curves)
    )
    return (
        f'<svg id="equity" class="plot" viewBox="0 0 {W} {H}" width="100%" height="{H}" '
        f'xmlns="http://www.w3.org/2000/svg"><line x1="0" x2="{W}" y1="{zero:.1f}" '
        f'y2="{zero:.1f}" stroke="#999" stroke-dasharray="4"/>{"".join(lines)}{legend}'
        f'<text x="4" y="12" font-size="11">{y1:,.2f}</text>'
        f'<text x="4" y="{H - 2}" font-size="11">{y0:,.2f}</text>'
        f'<text x="60" y="{H - 2}" font-size="11">{first}</text>'
        f'<text x="{W - 80}" y="{H - 2}" font-size="11">{last}</text></svg>'
    )


def histogram_svg(values: Sequence[float], svg_id: str, unit: str, bins: int = 20) -> str:
    """Bars of a histogram of ``values`` (an empty one says so)."""
    h = 160
    if not values:
        return (
            f'<svg id="{svg_id}" class="plot" viewBox="0 0 {W} 40" width="100%" height="40">'
            '<text x="4" y="20" font-size="12">no values</text></svg>'
        )
    a = np.asarray(values, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(a, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    bw = W / bins
    rects = "".join(
        f'<rect x="{k * bw + 1:.1f}" y="{h - 20 - c / top * (h - 40):.1f}" width="{bw - 2:.1f}" '
        f'height="{c / top * (h - 40):.1f}" fill="#4c78a8"><title>{edges[k]:g} – '
        f"{edges[k + 1]:g} {unit}: {c}</title></rect>"
        for k, c in enumerate(counts)
    )
    return (
        f'<svg id="{svg_id}" class="plot" viewBox="0 0 {W} {h}" width="100%" height="{h}" '
        f'xmlns="http://www.w3.org/2000/svg">{rects}<text x="2" y="{h - 4}" font-size="11">'
        f'{lo:g} {unit}</text><text x="{W - 120}" y="{h - 4}" font-size="11">{hi:g} {unit}'
        f'</text><text x="4" y="12" font-size="11">max {top}</text></svg>'
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def _trade_cell(t: dict[str, Any] | None) -> str:
    if t is None:
        return "—"
    return html.escape(
        f"{t['side']} {t['entry_time'][:16]} @ {t['entry_price']:g} → "
        f"{t['exit_time'][:16]} @ {t['exit_price']:g} ({t['exit_reason']}, {t['pnl_money']:,.2f})"
    )


def render_compare_html(report: CompareReport) -> str:
    """The whole page."""
    doc = report.to_dict()
    e = html.escape
    verdict = {True: "PASS", False: "FAIL", None: "n/a"}
    checks = "".join(
        f"<tr class='{verdict[c['pass']].lower().replace('/', '')}'><th>{e(k)}</th>"
        f"<td>{e(_fmt(c['value']))}</td><td>{e(c['target'])}</td>"
        f"<td>{verdict[c['pass']]}</td></tr>"
        for k, c in doc["checks"].items()
    )
    metrics = "".join(
        f"<tr><th>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in doc["metrics"].items()
    )
    counts = ", ".join(f"{k} {v}" for k, v in doc["counts"].items())
    rows = "".join(
        f"<tr><td>{e(p['status'])}</td><td>{_trade_cell(p['backtest'])}</td>"
        f"<td>{_trade_cell(p['live'])}</td><td class='cause'>{e(p['cause'])}</td></tr>"
        for p in doc["trades"]
        if p["status"] != "matched"
    )
    diffs = "".join(
        f"<tr><td>{e(d['time'])}</td><td>{e(d['kind'])}</td><td>{e(d['detail'])}</td></tr>"
        for d in doc["bar_diffs"]
    )
    slips = [x for r in report.slippage for x in (r["entry_points"], r["exit_points"])]
    lat_ms = [x * 1000.0 for x in report.latencies_s]
    meta = e(json.dumps(doc["meta"]["params"]))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>mtponte live vs backtest — {e(str(doc["meta"]["symbol"]))}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ddd;padding:3px 8px;
font-size:13px;text-align:left}}th{{background:#f4f4f4}}tr.pass td:last-child{{color:#070}}
tr.fail td:last-child{{color:#b00;font-weight:bold}}.cause{{max-width:520px}}
code{{font-size:12px}}</style></head><body>
<h1>Live vs backtest — {e(str(doc["meta"]["symbol"]))}</h1>
<p>{e(str(doc["meta"]["source"]))}: {doc["meta"]["bars"]:,} bars,
{e(str(doc["meta"]["first_bar"]))} → {e(str(doc["meta"]["last_bar"]))}. Trades: {e(counts)}.</p>
<p><code>{meta}</code></p>
<h2>Success metrics (seed 000)</h2>
<table id="checks"><tr><th>metric</th><th>value</th><th>target</th><th></th></tr>{checks}</table>
<h2>Equity: backtest and live (closed trades)</h2>{equity_svg(doc_curves(report))}
<h2>Slippage per fill (points, positive = worse than the backtest)</h2>
{histogram_svg(slips, "slippage-hist", "pt")}
<h2>Signal → execution latency (ms)</h2>{histogram_svg(lat_ms, "latency-hist", "ms")}
<h2>Trades that differ, with the reason</h2>
<table id="unmatched"><tr><th>status</th><th>backtest</th><th>live</th><th>cause</th></tr>
{rows or "<tr><td colspan='4'>none: every trade matched</td></tr>"}</table>
<h2>Bars seen live that differ from the data file</h2>
<table id="bar-diffs"><tr><th>bar</th><th>kind</th><th>detail</th></tr>
{diffs or "<tr><td colspan='3'>none</td></tr>"}</table>
<h2>All metrics</h2><table>{metrics}</table></body></html>"""


def doc_curves(report: CompareReport) -> dict[str, Sequence[tuple[float, float]]]:
    """The two equity curves, named."""
    return {"backtest": report.backtest_equity, "live": report.live_equity}
