"""The elephant-bar ("barra elefante") strategy: batch and streaming paths.

Both paths evaluate the rules of :mod:`mtponte.strategies._rules` on the same
inputs; ``tests/strategies`` proves they emit identical signals on thousands of
random series and on real WIN data.

Signals are emitted at the close of a bar (the *emission bar*):

* ``stop`` mode: at the close of the elephant bar ``i``; the signal is a stop order
  one tick beyond it, with absolute SL/TP, that lives for bar ``i+1`` only (and only
  if ``i+1`` opens on the same date inside the window: the executor checks that
  with :func:`setup_bar_ok` because it happens after the close of ``i``).
* ``next_open`` mode: at the close of the trigger bar ``i+1``; a market order for
  the open of ``i+2`` with SL/TP as distances from the fill price.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from mtponte._numba import njit
from mtponte.domain.bars import Bar, Bars, local_parts
from mtponte.domain.orders import EntryKind, Signal
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.indicators import atr, mean_prev, mean_prev_session, true_range_step, window_mean
from mtponte.indicators.core import wilder_next
from mtponte.strategies._rules import (
    after_flat,
    bracket,
    elephant_direction,
    in_window,
    stop_price,
    triggered,
)
from mtponte.strategies._rules_nb import (
    bracket_nb,
    elephant_direction_nb,
    in_window_nb,
    stop_price_nb,
    triggered_nb,
)
from mtponte.strategies.params import ElephantParams

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

MODE_STOP = 0
MODE_NEXT_OPEN = 1


@dataclass(frozen=True, eq=False)
class SignalArrays:
    """Signals by emission bar ``e`` (``direction[e] == 0``: none).

    ``price``/``sl``/``tp`` are set in ``stop`` mode; ``sl_dist``/``tp_dist`` in
    ``next_open`` mode; ``setup`` is the elephant bar's index; ``atr`` the ATR used.
    """

    mode: int
    direction: I8
    price: F64
    sl: F64
    tp: F64
    sl_dist: F64
    tp_dist: F64
    atr: F64
    setup: I64

    def count(self) -> int:
        return int(np.count_nonzero(self.direction))


def setup_bar_ok(setup_day: int, day: int, tod: int, p: ElephantParams) -> bool:
    """May an order from a setup on ``setup_day`` act on a bar opening at ``day``/``tod``?"""
    return (
        day == setup_day
        and in_window(tod, p.window_start_s, p.window_end_s)
        and not after_flat(tod, p.flat_s)
    )


@dataclass(frozen=True, eq=False)
class Features:
    """Per-bar inputs of the rules that depend only on lookbacks (cached by sweeps)."""

    mean_range: F64
    mean_volume: F64
    atr: F64
    volume: F64


def features(bars: Bars, p: ElephantParams) -> Features:
    """Means over previous bars and ATR for ``bars`` under ``p``'s lookbacks."""
    rng = bars.high - bars.low
    vol = bars.volume(p.volume_source)
    if p.session_reset:
        mr = mean_prev_session(rng, p.range_lookback, bars.day)
        mv = mean_prev_session(vol, p.volume_lookback, bars.day)
    else:
        mr = mean_prev(rng, p.range_lookback)
        mv = mean_prev(vol, p.volume_lookback)
    a = atr(bars.high, bars.low, bars.close, p.atr_period, p.atr_method)
    return Features(mr, mv, a, np.ascontiguousarray(vol, dtype=np.float64))


