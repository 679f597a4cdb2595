import numpy as np

from mtponte.data import synth_win
from mtponte.data.synth import BARS_PER_DAY


def test_deterministic_and_seeded():
    a, b, c = synth_win(5, seed=1), synth_win(5, seed=1), synth_win(5, seed=2)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.time, b.time)
    assert not np.array_equal(a.close, c.close)


def test_sessions_ticks_and_shape():
    bars = synth_win(60, seed=3)
    assert len(bars) == 60 * BARS_PER_DAY
    tod = bars.tod.reshape(60, BARS_PER_DAY)
    assert (tod[:, 0] == 9 * 3600).all() and (tod[:, -1] == 18 * 3600 + 25 * 60).all()
    for col in (bars.open, bars.high, bars.low, bars.close):
        assert np.all(col % 5 == 0)
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    weekday = (bars.day + 3) % 7  # 1970-01-01 was a Thursday → Monday = 0
    assert weekday.max() <= 4
    rng = (bars.high - bars.low).reshape(60, BARS_PER_DAY)
    vol = bars.real_volume.reshape(60, BARS_PER_DAY)
    mid = slice(40, 70)
    # U-shapes: opening bars are wider and busier than the middle of the session.
    assert rng[:, :6].mean() > 1.3 * rng[:, mid].mean()
    assert vol[:, :6].mean() > 1.5 * vol[:, mid].mean()
    assert vol[:, -6:].mean() > 1.2 * vol[:, mid].mean()
    # Occasional large bars: fat right tail of the range distribution.
    r = rng.ravel()
    assert np.percentile(r, 99.5) > 5 * np.median(r)
    # Volatility clustering: absolute returns are autocorrelated.
    ret = np.abs(np.diff(np.log(bars.close)))
    assert np.corrcoef(ret[:-1], ret[1:])[0, 1] > 0.1
