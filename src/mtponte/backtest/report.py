"""Backtest outputs: ``trades.csv``, ``stats.json`` and a self-contained ``report.html``.

The HTML report draws its charts as inline SVG written here by hand: the file must
open on a trading desk with no internet and no JavaScript bundle, and two line
charts do not justify a plotting dependency.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from mtponte.backtest.engine import BacktestResult
from mtponte.domain.orders import Trade

TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "side",
    "volume",
    "entry_price",
    "exit_price",
    "sl",
    "tp",
    "pnl_points",
    "pnl_money",
    "exit_reason",
)


def _iso(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).isoformat()


def write_trades_csv(trades: list[Trade], path: Path, timezone: str) -> None:
    """Trades with ISO-8601 exchange-local times including the UTC offset."""
    tz = ZoneInfo(timezone)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TRADE_COLUMNS)
        for t in trades:
            w.writerow(
                [
                    _iso(t.entry_time, tz),
                    _iso(t.exit_time, tz),
                    t.side.name.lower(),
                    repr(t.volume),
                    repr(t.entry_price),
                    repr(t.exit_price),
                    repr(t.sl),
                    repr(t.tp),
                    repr(t.pnl_points),
                    repr(t.pnl_money),
                    t.exit_reason.value,
                ]
            )


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def write_outputs(
    result: BacktestResult, out: Path, meta: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``trades.csv``, ``stats.json``, ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    trades = result.trades()
    tz = result.bars.timezone
    paths = {
        "trades": out / "trades.csv",
        "stats": out / "stats.json",
        "report": out / "report.html",
    }
    write_trades_csv(trades, paths["trades"], tz)
    doc = {
        "stats": {k: _json_safe(v) for k, v in result.stats.items()},
        "params": result.params.model_dump(mode="json"),
        "symbol": result.spec.name,
        "bars": len(result.bars),
        "first_bar": _iso(result.bars.bar(0).time, ZoneInfo(tz)) if len(result.bars) else None,
        "last_bar": _iso(result.bars.bar(len(result.bars) - 1).time, ZoneInfo(tz))
        if len(result.bars)
        else None,
        **(meta or {}),
    }
    paths["stats"].write_text(json.dumps(doc, indent=2), encoding="utf-8")
    paths["report"].write_text(render_html(result, trades, doc), encoding="utf-8")
    return paths


def _svg_line(
    values: np.ndarray,
    width: int = 900,
    height: int = 220,
    color: str = "#1f77b4",
    fill: bool = False,
) -> str:
    if len(values) == 0:
        return "<p>No data.</p>"
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi == lo:
        hi = lo + 1.0
    step = max(1, len(values) // 2000)  # at most ~2000 points
    v = values[::step]
    xs = np.linspace(0, width, len(v))
    ys = height - (v - lo) / (hi - lo) * (height - 20) - 10
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    zero_y = height - (0 - lo) / (hi - lo) * (height - 20) - 10
    area = (
        (
            f'<polygon points="0,{zero_y:.1f} {pts} {width},{zero_y:.1f}" fill="{color}" '
            'fill-opacity="0.25"/>'
        )
        if fill
        else ""
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{area}<polyline fill="none" stroke="{color}" '
        f'stroke-width="1.5" points="{pts}"/><line x1="0" x2="{width}" y1="{zero_y:.1f}" '
        f'y2="{zero_y:.1f}" stroke="#999" stroke-dasharray="4"/>'
        f'<text x="4" y="12" font-size="11">{hi:,.2f}</text>'
        f'<text x="4" y="{height - 2}" font-size="11">{lo:,.2f}</text></svg>'
    )


def monthly_table(trades: list[Trade], timezone: str) -> OrderedDict[str, tuple[int, float]]:
    """Month (``YYYY-MM``, exchange-local exit date) → (trades, money P&L)."""
    tz = ZoneInfo(timezone)
    months: OrderedDict[str, tuple[int, float]] = OrderedDict()
    for t in trades:
        key = t.exit_time.astimezone(tz).strftime("%Y-%m")
        n, pnl = months.get(key, (0, 0.0))
        months[key] = (n + 1, pnl + t.pnl_money)
    return months


def render_html(result: BacktestResult, trades: list[Trade], doc: dict[str, Any]) -> str:
    """The report page."""
    tz = ZoneInfo(result.bars.timezone)
    eq = np.concatenate([[0.0], np.cumsum([t.pnl_money for t in trades])])
    dd = eq - np.maximum.accumulate(eq)
    e = html.escape
    stats_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in doc["stats"].items()
    )
    month_rows = "".join(
        f"<tr><td>{m}</td><td>{n}</td><td class='{'neg' if p < 0 else 'pos'}'>{p:,.2f}</td></tr>"
        for m, (n, p) in monthly_table(trades, result.bars.timezone).items()
    )
    trade_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(x))}</td>"
            for x in (
                t.entry_time.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                t.exit_time.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                t.side.name.lower(),
                t.volume,
                t.entry_price,
                t.exit_price,
                t.sl,
                t.tp,
                f"{t.pnl_points:,.2f}",
                f"{t.pnl_money:,.2f}",
                t.exit_reason.value,
            )
        )
        + "</tr>"
        for t in trades
    )
    params = e(json.dumps(doc["params"]))
    header = "".join(f"<th>{c}</th>" for c in TRADE_COLUMNS)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>mtponte backtest — {e(result.spec.name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ddd;padding:3px 8px;
text-align:right;font-size:13px}}th{{background:#f4f4f4;text-align:left}}.neg{{color:#b00}}
.pos{{color:#070}}.wrap{{max-height:480px;overflow:auto}}code{{font-size:12px}}</style></head>
<body><h1>Backtest — {e(result.spec.name)}</h1>
<p>{doc["bars"]:,} bars, {e(str(doc["first_bar"]))} → {e(str(doc["last_bar"]))}</p>
<p><code>{params}</code></p>
<h2>Statistics</h2><table>{stats_rows}</table>
<h2>Equity (closed trades, {e(result.spec.currency)})</h2>{_svg_line(eq)}
<h2>Drawdown</h2>{_svg_line(dd, height=140, color="#d62728", fill=True)}
<h2>Monthly</h2><table><tr><th>month</th><th>trades</th><th>P&amp;L</th></tr>{month_rows}</table>
<h2>Trades ({len(trades)})</h2><div class="wrap"><table><tr>{header}</tr>
{trade_rows}</table></div></body></html>"""


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)
