from collections import Counter
from zoneinfo import ZoneInfo

import numpy as np

from mtponte.backtest import run_backtest
from mtponte.backtest.charts import local_ms, report_layout
from mtponte.backtest.report import breakdown, write_outputs
from mtponte.domain import WIN
from mtponte.strategies import ElephantParams


def _candle_source(layout):
    from bokeh.models import ColumnDataSource

    (src,) = [s for s in layout.select({"type": ColumnDataSource}) if "bars" in s.data]
    return src.data


def test_chart_draws_a_bounded_number_of_candles_with_every_trade_bar(synth_bars):
    r = run_backtest(synth_bars, WIN)
    assert len(synth_bars) > 2000 and len(r.t) > 0
    data = _candle_source(report_layout(r, max_candles=2000))
    assert len(data["x"]) <= 2000 + 4 * len(r.t) + 2
    assert int(np.sum(data["bars"])) == len(synth_bars)  # every bar is in one candle
    # A lone candle is centred on its bar: each entry and exit bar is one.
    ms = local_ms(r)
    step = int(np.median(np.diff(synth_bars.time))) * 1000
    alone = {int(x - step / 2) for x, n in zip(data["x"], data["bars"], strict=True) if n == 1}
    assert {int(v) for v in ms[r.t.entry_i]} <= alone
    assert {int(v) for v in ms[r.t.exit_i]} <= alone


def test_hour_and_weekday_tables_count_every_trade(synth_bars):
    r = run_backtest(synth_bars, WIN)
    trades = r.trades()
    tz = ZoneInfo(synth_bars.timezone)
    hours = breakdown(trades, synth_bars.timezone, lambda d: d.hour)
    want = Counter(t.entry_time.astimezone(tz).hour for t in trades)
    assert {h: n for h, (n, _, _) in hours.items()} == dict(want)
    assert sum(p for _, _, p in hours.values()) == sum(t.pnl_money for t in trades)
    days = breakdown(trades, synth_bars.timezone, lambda d: d.weekday())
    wins = Counter(t.entry_time.astimezone(tz).weekday() for t in trades if t.pnl_money > 0)
    for d, (n, w, _) in days.items():
        assert w == wins[d] / n


def test_report_without_trades(tmp_path, synth_bars):
    r = run_backtest(synth_bars, WIN, ElephantParams(min_range_mult=50))
    assert len(r.t) == 0
    html = write_outputs(r, tmp_path)["report"].read_text()
    assert "Trades (0)" in html and "data-root-id" in html
