"""Bokeh charts for the backtest report and the optimization heatmap.

Times on the axes are exchange-local wall clock (Bokeh draws epoch milliseconds as
UTC, so the local time is passed as if it were UTC). Bokeh is imported inside the
functions: the CLI must not pay for it unless it writes a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mtponte.backtest.decimate import decimate

if TYPE_CHECKING:
    import pandas as pd

    from mtponte.backtest.engine import BacktestResult

INC, DEC = "#26a69a", "#ef5350"
REASON_COLORS = {"sl": "#d62728", "tp": "#2ca02c", "flat": "#7f7f7f", "end": "#9467bd"}
PX = "0.[00000]"
REASONS = {1: "sl", 2: "tp", 3: "flat", 4: "end"}


def local_ms(result: BacktestResult) -> npt.NDArray[np.int64]:
    """Exchange-local wall-clock time of each bar open, as epoch milliseconds."""
    b = result.bars
    return (b.day * 86_400 + b.tod) * 1000


def _bar_seconds(t: npt.NDArray[np.int64]) -> int:
    return int(np.median(np.diff(t))) if len(t) > 1 else 60


def report_layout(result: BacktestResult, max_candles: int = 20_000) -> Any:
    """Price (candles, trades, SL/TP, exit reasons), equity and drawdown, linked on x.

    Parameters
    ----------
    result
        A backtest.
    max_candles
        Candle budget (see :func:`~mtponte.backtest.decimate.decimate`).

    Returns
    -------
    bokeh.models.LayoutDOM
    """
    from bokeh.layouts import column
    from bokeh.models import (
        ColumnDataSource,
        CustomJS,
        HoverTool,
        NumeralTickFormatter,
        Range1d,
    )
    from bokeh.plotting import figure

    b, t = result.bars, result.t
    ms = local_ms(result)
    step_ms = _bar_seconds(b.time) * 1000
    cd = decimate(b.open, b.high, b.low, b.close, t.entry_i, t.exit_i, max_candles)
    left = ms[cd.first]
    right = ms[cd.last] + step_ms
    nbars = cd.last - cd.first + 1
    # An aggregate spans its bars, capped so that a bucket straddling a night does
    # not paint the night.
    span = np.minimum(right - left, nbars * step_ms)
    width = span * np.where(nbars == 1, 0.8, 0.95)
    up = cd.close >= cd.open
    candles = ColumnDataSource(
        {
            "x": left + span / 2,
            "w": width,
            "open": cd.open,
            "high": cd.high,
            "low": cd.low,
            "close": cd.close,
            "top": np.maximum(cd.open, cd.close),
            "bottom": np.minimum(cd.open, cd.close),
            "bars": nbars,
            "color": np.where(up, INC, DEC),
        }
    )
    x0 = ms[0] if len(ms) else 0
    x1 = ms[-1] + step_ms if len(ms) else 1
    xr = Range1d(start=x0, end=x1, bounds=(x0, x1))
    tools = "xpan,xwheel_zoom,box_zoom,reset,save"

    def panel(height: int, title: str) -> Any:
        """A chart on the shared time axis (pan and zoom move every chart together)."""
        return figure(
            x_axis_type="datetime",
            x_range=xr,
            height=height,
            sizing_mode="stretch_width",
            tools=tools,
            active_drag="xpan",
            active_scroll="xwheel_zoom",
            title=title,
        )

    price = panel(
        420,
        f"{result.spec.name}: {len(b):,} bars ({len(cd):,} candles drawn), "
        f"{len(t):,} trades — times in {b.timezone}",
    )
    price.segment("x", "high", "x", "low", source=candles, color="color")
    bars_r = price.vbar(
        "x", "w", "top", "bottom", source=candles, fill_color="color", line_color="color"
    )
    price.add_tools(
        HoverTool(
            renderers=[bars_r],
            tooltips=[
                ("time", "@x{%F %H:%M}"),
                (
                    "O/H/L/C",
                    "@open{0.[00000]} / @high{0.[00000]} / @low{0.[00000]} / @close{0.[00000]}",
                ),
                ("bars", "@bars"),
            ],
            formatters={"@x": "datetime"},
        )
    )
    _trades(price, result, ms, step_ms)
    price.yaxis.axis_label = "price"
    price.yaxis.formatter = NumeralTickFormatter(format="0,0.[00000]")
    # Fit the price axis to the candles in view after each pan or zoom.
    xr.js_on_change(
        "end",
        CustomJS(
            args={"src": candles, "yr": price.y_range},
            code="""
