"""The daily guard: live against the backtest of the bars seen so far.

After each session (and every ``guard.every_bars`` bars when set) the guard backtests
the bars the monitor has seen, pairs the backtest's trades with the live ones
(:func:`mtponte.reports._match.pair_trades`) and computes the trade identity and the
P&L divergence. Over ``guard.max_identity_divergence`` or ``guard.max_pnl_divergence``
it trips: a WARNING with a stable message, a ``live_alerts`` row, the flag file written,
and the runner is close-only (no new entries; exits still managed) until a human
removes the flag (``mtponte guard --reset``). After a reset only trades entering after
it are judged. See docs/compare.md.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mtponte.backtest.engine import run_backtest
from mtponte.domain.bars import Bar, Bars, local_parts
from mtponte.domain.orders import Trade
from mtponte.domain.side import ExitReason
from mtponte.domain.symbols import SymbolSpec
from mtponte.live.config import GuardSection
from mtponte.live.journal import Journal
from mtponte.reports._match import pair_trades
from mtponte.reports._metrics import pnl_divergence
from mtponte.strategies.params import ElephantParams

log = logging.getLogger("mtponte.live")

TRIPPED = "GUARD TRIPPED: live diverges from the backtest; close-only until reset"
RESET = "GUARD RESET: flag removed by a human; new entries allowed"


class Guard:
    """Watch live trades against the backtest of the same bars.

    Parameters
    ----------
    section
        Thresholds and cadence (``[guard]``).
    spec, params
        Symbol and strategy of the backtest.
    journal
        Where alerts are recorded (``None``: only logged).
    """

    def __init__(
        self,
        section: GuardSection,
        spec: SymbolSpec,
        params: ElephantParams,
        journal: Journal | None = None,
    ) -> None:
        self.section = section
        self.spec = spec
        self.params = params
        self.journal = journal
        self._buf = np.empty((7, 1024))  # time, OHLC, volumes; grows by doubling
        self._n = 0
        self._day: int | None = None
        self._since_check = 0
        self._tripped = self._flag_exists()
        self.since: float = -np.inf  # judge trades entering at or after this epoch
        self.last: dict[str, Any] = {}

    # ------------------------------------------------------------------ state
    def _flag_exists(self) -> bool:
        f = self.section.flag_file
        return f is not None and Path(f).exists()

    def blocked(self) -> bool:
        """Close-only: enabled, tripped and not reset (the flag file exists, or the
        in-memory state when there is no flag file)."""
        if not self.section.enabled:
            return False
        if self.section.flag_file is None:
            return self._tripped
        return self._flag_exists()

    # ------------------------------------------------------------------ events
    def warm(self, bar: Bar) -> None:
        """A bar that closed before this run (a restart): kept for the backtest's
        lookbacks; only trades entering after it are judged."""
        self._append(bar)
        self._day = local_parts(bar.time, self.spec.timezone)[0]
        self.since = bar.time.timestamp() + 1

    def on_bar(self, bar: Bar, trades: list[Trade], active: bool = True) -> dict[str, Any] | None:
        """Called with each closed bar before it is acted on; when enabled and
        ``active`` (the runner sends orders), checks once the previous session is over
        (or ``every_bars`` have passed). Returns the check's numbers when one ran."""
        if not (self.section.enabled and active):
            self._append(bar)
            self._day = local_parts(bar.time, self.spec.timezone)[0]
            return None
        if self._tripped and self.section.flag_file is not None and not self._flag_exists():
            self._reset(bar)
        day = local_parts(bar.time, self.spec.timezone)[0]
        due = self._day is not None and day != self._day
        self._since_check += 1
        every = self.section.every_bars
        if every and self._since_check >= every:
            due = True
        result = None
        if due and self._n:
            result = self.check(trades)
            self._since_check = 0
        self._day = day
        self._append(bar)
        return result

    def _append(self, bar: Bar) -> None:
        if self._n == self._buf.shape[1]:
            self._buf = np.concatenate([self._buf, np.empty_like(self._buf)], axis=1)
        self._buf[:, self._n] = (
            bar.time.timestamp(),
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.tick_volume,
            bar.real_volume,
        )
        self._n += 1

    def _bars(self) -> Bars:
        b = self._buf[:, : self._n].copy()
        return Bars(
            time=b[0].astype(np.int64),
            open=b[1],
            high=b[2],
            low=b[3],
            close=b[4],
            tick_volume=b[5],
            real_volume=b[6],
            timezone=self.spec.timezone,
        )

    def check(self, trades: list[Trade]) -> dict[str, Any]:
        """Compare ``trades`` (closed live trades) with the backtest of the bars seen so
        far; trip when a threshold is crossed. Returns the numbers."""
        bars = self._bars()
        last = int(bars.time[-1])
        bt = [
            t
            for t in run_backtest(bars, self.spec, self.params).trades()
            if not (t.exit_reason is ExitReason.END and int(t.exit_time.timestamp()) >= last)
            and t.entry_time.timestamp() >= self.since
        ]
        live = [
            t
            for t in trades
            if t.entry_time.timestamp() >= self.since and t.exit_time.timestamp() <= last
        ]
        s = self.section
        pairs = pair_trades(bt, live, s.time_tol_s, s.price_tol_ticks * self.spec.tick_size + 1e-9)
        matched = sum(p.status == "matched" for p in pairs)
        identity = matched / len(bt) if bt else 1.0
        bt_net = sum(t.pnl_money for t in bt)
        live_net = sum(t.pnl_money for t in live)
        div = pnl_divergence(live_net, bt_net, bt)
        out = {
            "bars": len(bars),
            "last_bar": datetime.fromtimestamp(last, tz=UTC).isoformat(),
            "backtest_trades": len(bt),
            "live_trades": len(live),
            "identity": identity,
            "pnl_backtest": bt_net,
            "pnl_live": live_net,
            "pnl_divergence": div,
        }
        self.last = out
        judged = len(bt) >= s.min_trades
        over = judged and (1 - identity > s.max_identity_divergence or div > s.max_pnl_divergence)
        log.info(
            "guard: identity %.1f%%, P&L divergence %.1f%% (%d backtest / %d live trades)",
            100 * identity,
            100 * div,
            len(bt),
            len(live),
        )
        if over and not self.blocked():
            self._trip(out)
        return out

    def _trip(self, out: dict[str, Any]) -> None:
        self._tripped = True
        detail = (
            f"identity {100 * out['identity']:.1f}%, P&L divergence "
            f"{100 * out['pnl_divergence']:.1f}% at {out['last_bar']}"
        )
        log.warning("%s (%s)", TRIPPED, detail)
        f = self.section.flag_file
        if f is not None:
            Path(f).parent.mkdir(parents=True, exist_ok=True)
            Path(f).write_text(json.dumps(out, indent=2), encoding="utf-8")
        if self.journal is not None:
            self.journal.alert("guard_tripped", f"{TRIPPED} ({detail})", out)

    def _reset(self, bar: Bar) -> None:
        self._tripped = False
        self.since = bar.time.timestamp()
        log.warning("%s (from %s)", RESET, bar.time.isoformat())
        if self.journal is not None:
            self.journal.alert("guard_reset", RESET, {"from": bar.time.isoformat()})

    def reset(self) -> None:
        """Reset without a flag file (in-process)."""
        if self.section.flag_file is not None:
            Path(self.section.flag_file).unlink(missing_ok=True)
        self._tripped = False
        if self._n:
            self.since = float(self._buf[0, self._n - 1]) + 1
