"""Backtest outputs: ``trades.csv``, ``stats.json`` and a self-contained ``report.html``.

The report must open on a trading desk with no internet: its Bokeh charts (see
:mod:`mtponte.backtest.charts`) carry their JavaScript and CSS inline.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


def monthly_table(trades: list[Trade], timezone: str) -> OrderedDict[str, tuple[int, float]]:
    """Month (``YYYY-MM``, exchange-local exit date) → (trades, money P&L)."""
    tz = ZoneInfo(timezone)
    months: OrderedDict[str, tuple[int, float]] = OrderedDict()
    for t in trades:
        key = t.exit_time.astimezone(tz).strftime("%Y-%m")
        n, pnl = months.get(key, (0, 0.0))
        months[key] = (n + 1, pnl + t.pnl_money)
    return months


def breakdown(
    trades: list[Trade], timezone: str, key: Callable[[datetime], Any]
) -> dict[Any, tuple[int, float, float]]:
    """Trades grouped by ``key`` of the exchange-local entry time → (trades, win rate, P&L)."""
    tz = ZoneInfo(timezone)
    acc: dict[Any, list[float]] = {}
    for t in trades:
        row = acc.setdefault(key(t.entry_time.astimezone(tz)), [0, 0, 0.0])
        row[0] += 1
        row[1] += t.pnl_money > 0
        row[2] += t.pnl_money
    return {k: (int(n), w / n, p) for k, (n, w, p) in sorted(acc.items())}


# A long trade list starts folded: laying out thousands of rows costs the browser
# seconds on opening the page (measured: bench/bench_report.py --browser).
OPEN_TRADES = 1000

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """An HTML table; a float in the last column is coloured by its sign."""
    e = html.escape
    out = ["<table><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr>"]
    for r in rows:
        out.append("<tr>")
        for j, v in enumerate(r):
            cls = ""
            if j == len(r) - 1 and isinstance(v, float):
                cls = " class='neg'" if v < 0 else " class='pos'"
            out.append(f"<td{cls}>{e(_fmt2(v))}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _fmt2(v: Any) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def render_html(result: BacktestResult, trades: list[Trade], doc: dict[str, Any]) -> str:
    """The report page: Bokeh charts (inline, offline) and the tables."""
    from mtponte.backtest.charts import page, report_layout

    tzname = result.bars.timezone
    tz = ZoneInfo(tzname)
    e = html.escape
    stats_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in doc["stats"].items()
    )
    months = _table(
        ("month", "trades", "P&L"),
        [(m, n, p) for m, (n, p) in monthly_table(trades, tzname).items()],
    )
    hours = _table(
        ("entry hour", "trades", "win rate", "P&L"),
        [
            (f"{h:02d}:00", n, f"{w:.0%}", p)
            for h, (n, w, p) in breakdown(trades, tzname, lambda d: d.hour).items()
        ],
    )
    days = _table(
        ("weekday", "trades", "win rate", "P&L"),
        [
            (WEEKDAYS[d], n, f"{w:.0%}", p)
            for d, (n, w, p) in breakdown(trades, tzname, lambda d: d.weekday()).items()
        ],
    )
    trade_rows = _table(
        ("#", *TRADE_COLUMNS),
        [
            (
                k,
                t.entry_time.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                t.exit_time.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                t.side.name.lower(),
                t.volume,
                t.entry_price,
                t.exit_price,
                t.sl,
                t.tp,
                t.pnl_points,
                t.pnl_money,
                t.exit_reason.value,
            )
            for k, t in enumerate(trades, 1)
        ],
    )
    params = e(json.dumps(doc["params"]))
    body = f"""<h1>Backtest — {e(result.spec.name)}</h1>
<p>{doc["bars"]:,} bars, {e(str(doc["first_bar"]))} → {e(str(doc["last_bar"]))};
times in {e(tzname)}. Drag to pan, wheel to zoom, hover a trade for its details.</p>
<p><code>{params}</code></p>
{{{{chart}}}}
<div class="row"><div><h2>Statistics</h2><table>{stats_rows}</table></div>
<div><h2>Monthly</h2>{months}</div><div><h2>By entry hour</h2>{hours}</div>
<div><h2>By weekday</h2>{days}</div></div>
<details{" open" if len(trades) <= OPEN_TRADES else ""}><summary><h2>Trades ({len(trades)})</h2>
</summary><div class="wrap">{trade_rows}</div></details>"""
    return page(f"mtponte backtest — {result.spec.name}", body, {"chart": report_layout(result)})


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)
