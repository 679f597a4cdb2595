"""Streaming engine: the bar-by-bar twin of the numba loop in ``_kernel.py``.

It drives :class:`~mtponte.strategies.elephant.ElephantStrategy` exactly as live
does (one closed bar at a time, signals at the bar's close) and fills with the
shared fill model. The paper broker runs this same machine; replaying bars through
it must give the batch backtest's trades, bit for bit (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from mtponte.backtest.engine import trade_volume
from mtponte.backtest.fill import (
    EXIT_END,
    EXIT_FLAT,
    exit_check,
    flat_due,
    slipped,
    stop_fill,
    trade_pnl,
    trail_sl,
)
from mtponte.domain.bars import Bar, local_parts
from mtponte.domain.orders import EntryKind, Signal, Trade, levels_at
from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.strategies._rules import after_flat, triggered
from mtponte.strategies.elephant import ElephantStrategy, setup_bar_ok
from mtponte.strategies.params import ElephantParams


@dataclass
class _Open:
    side: int
    entry_bar: Bar
    entry_day: int
    entry_price: float
    sl: float
    tp: float


class StreamingBacktest:
    """Feed closed bars with :meth:`on_bar`; collect trades and signals.

    Parameters
    ----------
    spec
        Symbol specification.
    params
        Strategy parameters.
    timezone
        Exchange time zone (default ``spec.timezone``).
    trailing
        After each bar an open position's stop loss trails to that bar's low (long) /
        high (short), only tightening (the live runner's ``trailing = "prev_bar"``;
        ``run_backtest(..., trailing=True)`` in the batch engine).
    """

    def __init__(
        self,
        spec: SymbolSpec,
        params: ElephantParams | None = None,
        timezone: str | None = None,
        trailing: bool = False,
    ) -> None:
        self.trailing = trailing
        self.spec = spec
        self.p = params or ElephantParams()
        self.timezone = timezone or spec.timezone
        self.strategy = ElephantStrategy(spec, self.p, self.timezone)
        self.volume = trade_volume(spec, self.p)
        self.trades: list[Trade] = []
        self.signals: list[Signal] = []
        self._pos: _Open | None = None
        self._stop: tuple[Signal, int] | None = None  # stop signal and its setup day
        self._pend: tuple[Signal, int] | None = None  # next_open signal and its bar's day
        self._last: Bar | None = None

    def on_bar(self, bar: Bar) -> list[Trade]:
        """Process one closed bar; return the trades it closed."""
        p, tick, slip = self.p, self.spec.tick_size, float(self.p.slippage_ticks)
        day, tod = local_parts(bar.time, self.timezone)
        closed: list[Trade] = []

        if self._pend is not None:  # next_open entry at this open
            sig, sig_day = self._pend
            self._pend = None
            if day == sig_day and not after_flat(tod, p.flat_s):
                d = int(sig.side)
                ref = bar.open
                assert sig.sl_distance is not None and sig.tp_distance is not None
                self._pos = _Open(
                    d,
                    bar,
                    day,
                    slipped(ref, d, True, slip, tick),
                    *levels_at(ref, d, sig.sl_distance, sig.tp_distance, tick),
                )

        pos = self._pos
        if (
            pos is not None
            and pos.entry_bar is not bar
            and flat_due(day, tod, pos.entry_day, p.flat_s)
        ):
            closed.append(
                self._close(bar, slipped(bar.open, pos.side, False, slip, tick), EXIT_FLAT)
            )
        flat_open = self._pos is None

        stop, self._stop = self._stop, None
        if stop is not None and flat_open:
            sig, setup_day = stop
            d = int(sig.side)
            assert sig.price is not None and sig.sl is not None and sig.tp is not None
            if setup_bar_ok(setup_day, day, tod, p) and triggered(d, bar.high, bar.low, sig.price):
                fill = slipped(stop_fill(d, bar.open, sig.price), d, True, slip, tick)
                self._pos = _Open(d, bar, day, fill, sig.sl, sig.tp)

        pos = self._pos
        if pos is not None:
            code, px = exit_check(
                pos.side, bar.open, bar.high, bar.low, pos.sl, pos.tp, pos.entry_bar is bar
            )
            if code:
                closed.append(self._close(bar, slipped(px, pos.side, False, slip, tick), code))
            elif self.trailing:
                pos.sl = trail_sl(pos.side, pos.sl, bar.low, bar.high, tick)

        sig_new = self.strategy.on_bar(bar)
        if sig_new is not None:
            self.signals.append(sig_new)
            if sig_new.kind is EntryKind.STOP:
                self._stop = (sig_new, day)
            elif flat_open:
                self._pend = (sig_new, day)
        self._last = bar
        self.trades.extend(closed)
        return closed

    def finish(self) -> list[Trade]:
        """End of data: close an open position at the last close (reason ``end``)."""
        if self._pos is None or self._last is None:
            return []
        slip = float(self.p.slippage_ticks)
        t = self._close(
            self._last,
            slipped(self._last.close, self._pos.side, False, slip, self.spec.tick_size),
            EXIT_END,
        )
        self.trades.append(t)
        return [t]

    def _close(self, bar: Bar, price: float, code: int) -> Trade:
        pos = self._pos
        assert pos is not None
        self._pos = None
        points, money = trade_pnl(
            pos.side,
            pos.entry_price,
            price,
            self.spec.point_value,
            self.volume,
            self.p.fee_per_contract,
        )
        return Trade(
            pos.entry_bar.time,
            bar.time,
            Side(pos.side),
            self.volume,
            pos.entry_price,
            price,
            pos.sl,
            pos.tp,
            points,
            money,
            ExitReason.from_code(code),
        )
