import pytest

from mtponte.backtest import run_backtest
from mtponte.backtest.stats import METRICS
from mtponte.backtest.sweep import expand_grid, sweep
from mtponte.domain import WIN
from mtponte.errors import ConfigError


def test_sweep_rows_equal_single_backtests(synth_bars):
    grid = {
        "min_range_mult": ["1.2", "1.5"],
        "sl_atr": ["1.5", "2"],
        "entry_mode": ["stop", "next_open"],
        "range_lookback": ["10", "25"],
        "atr_method": ["sma", "wilder"],
    }
    plist = expand_grid(grid, {"fee_per_contract": "0.5", "slippage_ticks": "1"})
    df = sweep(synth_bars, WIN, plist)
    assert len(df) == 32
    for k, p in enumerate(plist):
        single = run_backtest(synth_bars, WIN, p).stats
        for m in METRICS:
            v = df.iloc[k][m]
            if single[m] is None:
                assert v != v  # NaN
            else:
                assert v == single[m], (k, m)
    assert (df.trades > 0).all()


def test_bad_grid():
    with pytest.raises(ConfigError, match="unknown parameter"):
        expand_grid({"nope": ["1"]})
    with pytest.raises(ConfigError, match="sl_atr"):
        expand_grid({"sl_atr": ["x"]})


def test_sweep_refuses_data_without_the_volume_it_needs(synth_bars):
    import numpy as np

    from mtponte.domain import Bars

    b = synth_bars
    no_real = Bars(
        time=b.time,
        open=b.open,
        high=b.high,
        low=b.low,
        close=b.close,
        tick_volume=b.tick_volume,
        real_volume=np.zeros(len(b)),
        timezone=b.timezone,
    )
    with pytest.raises(ConfigError, match="no real volume"):
        sweep(no_real, WIN, expand_grid({"sl_atr": ["1", "2"]}))
    ok = sweep(no_real, WIN, expand_grid({"volume_source": ["tick"], "sl_atr": ["1", "2"]}))
    assert len(ok) == 2
