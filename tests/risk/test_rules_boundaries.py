"""Boundaries of the risk rules, for the mutants ``tools/mutate.py`` found alive: a
signal closing exactly now, FX prices (levels less than 1.0 apart), the half-tick
allowance on ``max_sl_atr``, a window with only a start, and window times whose
seconds overlap in binary (10:30 = 36000 + 1800)."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

from mtponte.domain.orders import EntryKind, Signal
from mtponte.domain.side import Side
from mtponte.risk import RiskLimits, signal_validity, trading_window
from tests.risk.test_rules import STOP, T0, ctx


def test_a_signal_closing_exactly_now_is_valid():
    c = ctx()
    assert signal_validity(replace(c, now=c.signal_close)).allowed


def test_fx_levels_less_than_one_apart_are_on_the_right_side():
    for side, sl, tp in ((Side.BUY, 1.09800, 1.10300), (Side.SELL, 1.10200, 1.09700)):
        sig = Signal(T0, T0, side, EntryKind.STOP, 1.10000, sl, tp, None, None, 0.001)
        d = signal_validity(ctx(signal=sig, tick_size=0.00001))
        assert d.allowed, d
    wrong = Signal(T0, T0, Side.BUY, EntryKind.STOP, 1.10000, 1.09800, 1.09900, None, None, 0.001)
    assert not signal_validity(ctx(signal=wrong, tick_size=0.00001)).allowed


def test_max_sl_atr_allows_exactly_half_a_tick_beyond():
    lim = RiskLimits(max_sl_atr=2.0)  # ATR 100: SL up to 200 away, + half a tick
    for tick, inside, outside in ((5.0, 202.5, 202.6), (1.0, 200.5, 200.6)):
        ok = replace(STOP, sl=STOP.price - inside)
        assert signal_validity(ctx(signal=ok, limits=lim, tick_size=tick)).allowed, tick
        far = replace(STOP, sl=STOP.price - outside)
        assert not signal_validity(ctx(signal=far, limits=lim, tick_size=tick)).allowed, tick


def test_a_window_with_only_a_start():
    lim = RiskLimits(window_start=time(9, 30))
    assert not trading_window(ctx(limits=lim, entry_tod_s=9 * 3600)).allowed
    assert trading_window(ctx(limits=lim, entry_tod_s=9 * 3600 + 30 * 60)).allowed
    assert trading_window(ctx(limits=lim, entry_tod_s=23 * 3600)).allowed


def test_window_end_at_10_30_includes_10_00():
    lim = RiskLimits(window_start=time(9, 30), window_end=time(10, 30))
    assert trading_window(ctx(limits=lim, entry_tod_s=10 * 3600)).allowed
    assert trading_window(ctx(limits=lim, entry_tod_s=10 * 3600 + 30 * 60)).allowed
    assert not trading_window(ctx(limits=lim, entry_tod_s=10 * 3600 + 30 * 60 + 1)).allowed


def test_signal_one_second_in_the_future_is_refused():
    c = ctx()
    assert not signal_validity(replace(c, now=c.signal_close - timedelta(seconds=1))).allowed
