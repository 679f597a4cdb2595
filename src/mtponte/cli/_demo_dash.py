"""The live dashboard of ``mtponte demo``'s bridge run: rich Live on a terminal, plain
periodic lines otherwise (CI, pipes); and the bridge broker that times round trips."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from mtponte.brokers.bridge import BridgeBroker
from mtponte.domain.symbols import SymbolSpec

if TYPE_CHECKING:
    from mtponte.live.runner import Runner


class TimedBridge(BridgeBroker):
    """The bridge broker, timing each command's round trip (written → final result)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips: list[float] = []

    def _call(self, kind: str, comment: str = "", **fields: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return super()._call(kind, comment, **fields)
        finally:
            self.round_trips.append(time.perf_counter() - t0)


@dataclass
class DashState:
    """What the dashboard shows (read by the refresh thread, written by the loop)."""

    total: int
    done: int = 0
    bar: Any = None
    runner: Runner | None = None
    kill: str = "off"
    events: list[str] = field(default_factory=list)


def pct_ms(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return 1000 * s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def plural(k: int, one: str, many: str) -> str:
    return f"{k} {one if k == 1 else many}"


def fmt_ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


class Dashboard:
    """rich Live on a terminal; plain periodic lines otherwise (CI, pipes)."""

    def __init__(self, console: Console, st: DashState, broker: TimedBridge, spec: SymbolSpec):
        self.console = console
        self.st = st
        self.broker = broker
        self.spec = spec
        self.live: Live | None = None
        self._last_day: Any = None
        self.zone = ZoneInfo(spec.timezone)

    def __enter__(self) -> Dashboard:
        if self.console.is_terminal:
            self.live = Live(get_renderable=self.render, console=self.console, refresh_per_second=8)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)
            self.live.__exit__(None, None, None)

    def note(self, text: str) -> None:
        """An event line (above the live panel, or a plain line)."""
        self.st.events.append(text)
        self.console.print(text, highlight=False)

    def _pnl(self) -> tuple[int, float, float]:
        r = self.st.runner
        if r is None:
            return 0, 0.0, 0.0
        trades = list(r.trades)
        done = sum(t.pnl_money for t in trades)
        held, bar = r._held, self.st.bar
        open_pnl = 0.0
        if held is not None and bar is not None:
            open_pnl = (bar.close - held.entry_price) * held.side * self.spec.point_value * r.volume
        return len(trades), done, open_pnl

    def _position(self) -> str:
        r = self.st.runner
        if r is None:
            return "-"
        held, working = r._held, r._working
        if held is not None:
            side = "LONG" if held.side > 0 else "SHORT"
            return f"{side} {r.volume:g} @ {held.entry_price:g}  SL {held.sl:g}  TP {held.tp:g}"
        if working is not None:
            return f"flat, stop order {working.ticket} working"
        return "flat"

    def _latencies(self) -> tuple[str, str]:
        r = self.st.runner
        dec = list(r.stats.latencies) if r is not None else []
        rt = list(self.broker.round_trips)
        d = f"p50 {fmt_ms(pct_ms(dec, 0.5))}  p99 {fmt_ms(pct_ms(dec, 0.99))} ms"
        b = f"p50 {fmt_ms(pct_ms(rt, 0.5))}  p99 {fmt_ms(pct_ms(rt, 0.99))} ms ({len(rt)})"
        return d, b

    def render(self) -> Group:
        """The live panel."""
        st, bar = self.st, self.st.bar
        t = Table(show_header=False, title="mtponte monitor ⇄ file bridge ⇄ executor process")
        t.add_column(style="bold")
        t.add_column()
        if bar is not None:
            local = bar.time.astimezone(self.zone)
            t.add_row(
                "bar",
                f"{local:%Y-%m-%d %H:%M}  O {bar.open:g} H {bar.high:g} L {bar.low:g} "
                f"C {bar.close:g}   ({st.done}/{st.total})",
            )
        r = st.runner
        sig = r.stats.signals if r is not None else 0
        sent = len(r.stats.order_bars) if r is not None else 0
        t.add_row("signals", f"{sig} ({sent} orders sent)")
        t.add_row("position", self._position())
        n, done, open_pnl = self._pnl()
        t.add_row("P&L", f"{done:,.2f} realised in {n} trades, {open_pnl:,.2f} open")
        t.add_row("kill switch", st.kill)
        d, b = self._latencies()
        t.add_row("decision", d)
        t.add_row("bridge round trip", b)
        return Group(t)

    def tick(self) -> None:
        """After each bar: without a terminal, one line per session."""
        if self.live is not None or self.st.bar is None:
            return
        day = self.st.bar.time.date()
        if self._last_day is not None and day == self._last_day and self.st.done < self.st.total:
            return
        self._last_day = day
        n, done, open_pnl = self._pnl()
        d, b = self._latencies()
        self.console.print(
            f"[{self.st.done}/{self.st.total}] {self.st.bar.time:%Y-%m-%d %H:%M} "
            f"close {self.st.bar.close:g} | {self._position()} | {n} trades, P&L {done:,.2f} "
            f"(open {open_pnl:,.2f}) | kill {self.st.kill} | decision {d} | bridge {b}",
            highlight=False,
            soft_wrap=True,
        )
