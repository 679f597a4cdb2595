"""``mtponte optimize``: sweep, forward test, walk-forward, heatmap (the command's body)."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from mtponte.cli._common import console, load_data, progress, resolve_symbol
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

SHOWN = ("trades", "net_money")  # the rest is in the CSV and JSON


def heatmap_axes(spec: str | None, axes: list[str]) -> tuple[str, str] | None:
    """``p1,p2`` checked against the grid's parameters."""
    if spec is None:
        return None
    names = [x.strip() for x in spec.split(",")]
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise ConfigError(
            f"--heatmap {spec!r}: expected two different parameters, e.g. sl_atr,tp_atr"
        )
    for n in names:
        if n not in axes:
            raise ConfigError(
                f"--heatmap {spec!r}: {n!r} is not swept; the --grid parameters are "
                + ", ".join(axes)
            )
    return names[0], names[1]


def run_optimize(
    *,
    data: Path,
    out: Path,
    grid: list[str],
    symbol: str,
    set_: list[str] | None,
    rank_by: str,
    min_trades: int,
    tz: str | None,
    server_tz: str | None,
    fmt: str,
    dayfirst: bool,
    forward: str | None,
    walk_forward: int | None,
    is_ratio: int,
    heatmap: str | None,
) -> None:
    """Body of ``mtponte optimize`` (options as documented there)."""
    from mtponte.backtest.stats import METRICS
    from mtponte.backtest.sweep import expand_grid, sweep
    from mtponte.backtest.walkforward import (
        forward_split,
        forward_test,
        period,
        rank,
        walk_forward_windows,
    )
    from mtponte.backtest.walkforward import walk_forward as run_walk_forward
    from mtponte.strategies.params import parse_assignments

    if rank_by not in METRICS:
        raise ConfigError(f"--rank-by {rank_by!r} is not a metric; use one of {', '.join(METRICS)}")
    if forward is not None and walk_forward is not None:
        raise ConfigError("--forward and --walk-forward are exclusive; use one")
    axes = {
        k: [x.strip() for x in v.split(",") if x.strip()]
        for k, v in parse_assignments(grid).items()
    }
    for k, v in axes.items():
        if not v:
            raise ConfigError(f"--grid {k}= has no values")
    hm = heatmap_axes(heatmap, list(axes))
    plist = expand_grid(axes, parse_assignments(set_))
    spec = resolve_symbol(symbol, tz, server_tz)
    bars = load_data(data, spec, fmt, dayfirst)
    # Split before sweeping: a bad --forward fails fast, before minutes of work.
    fw = forward_split(bars, forward) if forward is not None else None
    windows = (
        walk_forward_windows(bars, walk_forward, is_ratio) if walk_forward is not None else None
    )
    runs = 2 if fw else (len(windows) if windows else 1)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with progress() as prog:
        task = prog.add_task(f"{len(plist):,} parameter sets", total=len(plist) * runs)
        step = lambda k: prog.advance(task, k)  # noqa: E731
        if fw is not None:
            df = forward_test(bars, spec, plist, fw, rank_by, min_trades, step)
        elif windows is not None:
            wf, sweeps = run_walk_forward(bars, spec, plist, windows, rank_by, min_trades, step)
        else:
            df = rank(sweep(bars, spec, plist, progress=step), rank_by, min_trades)
    dt = time.perf_counter() - t0
    cols = list(axes)
    written: list[Path] = []
    if windows is not None:
        written += _write(wf, out / "walkforward")
        console.print(_wf_table(wf, cols, rank_by))
        plots = (
            {
                f"w{k}": _heatmap(s, hm, rank_by, f"window {k} in-sample {r}")
                for k, (s, r) in enumerate(zip(sweeps, wf["in_sample"], strict=True), 1)
            }
            if hm
            else {}
        )
    else:
        written += _write(df, out / "optimize")
        if fw is not None:
            title = (
                f"top 10 of {len(df):,} by in-sample {rank_by}: in-sample "
                f"{period(bars, fw.is_start, fw.is_end)} | forward "
                f"{period(bars, fw.oos_start, fw.oos_end)}"
            )
        else:
            title = f"top 10 of {len(df):,} by {rank_by}"
        console.print(_top_table(df, cols, rank_by, fw is not None, title))
        plots = {}
        if hm:
            plots["is"] = _heatmap(df, hm, rank_by, "in-sample" if fw else "")
            if fw is not None:
                plots["oos"] = _heatmap(df, hm, "oos_" + rank_by, "forward")
    if hm:
        written.append(_heatmap_page(out / "heatmap.html", plots, hm, rank_by))
    console.print(
        f"{len(plist):,} sets × {runs} run(s) in {dt:.2f}s; wrote "
        + ", ".join(str(p) for p in written),
        highlight=False,
    )


