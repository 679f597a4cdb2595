"""The seed's metrics: slippage, latency, uptime, Sharpe (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from mtponte.backtest.stats import ANNUAL_DAYS
from mtponte.domain.bars import Bars, local_calendar
from mtponte.domain.orders import Trade
from mtponte.reports.records import CommandRec, SignalRec

ENTRY_KINDS = ("stop", "market")


def _ts(t: datetime) -> float:
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """``n``, ``p50``, ``p95``, ``max`` and ``mean`` of ``values`` (``None`` when empty)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def entry_command_of(
    sig: SignalRec, next_sig: SignalRec | None, commands: Sequence[CommandRec]
) -> CommandRec | None:
    """The first entry command journaled after ``sig`` (and before the next signal)."""
    lo = _ts(sig.created_at)
    hi = _ts(next_sig.created_at) if next_sig is not None else math.inf
    for c in commands:
        if c.kind in ENTRY_KINDS and lo <= _ts(c.created_at) < hi:
            return c
    return None


def latencies(signals: Sequence[SignalRec], commands: Sequence[CommandRec]) -> list[float]:
    """Seconds from each sent signal's journal time to its entry command's result."""
    sigs = sorted(signals, key=lambda s: _ts(s.created_at))
    cmds = sorted(commands, key=lambda c: _ts(c.created_at))
    out: list[float] = []
    for k, s in enumerate(sigs):
        if s.outcome != "sent":
            continue
        c = entry_command_of(s, sigs[k + 1] if k + 1 < len(sigs) else None, cmds)
        if c is not None and c.done_at is not None:
            out.append(max(0.0, _ts(c.done_at) - _ts(s.created_at)))
    return out


def uptime(life: Sequence[datetime], data: Bars, timeframe_s: int, fresh_s: float) -> float | None:
    """Share of session minutes whose end has a sign of life no older than ``fresh_s``.

    Parameters
    ----------
    life
        Wall-clock times the monitor was seen alive (heartbeats, bars seen).
    data
        The data file's bars: when the run's wall clock overlaps them (a live run),
        only minutes inside a bar count as session minutes; otherwise (a replay, run
        faster than real time) every minute of the run counts.
    timeframe_s
        Bar length.
    fresh_s
        A sign of life older than this at a minute's end leaves the minute down.

    Returns
    -------
    float or None
        ``None`` without any sign of life.
    """
    if not life:
        return None
    t = np.sort(np.array([_ts(x) for x in life]))
    minutes = np.arange(int(t[0] // 60), int(t[-1] // 60) + 1, dtype=np.int64)
    inside = (data.time >= t[0] - timeframe_s) & (data.time <= t[-1])
    if inside.any():
        starts = data.time[inside]
        m0 = minutes * 60
        k = np.searchsorted(starts, m0, side="right") - 1
        keep = (k >= 0) & (m0 < starts[np.clip(k, 0, None)] + timeframe_s)
        minutes = minutes[keep]
    if len(minutes) == 0:
        return None
    ends = (minutes + 1) * 60.0
    j = np.searchsorted(t, ends, side="right") - 1
    ok = (j >= 0) & (ends - t[np.clip(j, 0, None)] <= fresh_s)
    return float(ok.mean())


def daily_sharpe(trades: Sequence[Trade], data: Bars) -> float | None:
    """Sharpe of the daily money P&L over the session dates of ``data`` (the backtest's
    definition, :mod:`mtponte.backtest.stats`); ``None`` when undefined."""
    days = np.unique(local_calendar(data.time, data.timezone)[0])
    if len(days) < 2:
        return None
    daily = np.zeros(len(days))
    if trades:
        exits = np.array([int(_ts(tr.exit_time)) for tr in trades], dtype=np.int64)
        d = local_calendar(exits, data.timezone)[0]
        k = np.clip(np.searchsorted(days, d), 0, len(days) - 1)
        hit = days[k] == d
        np.add.at(daily, k[hit], np.array([tr.pnl_money for tr in trades])[hit])
    sd = float(daily.std(ddof=1))
    return float(daily.mean() / sd * math.sqrt(ANNUAL_DAYS)) if sd > 0 else None


def equity(trades: Sequence[Trade]) -> list[tuple[float, float]]:
    """``(exit epoch, cumulative money P&L)`` after each trade, in exit order."""
    out, cum = [], 0.0
    for tr in sorted(trades, key=lambda x: _ts(x.exit_time)):
        cum += tr.pnl_money
        out.append((_ts(tr.exit_time), cum))
    return out


def pnl_divergence(live_net: float, bt_net: float, bt_trades: Sequence[Trade]) -> float:
    """``|live − backtest| / max(|backtest net|, mean |backtest trade P&L|)``: 0 when equal;
    the floor keeps a flat backtest from making any difference infinite."""
    floor = float(np.mean([abs(t.pnl_money) for t in bt_trades])) if bt_trades else 0.0
    base = max(abs(bt_net), floor)
    if base == 0:
        return 0.0 if live_net == bt_net else math.inf
    return abs(live_net - bt_net) / base
