"""A simulated MetaTrader5 terminal whose market moves: **test-only**.

:class:`SteppingMt5Sim` is :class:`~mtponte.brokers._mt5sim.Mt5Sim` over a paper account
that trades a bar file one bar per ``copy_rates_from_pos`` call after the first, in the
order a live account sees it (bar *j* trades, closes, bar *j+1* opens): the lockstep of
:func:`mtponte.live.replay.replay_paper`, driven by the mt5 feed's own polls. Position
0 of ``copy_rates_from_pos`` is the next bar of the file (time and open), as a real
terminal shows it once that bar has started; the bars the runner acts on are the ones
before it.

``mtponte live`` with ``[feed] kind = "mt5"`` / ``[broker] kind = "mt5"`` uses it in
place of the ``MetaTrader5`` package when the environment says so (never in
production)::

    MTPONTE_MT5_MODULE=mtponte.brokers._mt5simmarket:from_env
    MTPONTE_MT5SIM_BARS=win.csv       # the market's bars (any format load_bars reads)
    MTPONTE_MT5SIM_SYMBOL=WIN         # symbol preset (the account's only symbol)
    MTPONTE_MT5SIM_WARM=100           # bars already closed when the monitor starts
    MTPONTE_MT5SIM_DONE=done.flag     # optional: written once every bar was shown
    MTPONTE_MT5SIM_PAUSE=300:2.5      # optional: the market stalls 2.5 s before bar 300

``market_clock`` (aware UTC, the market's "now") is what ``mtponte live`` then uses as
the runner's and the adapter's clock, so simulated history is not "too old".
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mtponte.brokers._mt5sim import Mt5Sim
from mtponte.brokers.paper import PaperBroker
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec, get_symbol
from mtponte.errors import ConfigError


class MarketClock:
    """A settable clock (aware UTC)."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


class SteppingMt5Sim(Mt5Sim):
    """An ``Mt5Sim`` whose market advances one bar per rates read (after the first).

    Parameters
    ----------
    bars
        The market, in ``spec``'s exchange time zone.
    spec
        The only symbol of the account.
    warm
        Bars already traded and closed before the first read.
    server_timezone
        The simulated server's clock.
    done
        File written when the last bar has been shown closed (tests wait for it).
    account_mode
        ``netting`` (B3) or ``hedging``.
    pause
        ``(k, seconds)``: before trading bar ``k`` the market stands still this long
        (reads show the same bars: a stalled feed).
    """

    def __init__(
        self,
        bars: Bars,
        spec: SymbolSpec,
        warm: int,
        server_timezone: str = "America/Sao_Paulo",
        done: Path | None = None,
        account_mode: Literal["hedging", "netting"] = "netting",
        pause: tuple[int, float] | None = None,
    ) -> None:
        if not 1 <= warm < len(bars):
            raise ConfigError(f"warm must be in 1..{len(bars) - 1}, got {warm}")
        self.bars = bars
        self.spec = spec
        self.done = done
        times = bars.time.astype(np.int64)
        self.step = timedelta(seconds=int(np.median(np.diff(times))))
        self.market_clock = MarketClock(bars.bar(0).time)
        paper = PaperBroker(symbols=[spec], clock=self.market_clock, account_mode=account_mode)
        super().__init__(paper, server_timezone=server_timezone)
        self._next = 0  # the next bar the market trades
        for _ in range(warm):
            self._trade_next()
        self._reads = 0
        self.pause = pause
        self._paused_at: float | None = None

    def _stalled(self) -> bool:
        if self.pause is None or self._next != self.pause[0]:
            return False
        if self._paused_at is None:
            self._paused_at = _now()
        if _now() - self._paused_at < self.pause[1]:
            return True
        self.pause = None
        return False

    def _trade_next(self) -> None:
        j = self._next
        bar = self.bars.bar(j)
        self.market_clock.t = bar.time
        self.paper.on_bar(self.spec.name, bar)  # the market trades bar j
        self.market_clock.t = bar.time + self.step  # bar j has closed
        if j + 1 < len(self.bars):
            self.paper.set_quote(self.spec.name, self.bars.bar(j + 1).open)  # j+1 opens
        self._next = j + 1

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> np.ndarray[Any, np.dtype[Any]] | None:
        """Advance the market one bar (not on the first read), then the base's window
        with the forming bar at the next bar's real time."""
        self._reads += 1
        if self._reads > 1 and self._next < len(self.bars) and not self._stalled():
            self._trade_next()
            if self._next == len(self.bars) and self.done is not None:
                self.done.write_text("done\n", encoding="utf-8")
        rates = super().copy_rates_from_pos(symbol, timeframe, start_pos, count)
        if rates is not None and start_pos == 0 and self._next < len(self.bars):
            # a real terminal shows the bar that has started, whatever the session gap
            rates[-1]["time"] = self.clock.to_server(self.bars.bar(self._next).time)
        return rates


def _now() -> float:
    return time.monotonic()


def from_env() -> SteppingMt5Sim:
    """A :class:`SteppingMt5Sim` from the ``MTPONTE_MT5SIM_*`` variables (module doc).

    Raises
    ------
    ConfigError
        A variable missing or the bar file unreadable.
    """
    from mtponte.data.loaders import load_bars

    path = os.environ.get("MTPONTE_MT5SIM_BARS")
    if not path:
        raise ConfigError("MTPONTE_MT5SIM_BARS: the simulated market's bar file is required")
    spec = get_symbol(os.environ.get("MTPONTE_MT5SIM_SYMBOL", "WIN"))
    server_tz = os.environ.get("MTPONTE_MT5SIM_SERVER_TZ", "America/Sao_Paulo")
    bars = load_bars(Path(path), timezone=spec.timezone, server_timezone=spec.server_timezone)
    try:
        warm = int(os.environ.get("MTPONTE_MT5SIM_WARM", "100"))
    except ValueError as exc:
        raise ConfigError(f"MTPONTE_MT5SIM_WARM: not an integer: {exc}") from None
    done = os.environ.get("MTPONTE_MT5SIM_DONE")
    pause = None
    if raw := os.environ.get("MTPONTE_MT5SIM_PAUSE"):
        k, _, secs = raw.partition(":")
        try:
            pause = (int(k), float(secs))
        except ValueError:
            raise ConfigError(f"MTPONTE_MT5SIM_PAUSE={raw!r}: expected 'bar:seconds'") from None
    return SteppingMt5Sim(
        bars, spec, warm, server_timezone=server_tz, done=Path(done) if done else None, pause=pause
    )


__all__ = ["MarketClock", "SteppingMt5Sim", "from_env"]