const x = src.data.x, lo = src.data.low, hi = src.data.high;
const a = cb_obj.start, b = cb_obj.end;
let mn = Infinity, mx = -Infinity;
for (let i = 0; i < x.length; i++) {
  if (x[i] >= a && x[i] <= b) { if (lo[i] < mn) mn = lo[i]; if (hi[i] > mx) mx = hi[i]; }
}
if (mn < mx) { const pad = (mx - mn) * 0.05; yr.start = mn - pad; yr.end = mx + pad; }
""",
        ),
    )
    eq_src, dd_src = _equity(result, ms, step_ms)
    equity = panel(170, f"closed-trade equity ({result.spec.currency})")
    equity.yaxis.formatter = NumeralTickFormatter(format="0,0")
    equity.step("x", "equity", source=eq_src, mode="after", line_width=1.5)
    equity.add_tools(
        HoverTool(
            tooltips=[("time", "@x{%F %H:%M}"), ("equity", "@equity{0,0.00}")],
            formatters={"@x": "datetime"},
            mode="vline",
        )
    )
    dd = panel(130, f"drawdown ({result.spec.currency})")
    dd.yaxis.formatter = NumeralTickFormatter(format="0,0")
    dd.varea_step(
        "x", y1=0, y2="dd", source=dd_src, step_mode="after", fill_color=DEC, fill_alpha=0.4
    )
    return column(price, equity, dd, sizing_mode="stretch_width")


def _trades(price: Any, result: BacktestResult, ms: npt.NDArray[np.int64], step_ms: int) -> None:
    from bokeh.models import ColumnDataSource, HoverTool

    t = result.t
    if not len(t):
        return
    reason = np.array([REASONS.get(int(r), "?") for r in t.reason])
    side = np.where(t.direction > 0, "buy", "sell")
    half = step_ms / 2
    src = ColumnDataSource(
        {
            "ex": ms[t.entry_i] + half,
            "xx": ms[t.exit_i] + half,
            "entry": t.entry_price,
            "exit": t.exit_price,
            "sl": t.sl,
            "tp": t.tp,
            "side": side,
            "reason": reason,
            "pnl": t.pnl_money,
            "points": t.pnl_points,
            "n": np.arange(1, len(t) + 1),
            "line": np.where(t.pnl_money >= 0, INC, DEC),
            "rcolor": [REASON_COLORS.get(r, "#000") for r in reason],
            "marker": np.where(t.direction > 0, "triangle", "inverted_triangle"),
        }
    )
    price.segment("ex", "sl", "xx", "sl", source=src, color=REASON_COLORS["sl"], line_dash="dashed")
    price.segment("ex", "tp", "xx", "tp", source=src, color=REASON_COLORS["tp"], line_dash="dashed")
    price.segment("ex", "entry", "xx", "exit", source=src, color="line", line_width=2)
    ent = price.scatter("ex", "entry", source=src, marker="marker", size=11, color="#1f77b4")
    ext = price.scatter("xx", "exit", source=src, marker="x", size=11, line_width=2, color="rcolor")
    price.add_tools(
        HoverTool(
            renderers=[ent, ext],
            tooltips=[
                ("trade", "#@n @side"),
                ("in", "@ex{%F %H:%M} @ @entry{0.[00000]}"),
                ("out", "@xx{%F %H:%M} @ @exit{0.[00000]} (@reason)"),
                ("SL / TP", "@sl{0.[00000]} / @tp{0.[00000]}"),
                ("P&L", "@pnl{0,0.00} (@points{0.[00]} pts)"),
            ],
            formatters={"@ex": "datetime", "@xx": "datetime"},
        )
    )


def _equity(result: BacktestResult, ms: npt.NDArray[np.int64], step_ms: int) -> tuple[Any, Any]:
    from bokeh.models import ColumnDataSource

    t = result.t
    start = ms[0] if len(ms) else 0
    end = ms[-1] + step_ms if len(ms) else 1
    x = np.r_[start, ms[t.exit_i] + step_ms, end]
    eq = np.r_[0.0, np.cumsum(t.pnl_money), np.sum(t.pnl_money)]
    dd = eq - np.maximum.accumulate(eq)
    return ColumnDataSource({"x": x, "equity": eq}), ColumnDataSource({"x": x, "dd": dd})


def heatmap(df: pd.DataFrame, x: str, y: str, metric: str, title: str = "") -> Any:
    """Heatmap of ``metric`` over two parameters (the best value where others vary).

    Parameters
    ----------
    df
        One row per parameter set, with columns ``x``, ``y`` and ``metric``.
    x, y
        Parameter names.
    metric
        Column coloured; when other parameters vary too, each cell shows their maximum.
    title
        Figure title.

    Returns
    -------
    bokeh.plotting.figure
    """
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
    from bokeh.models.annotations import ColorBar
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    g = df.groupby([x, y], sort=True)[metric].max().reset_index()
    xs = [str(v) for v in sorted(df[x].unique())]
    ys = [str(v) for v in sorted(df[y].unique())]
    vals = g[metric].astype(float).to_numpy()
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    mapper = LinearColorMapper(
        palette=Viridis256, low=lo, high=hi if hi > lo else lo + 1, nan_color="#dddddd"
    )
    src = ColumnDataSource(
        {"x": g[x].astype(str).to_list(), "y": g[y].astype(str).to_list(), "v": vals}
    )
    p = figure(
        x_range=FactorRange(factors=xs),
        y_range=FactorRange(factors=ys),
        title=title or f"{metric} by {x} × {y}",
        x_axis_label=x,
        y_axis_label=y,
        width=620,
        height=480,
        tools="save,reset",
    )
    p.rect(
        "x", "y", 1, 1, source=src, fill_color={"field": "v", "transform": mapper}, line_color=None
    )
    p.add_tools(HoverTool(tooltips=[(x, "@x"), (y, "@y"), (metric, "@v{0.[0000]}")]))
    p.add_layout(ColorBar(color_mapper=mapper, title=metric), "right")
    return p


def page(title: str, body_html: str, plots: dict[str, Any]) -> str:
    """A self-contained HTML page: inline Bokeh JS/CSS, ``plots`` rendered at ``{{name}}``.

    Parameters
    ----------
    title
        The page title (escaped here).
    body_html
        Page body; each ``{{name}}`` is replaced by the plot ``plots[name]``.
    plots
        Bokeh layouts by placeholder name.

    Returns
    -------
    str
    """
    import html

    from bokeh.embed import components
    from bokeh.resources import Resources

    # Only the core bundle: these charts use no widget, table, WebGL or MathJax, and the
    # full INLINE set is 3.9 MB against 1.3 MB.
    resources = Resources(mode="inline", components=["bokeh"])
    script, divs = components(plots)
    for name, div in divs.items():
        body_html = body_html.replace("{{" + name + "}}", div)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{resources.render()}{script}"
        f"<style>{CSS}</style></head><body>{body_html}</body></html>"
    )


CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right;font-size:13px}th{background:#f4f4f4;text-align:left}.neg{color:#b00}
.pos{color:#070}.wrap{max-height:480px;overflow:auto}code{font-size:12px}
summary h2{display:inline;cursor:pointer}
.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}"""
