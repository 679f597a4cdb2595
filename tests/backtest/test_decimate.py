import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtponte.backtest.decimate import decimate


def _bars(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    c = 100 + np.cumsum(rng.normal(size=n))
    o = np.r_[100.0, c[:-1]]
    h = np.maximum(o, c) + rng.random(n)
    l = np.minimum(o, c) - rng.random(n)
    return o, h, l, c


def _trades(n: int, k: int, seed: int = 1, hold: int = 40):
    rng = np.random.default_rng(seed)
    entry = np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    exit_ = np.minimum(entry + rng.integers(0, hold, size=k), n - 1).astype(np.int64)
    return entry, exit_


def _check_cover(cd, n, o, h, l, c):
    # Rows tile the bars in order, and each row is the OHLC of the bars it covers.
    assert cd.first[0] == 0 and cd.last[-1] == n - 1
    assert np.array_equal(cd.first[1:], cd.last[:-1] + 1)
    for k in range(len(cd)):
        a, b = cd.first[k], cd.last[k] + 1
        assert cd.open[k] == o[a] and cd.close[k] == c[b - 1]
        assert cd.high[k] == h[a:b].max() and cd.low[k] == l[a:b].min()


@given(
    n=st.integers(1, 3000),
    k=st.integers(0, 60),
    max_candles=st.integers(2, 400),
    pad=st.integers(0, 50),
    seed=st.integers(0, 10_000),
)
def test_every_entry_and_exit_bar_is_its_own_candle_and_size_is_bounded(
    n, k, max_candles, pad, seed
):
    o, h, l, c = _bars(n, seed)
    entry, exit_ = _trades(n, min(k, n), seed)
    cd = decimate(o, h, l, c, entry, exit_, max_candles=max_candles, pad=pad)
    alone = set(cd.first[cd.first == cd.last].tolist())
    assert set(entry.tolist()) <= alone
    assert set(exit_.tolist()) <= alone
    assert len(cd) <= max_candles + 4 * len(entry) + 2
    _check_cover(cd, n, o, h, l, c)


@pytest.mark.parametrize(("trades", "kept_pad"), [(100, 30), (200, 10), (20_000, None)])
def test_a_million_bars_stay_within_the_budget(trades, kept_pad):
    n = 1_000_000
    o, h, l, c = _bars(n)
    entry, exit_ = _trades(n, trades)
    cd = decimate(o, h, l, c, entry, exit_, max_candles=20_000, pad=30)
    assert len(cd) <= 20_000 + 4 * trades + 2
    assert len(cd) < n / 10
    alone = set(cd.first[cd.first == cd.last].tolist())
    assert set(entry.tolist()) | set(exit_.tolist()) <= alone
    if kept_pad is not None:
        # The bars around each trade are kept one by one, with as much padding as fits.
        for e, x in zip(entry, exit_, strict=True):
            assert set(range(max(e - kept_pad, 0), min(x + kept_pad, n - 1) + 1)) <= alone


def test_small_data_is_not_touched():
    o, h, l, c = _bars(500)
    cd = decimate(o, h, l, c, np.zeros(0, np.int64), np.zeros(0, np.int64), max_candles=500)
    assert np.array_equal(cd.first, np.arange(500)) and np.array_equal(cd.close, c)


def test_no_bars_and_bad_budget():
    z = np.zeros(0)
    assert len(decimate(z, z, z, z, z.astype(np.int64), z.astype(np.int64))) == 0
    with pytest.raises(ValueError, match="max_candles"):
        decimate(z, z, z, z, z.astype(np.int64), z.astype(np.int64), max_candles=1)
