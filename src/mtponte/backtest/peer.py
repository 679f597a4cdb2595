"""The elephant-bar rules as a ``backtesting.py`` Strategy: an independent peer.

Used by the cross-check tests and ``bench/``; needs the dev dependency
``backtesting``. Indicators are recomputed here with pandas (not mtponte's kernels)
so the comparison checks the definition, not one implementation against itself.

Conventions aligned with backtesting.py (see docs/strategy.md):

* Calendar columns (``NextDay``, ``NextTod``) tell the strategy when the next bar
  opens, as a live system knows the clock; prices are never looked ahead, except
  ``NextOpen`` in ``next_open`` mode, used only to attach SL/TP computed from the
  fill price, which is what a live executor does at the moment of the fill.
* backtesting.py does not check a *stop* entry's SL/TP on the entry bar when the
  bar also touches SL (its issue #119); mtponte does (at the level). Those trades
  are the only expected differences in ``stop`` mode: :func:`compare_trades`
  reports them separately.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.strategies.params import ElephantParams

_EPS = 1e-9


def _round_tick(x: float, tick: float) -> float:
    # Nearest tick (half up), as the float nearest its decimal value.
    return round(float(np.floor(x / tick + 0.5 + _EPS) * tick), 10)


def peer_frame(bars: Bars, p: ElephantParams) -> pd.DataFrame:
    """OHLCV plus pandas-computed indicators and calendar columns."""
    idx = pd.DatetimeIndex(pd.to_datetime(bars.time, unit="s", utc=True)).tz_convert(bars.timezone)
    df = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume(p.volume_source),
        },
        index=idx.tz_localize(None),
    )
    day = pd.Series(idx.normalize().tz_localize(None), index=df.index)
    tod = pd.Series((idx.hour * 3600 + idx.minute * 60 + idx.second).to_numpy(), index=df.index)
    rng = df.High - df.Low
    if p.session_reset:
        g = day.to_numpy()
        mr = rng.groupby(g).transform(lambda s: s.rolling(p.range_lookback).mean().shift(1))
        mv = df.Volume.groupby(g).transform(lambda s: s.rolling(p.volume_lookback).mean().shift(1))
    else:
        mr = rng.rolling(p.range_lookback).mean().shift(1)
        mv = df.Volume.rolling(p.volume_lookback).mean().shift(1)
    prev_c = df.Close.shift(1)
    tr = pd.concat([rng, (df.High - prev_c).abs(), (df.Low - prev_c).abs()], axis=1).max(axis=1)
    if p.atr_method == "sma":
        atr = tr.rolling(p.atr_period).mean()
    else:
        # Wilder, seeded with the mean of the first n true ranges (written out, not ewm,
        # whose seeding differs).
        vals = tr.to_numpy()
        out = np.full(len(vals), np.nan)
        if len(vals) >= p.atr_period:
            out[p.atr_period - 1] = vals[: p.atr_period].mean()
            for i in range(p.atr_period, len(vals)):
                out[i] = (out[i - 1] * (p.atr_period - 1) + vals[i]) / p.atr_period
        atr = pd.Series(out, index=df.index)
    df["MeanRange"] = mr.to_numpy()
    df["MeanVol"] = mv.to_numpy()
    df["ATR"] = atr.to_numpy()
    df["Day"] = (day - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    df["Tod"] = tod.to_numpy()
    df["NextDay"] = df.Day.shift(-1).fillna(-1).to_numpy()
    df["NextTod"] = df.Tod.shift(-1).fillna(-1).to_numpy()
    df["NextOpen"] = df.Open.shift(-1).to_numpy()
    return df


def make_strategy(p: ElephantParams, tick: float) -> type:
    """A ``backtesting.Strategy`` subclass implementing ``p``."""
    from backtesting import Strategy

    ws, we, flat = p.window_start_s, p.window_end_s, p.flat_s

    def in_win(t: float) -> bool:
        return ws <= t <= we

    def after_flat(t: float) -> bool:
        return flat >= 0 and t >= flat

    class ElephantPeer(Strategy):
        def init(self) -> None:
            # next_open: (direction, stop, session day) of the elephant bar i
            self.setup: tuple[int, float, int] | None = None
            self.flat_at_next_open = True

        def _elephant(self) -> int:
            d = self.data
            o, h, lo, c, v = d.Open[-1], d.High[-1], d.Low[-1], d.Close[-1], d.Volume[-1]
            mr, mv = d.MeanRange[-1], d.MeanVol[-1]
            if np.isnan(mr) or np.isnan(mv) or not in_win(d.Tod[-1]):
                return 0
            rng, body = h - lo, abs(c - o)
            if rng < p.min_range_mult * mr - _EPS:
                return 0
            if p.min_volume_mult > 0 and v < p.min_volume_mult * mv - _EPS:
                return 0
            if body < (1 - p.max_wick_pct) * rng - _EPS or body < tick - _EPS:
                return 0
            return 1 if c > o else -1

        def next(self) -> None:
            d = self.data
            flat_at_this_open = self.flat_at_next_open
            for order in list(self.orders):  # a stop setup lives for one bar only
                if not order.is_contingent:
                    order.cancel()
            closing = False
            if self.position:
                entry_day = self.trades[-1].entry_time
                eday = (pd.Timestamp(entry_day) - pd.Timestamp("1970-01-01")).days
                nd, nt = d.NextDay[-1], d.NextTod[-1]
                if flat >= 0 and nd >= 0 and (nd > eday or nt >= flat):
                    self.position.close()
                    closing = True
            flat_next = (not self.position) or closing
            e = self._elephant()
            h, lo = d.High[-1], d.Low[-1]
            pending = False
            if p.entry_mode == "stop":
                a = d.ATR[-1]
                nd, nt = d.NextDay[-1], d.NextTod[-1]
                if (
                    e
                    and not np.isnan(a)
                    and flat_next
                    and nd == d.Day[-1]
                    and in_win(nt)
                    and not after_flat(nt)
                ):
                    stop = _round_tick(h + tick if e > 0 else lo - tick, tick)
                    sl = _round_tick(stop - e * p.sl_atr * a, tick)
                    tp = _round_tick(stop + e * p.tp_atr * a, tick)
                    if e > 0:
                        self.buy(size=1, stop=stop, sl=sl, tp=tp)
                    else:
                        self.sell(size=1, stop=stop, sl=sl, tp=tp)
            else:
                s = self.setup
                a = d.ATR[-1]
                if (
                    s is not None
                    and flat_at_this_open
                    and s[2] == d.Day[-1]
                    and in_win(d.Tod[-1])
                    and not np.isnan(a)
                ):
                    sd, stop = s[0], s[1]
                    hit = h >= stop - _EPS if sd > 0 else lo <= stop + _EPS
                    nd, nt = d.NextDay[-1], d.NextTod[-1]
                    if hit and nd == d.Day[-1] and not after_flat(nt):
                        ref = d.NextOpen[-1]
                        sl = _round_tick(ref - sd * p.sl_atr * a, tick)
                        tp = _round_tick(ref + sd * p.tp_atr * a, tick)
                        if sd > 0:
                            self.buy(size=1, sl=sl, tp=tp)
                        else:
                            self.sell(size=1, sl=sl, tp=tp)
                        pending = True
                self.setup = (
                    (e, _round_tick(h + tick if e > 0 else lo - tick, tick), d.Day[-1])
                    if e
                    else None
                )
            self.flat_at_next_open = flat_next and not pending

    return ElephantPeer


@dataclass
class PeerRun:
    trades: pd.DataFrame  # entry_i, exit_i, direction, entry_price, exit_price
    seconds: float


def run_peer(bars: Bars, spec: SymbolSpec, p: ElephantParams) -> PeerRun:
    """Run the peer strategy with backtesting.py (no costs, size 1)."""
    import time

    from backtesting import Backtest

    if p.slippage_ticks or p.fee_per_contract:
        raise ValueError("the peer cross-check runs without slippage and fees")
    df = peer_frame(bars, p)
    bt = Backtest(
        df,
        make_strategy(p, spec.tick_size),
        cash=1e12,
        commission=0.0,
        margin=1.0,
        trade_on_close=False,
        hedging=False,
        exclusive_orders=False,
        finalize_trades=True,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    dt = time.perf_counter() - t0
    tr = stats["_trades"]
    out = pd.DataFrame(
        {
            "entry_i": tr.EntryBar.to_numpy(np.int64),
            "exit_i": tr.ExitBar.to_numpy(np.int64),
            "direction": np.sign(tr.Size.to_numpy()).astype(int),
            "entry_price": tr.EntryPrice.to_numpy(float),
            "exit_price": tr.ExitPrice.to_numpy(float),
        }
    )
    return PeerRun(out, dt)


def compare_trades(
    ours: pd.DataFrame, peer: pd.DataFrame, bars: Bars, p: ElephantParams, tol: float = 1e-9
) -> dict[str, Any]:
    """Match trades by entry bar; classify every difference.

    Returns a dict with ``matched`` (identical trades), ``differ`` (list of entry
    bars that differ), ``explained`` (differences on stop entries whose entry bar
    touches SL or TP, backtesting.py issue #119) and ``unexplained``.
    """
    a = ours.set_index("entry_i")
    b = peer.set_index("entry_i")
    matched, differ, explained = 0, [], []
    for i in sorted(set(a.index) | set(b.index)):
        if i in a.index and i in b.index:
            ra, rb = a.loc[i], b.loc[i]
            same = (
                ra.exit_i == rb.exit_i
                and ra.direction == rb.direction
                and abs(ra.entry_price - rb.entry_price) <= tol
                and abs(ra.exit_price - rb.exit_price) <= tol
            )
            if same:
                matched += 1
                continue
        differ.append(int(i))
    # A difference is explained when a stop entry's bar touched its SL/TP (the peer
    # defers those exits); the two runs may then differ until they take the same
    # trade again (knock-on). Anything else is unexplained.
    touched = set()
    if p.entry_mode == "stop" and "sl" in ours:
        for i, sl, tp in zip(a.index, a["sl"], a["tp"], strict=True):
            hi, lo = bars.high[int(i)], bars.low[int(i)]
            if lo - _EPS <= sl <= hi + _EPS or lo - _EPS <= tp <= hi + _EPS:
                touched.add(int(i))
    diverged = False
    differ_set = set(differ)
    for i in sorted(set(a.index) | set(b.index)):
        if i not in differ_set:
            diverged = False
        elif i in touched or diverged:
            explained.append(int(i))
            diverged = True
    unexplained = [i for i in differ if i not in explained]
    return {
        "ours": len(a),
        "peer": len(b),
        "matched": matched,
        "differ": differ,
        "explained": explained,
        "unexplained": unexplained,
    }