@njit
def signal_kernel(
    o: F64,
    h: F64,
    l: F64,
    c: F64,
    v: F64,
    mean_range: F64,
    mean_volume: F64,
    atr_: F64,
    day: I64,
    tod: I64,
    tick: float,
    min_range_mult: float,
    min_volume_mult: float,
    max_wick_pct: float,
    win_start: int,
    win_end: int,
    sl_atr: float,
    tp_atr: float,
    mode: int,
    direction: I8,
    price: F64,
    sl: F64,
    tp: F64,
    sl_dist: F64,
    tp_dist: F64,
    atr_out: F64,
    setup: I64,
) -> None:
    """Fill the signal arrays (see :class:`SignalArrays`) in place."""
    n = len(o)
    for i in range(n):
        d = elephant_direction_nb(
            o[i],
            h[i],
            l[i],
            c[i],
            v[i],
            mean_range[i],
            mean_volume[i],
            tick,
            min_range_mult,
            min_volume_mult,
            max_wick_pct,
        )
        if d == 0 or not in_window_nb(tod[i], win_start, win_end):
            continue
        stop = stop_price_nb(d, h[i], l[i], tick)
        if mode == 0:
            a = atr_[i]
            if a != a:
                continue
            s, t = bracket_nb(d, stop, sl_atr * a, tp_atr * a, tick)
            direction[i] = d
            price[i] = stop
            sl[i] = s
            tp[i] = t
            atr_out[i] = a
            setup[i] = i
        else:
            j = i + 1
            if j >= n or day[j] != day[i] or not in_window_nb(tod[j], win_start, win_end):
                continue
            if not triggered_nb(d, h[j], l[j], stop):
                continue
            a = atr_[j]
            if a != a:
                continue
            direction[j] = d
            sl_dist[j] = sl_atr * a
            tp_dist[j] = tp_atr * a
            atr_out[j] = a
            setup[j] = i


def signal_arrays(
    bars: Bars, spec: SymbolSpec, p: ElephantParams, feats: Features | None = None
) -> SignalArrays:
    """Batch path: every signal over ``bars`` at once (numba)."""
    f = feats if feats is not None else features(bars, p)
    n = len(bars)
    out = SignalArrays(
        mode=MODE_STOP if p.entry_mode == "stop" else MODE_NEXT_OPEN,
        direction=np.zeros(n, np.int8),
        price=np.full(n, np.nan),
        sl=np.full(n, np.nan),
        tp=np.full(n, np.nan),
        sl_dist=np.full(n, np.nan),
        tp_dist=np.full(n, np.nan),
        atr=np.full(n, np.nan),
        setup=np.full(n, -1, np.int64),
    )
    signal_kernel(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        f.volume,
        f.mean_range,
        f.mean_volume,
        f.atr,
        bars.day,
        bars.tod,
        spec.tick_size,
        p.min_range_mult,
        p.min_volume_mult,
        p.max_wick_pct,
        p.window_start_s,
        p.window_end_s,
        p.sl_atr,
        p.tp_atr,
        out.mode,
        out.direction,
        out.price,
        out.sl,
        out.tp,
        out.sl_dist,
        out.tp_dist,
        out.atr,
        out.setup,
    )
    return out


def signals(bars: Bars, spec: SymbolSpec, p: ElephantParams) -> list[Signal]:
    """Batch path as :class:`Signal` objects (what the streaming path emits)."""
    arr = signal_arrays(bars, spec, p)
    kind = EntryKind.STOP if arr.mode == MODE_STOP else EntryKind.NEXT_OPEN
    out = []
    for e in np.flatnonzero(arr.direction):
        out.append(
            Signal(
                bar_time=_utc(bars.time[e]),
                setup_time=_utc(bars.time[arr.setup[e]]),
                side=Side(int(arr.direction[e])),
                kind=kind,
                price=_opt(arr.price[e]),
                sl=_opt(arr.sl[e]),
                tp=_opt(arr.tp[e]),
                sl_distance=_opt(arr.sl_dist[e]),
                tp_distance=_opt(arr.tp_dist[e]),
                atr=float(arr.atr[e]),
            )
        )
    return out


def _opt(x: float) -> float | None:
    return None if x != x else float(x)


def _utc(t: int | np.integer) -> datetime:
    return datetime.fromtimestamp(int(t), tz=UTC)