def _write(df: pd.DataFrame, stem: Path) -> list[Path]:
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    df.to_csv(csv_path, index=False)
    # pandas writes NaN and inf (a profit factor without a loss) as null: valid JSON.
    json_path.write_text(df.to_json(orient="records", indent=2), encoding="utf-8")
    return [csv_path, json_path]


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _top_table(df: pd.DataFrame, cols: list[str], rank_by: str, oos: bool, title: str) -> Table:
    metrics = list(dict.fromkeys([rank_by, *SHOWN]))
    table = Table(title=title)
    names = ["rank", *cols]
    for m in metrics:
        names.append(m)
        if oos:
            names.append("oos_" + m)
    for c in dict.fromkeys(names):
        table.add_column(
            c.replace("oos_", "fwd ") if oos else c,
            style="cyan" if c.startswith("oos_") else None,
            justify="right",
        )
    for _, row in df.head(10).iterrows():
        table.add_row(*(_fmt(row[c]) for c in dict.fromkeys(names)))
    return table


def _wf_table(wf: pd.DataFrame, cols: list[str], rank_by: str) -> Table:
    metrics = list(dict.fromkeys([rank_by, "trades", "net_money"]))
    table = Table(title=f"walk-forward: best in-sample {rank_by} per window, then out of sample")
    for c in ("window", "in sample", "out of sample", *cols):
        table.add_column(c)
    for m in metrics:
        table.add_column(f"IS {m}", justify="right")
        table.add_column(f"OOS {m}", justify="right", style="cyan")
    for _, r in wf.iterrows():
        cells = [str(r["window"]), r["in_sample"], r["out_of_sample"], *(_fmt(r[c]) for c in cols)]
        for m in metrics:
            cells += [_fmt(r[m]), _fmt(r["oos_" + m])]
        table.add_row(*cells)
    table.add_section()
    # In-sample windows overlap, so only the out-of-sample periods add up.
    total = ["all", "", "", *("" for _ in cols)]
    for m in metrics:
        add = m in ("trades", "net_money")
        total += ["", _fmt(wf["oos_" + m].sum()) if add else ""]
    table.add_row(*total)
    return table


def _heatmap(df: pd.DataFrame, hm: tuple[str, str], metric: str, label: str) -> Any:
    from mtponte.backtest.charts import heatmap

    title = f"{label + ' ' if label else ''}{metric.removeprefix('oos_')} by {hm[0]} × {hm[1]}"
    return heatmap(df, hm[0], hm[1], metric, title)


def _heatmap_page(path: Path, plots: dict[str, Any], hm: tuple[str, str], rank_by: str) -> Path:
    from mtponte.backtest.charts import page

    e = html.escape
    body = (
        f"<h1>Optimization heatmap: {e(rank_by)} by {e(hm[0])} × {e(hm[1])}</h1>"
        "<p>Each cell is the best value over the other swept parameters.</p>"
        '<div class="row">' + "".join("{{" + k + "}}" for k in plots) + "</div>"
    )
    path.write_text(page(f"mtponte heatmap {hm[0]} × {hm[1]}", body, plots), encoding="utf-8")
    return path
