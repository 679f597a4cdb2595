import itertools
from datetime import date

import numpy as np
import pytest

from mtponte.backtest.sweep import expand_grid, sweep
from mtponte.backtest.walkforward import (
    Window,
    forward_split,
    forward_test,
    walk_forward,
    walk_forward_windows,
)
from mtponte.domain import WIN, Bars
from mtponte.errors import ConfigError

EPOCH = date(1970, 1, 1)


def _on_session_boundary(bars: Bars, i: int) -> bool:
    return i in (0, len(bars)) or bars.day[i - 1] != bars.day[i]


def _sessions(bars: Bars, a: int, b: int) -> int:
    return len(np.unique(bars.day[a:b]))


@pytest.mark.parametrize(("spec", "share"), [("1/3", 1 / 3), ("1/2", 1 / 2), ("2 / 5", 2 / 5)])
def test_forward_fraction_is_the_last_share_of_sessions(synth_bars, spec, share):
    w = forward_split(synth_bars, spec)
    assert (w.is_start, w.oos_end) == (0, len(synth_bars)) and w.is_end == w.oos_start
    assert _on_session_boundary(synth_bars, w.oos_start)
    total = _sessions(synth_bars, 0, len(synth_bars))
    assert (
        _sessions(synth_bars, w.is_start, w.is_end) + _sessions(synth_bars, w.oos_start, w.oos_end)
        == total
    )
    assert _sessions(synth_bars, w.oos_start, w.oos_end) == round(total * share)


def test_forward_date_starts_with_the_first_session_on_or_after_it(synth_bars):
    days = np.unique(synth_bars.day)
    target = days[70] - 1  # a day without a session (synth skips weekends) or the one before
    d = date.fromordinal(EPOCH.toordinal() + int(target))
    w = forward_split(synth_bars, d.isoformat())
    first_fwd = synth_bars.day[w.oos_start]
    assert first_fwd >= target and synth_bars.day[w.is_end - 1] < target
    assert _on_session_boundary(synth_bars, w.oos_start)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0/3", "between 0 and 1"),
        ("3/3", "between 0 and 1"),
        ("1/0", "between 0 and 1"),
        ("third", "expected a fraction like 1/3 or a date"),
        ("2025-13-01", "expected a fraction like 1/3 or a date"),
        ("1990-01-01", "leaves no session on one side"),
        ("2100-01-01", "leaves no session on one side"),
    ],
)
def test_bad_forward_values(synth_bars, spec, message):
    with pytest.raises(ConfigError, match=message):
        forward_split(synth_bars, spec)


@pytest.mark.parametrize(("n", "ratio"), [(1, 1), (4, 3), (5, 2), (10, 4)])
def test_walk_forward_windows_roll_without_overlap(synth_bars, n, ratio):
    ws = walk_forward_windows(synth_bars, n, ratio)
    assert len(ws) == n
    assert ws[-1].oos_end == len(synth_bars)
    for w in ws:
        assert w.is_start < w.is_end == w.oos_start < w.oos_end
        for i in (w.is_start, w.is_end, w.oos_end):
            assert _on_session_boundary(synth_bars, i)
        oos = _sessions(synth_bars, w.oos_start, w.oos_end)
        assert _sessions(synth_bars, w.is_start, w.is_end) == ratio * oos
    for a, b in itertools.pairwise(ws):
        assert a.oos_end == b.oos_start  # forward periods follow each other, no overlap
        assert b.is_start > a.is_start


def test_walk_forward_needs_enough_sessions(synth_bars):
    with pytest.raises(ConfigError, match="needs at least 1003 sessions"):
        walk_forward_windows(synth_bars, 1000, 3)
    with pytest.raises(ConfigError, match="at least 1"):
        walk_forward_windows(synth_bars, 0)


def _scrambled_after(bars: Bars, cut: int) -> Bars:
    """Same bars before ``cut``; after it, another seed's prices (different trades)."""
    from mtponte.data import synth_win

    other = synth_win(days=120, seed=99)
    assert np.array_equal(other.time, bars.time)

    def mix(name):
        y = getattr(bars, name).copy()
        y[cut:] = getattr(other, name)[cut:]
        return y

    return Bars(
        time=bars.time,
        **{k: mix(k) for k in ("open", "high", "low", "close", "tick_volume", "real_volume")},
        timezone=bars.timezone,
    )


GRID = {"sl_atr": ["1", "1.5", "2", "3"], "tp_atr": ["2", "3", "4"]}


def test_forward_ranking_does_not_look_at_the_forward_period(synth_bars):
    plist = expand_grid(GRID)
    w = forward_split(synth_bars, "1/3")
    a = forward_test(synth_bars, WIN, plist, w, "sharpe", 1)
    b = forward_test(_scrambled_after(synth_bars, w.oos_start), WIN, plist, w, "sharpe", 1)
    # The forward data changed (so did its metrics) but not the in-sample ranking.
    assert not np.allclose(a["oos_net_money"], b["oos_net_money"])
    assert list(a.index) == list(b.index)
    assert a["net_money"].tolist() == b["net_money"].tolist()
    # And the in-sample metrics are those of the in-sample bars alone.
    alone = sweep(synth_bars[: w.is_end], WIN, plist)
    assert a.sort_index()["sharpe"].tolist() == pytest.approx(alone["sharpe"].tolist(), nan_ok=True)


def test_walk_forward_pick_uses_in_sample_only(synth_bars):
    plist = expand_grid(GRID)
    ws = walk_forward_windows(synth_bars, 3, 3)
    a, sweeps = walk_forward(synth_bars, WIN, plist, ws, "net_money", 1)
    assert len(sweeps) == 3
    for k, w in enumerate(ws):
        # Scramble everything after this window's in-sample end: same pick.
        b, _ = walk_forward(_scrambled_after(synth_bars, w.is_end), WIN, plist, [w], "net_money", 1)
        assert b.iloc[0]["set"] == a.iloc[k]["set"]
        assert b.iloc[0]["oos_net_money"] != a.iloc[k]["oos_net_money"]
        # The pick is the in-sample best.
        ins = sweep(synth_bars[w.is_start : w.is_end], WIN, plist)
        assert a.iloc[k]["set"] == int(ins["net_money"].idxmax())
        # Its out-of-sample row is that set run on the forward bars alone.
        oos = sweep(synth_bars[w.oos_start : w.oos_end], WIN, [plist[int(a.iloc[k]["set"])]])
        assert a.iloc[k]["oos_net_money"] == oos.iloc[0]["net_money"]


def test_window_is_a_value():
    assert Window(0, 1, 1, 2) == Window(0, 1, 1, 2)