class ElephantStrategy:
    """Streaming path: feed closed bars one at a time with :meth:`on_bar`.

    Parameters
    ----------
    spec
        Symbol traded (tick size).
    params
        Strategy parameters.
    timezone
        Exchange time zone of session dates and the detection window
        (default: ``spec.timezone``).
    """

    name = "elephant"

    def __init__(
        self, spec: SymbolSpec, params: ElephantParams | None = None, timezone: str | None = None
    ) -> None:
        self.spec = spec
        self.p = params or ElephantParams()
        self.timezone = timezone or spec.timezone
        p = self.p
        self._ranges: deque[float] = deque(maxlen=p.range_lookback)
        self._volumes: deque[float] = deque(maxlen=p.volume_lookback)
        self._trs: deque[float] = deque(maxlen=p.atr_period)
        self._atr_count = 0
        self._atr = float("nan")
        self._prev_close = float("nan")
        self._prev_day: int | None = None
        self._prev_time: datetime | None = None
        # next_open mode: the elephant of the previous bar waiting for its trigger bar
        self._setup: tuple[int, float, int, datetime] | None = None  # dir, stop, day, time

    @property
    def atr(self) -> float:
        """ATR including the last bar fed (NaN until ``atr_period`` bars)."""
        return self._atr

    def on_bar(self, bar: Bar) -> Signal | None:
        """Process one *closed* bar; return the signal emitted at its close, if any."""
        p, tick = self.p, self.spec.tick_size
        if self._prev_time is not None and bar.time <= self._prev_time:
            raise ValueError(
                f"bar {bar.time.isoformat()} is not after {self._prev_time.isoformat()}"
            )
        day, tod = local_parts(bar.time, self.timezone)
        new_session = self._prev_day is not None and day != self._prev_day
        if p.session_reset and new_session:
            self._ranges.clear()
            self._volumes.clear()

        # ATR including this bar (causal: uses this bar and earlier only).
        tr = true_range_step(bar.high, bar.low, self._prev_close)
        self._update_atr(tr)

        volume = bar.real_volume if p.volume_source == "real" else bar.tick_volume
        rng = bar.high - bar.low
        mr = window_mean(self._ranges) if len(self._ranges) == p.range_lookback else float("nan")
        mv = window_mean(self._volumes) if len(self._volumes) == p.volume_lookback else float("nan")
        d = elephant_direction(
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            volume,
            mr,
            mv,
            tick,
            p.min_range_mult,
            p.min_volume_mult,
            p.max_wick_pct,
        )
        if d != 0 and not in_window(tod, p.window_start_s, p.window_end_s):
            d = 0

        out: Signal | None = None
        if p.entry_mode == "stop":
            if d != 0 and self._atr == self._atr:
                stop = stop_price(d, bar.high, bar.low, tick)
                sl, tp = bracket(d, stop, p.sl_atr * self._atr, p.tp_atr * self._atr, tick)
                out = Signal(
                    bar.time, bar.time, Side(d), EntryKind.STOP, stop, sl, tp, None, None, self._atr
                )
        else:
            setup = self._setup
            if (
                setup is not None
                and setup[2] == day
                and in_window(tod, p.window_start_s, p.window_end_s)
                and triggered(setup[0], bar.high, bar.low, setup[1])
                and self._atr == self._atr
            ):
                sd = setup[0]
                out = Signal(
                    bar.time,
                    setup[3],
                    Side(sd),
                    EntryKind.NEXT_OPEN,
                    None,
                    None,
                    None,
                    p.sl_atr * self._atr,
                    p.tp_atr * self._atr,
                    self._atr,
                )
            self._setup = (d, stop_price(d, bar.high, bar.low, tick), day, bar.time) if d else None

        # This bar joins the lookbacks only after it has been judged against them.
        self._ranges.append(rng)
        self._volumes.append(volume)
        self._prev_close = bar.close
        self._prev_day = day
        self._prev_time = bar.time
        return out

    def _update_atr(self, tr: float) -> None:
        n = self.p.atr_period
        self._atr_count += 1
        if self.p.atr_method == "sma":
            self._trs.append(tr)
            self._atr = window_mean(self._trs) if len(self._trs) == n else float("nan")
        else:
            if self._atr_count < n:
                self._trs.append(tr)
            elif self._atr_count == n:
                self._trs.append(tr)
                self._atr = window_mean(self._trs)
            else:
                self._atr = wilder_next(self._atr, tr, n)
