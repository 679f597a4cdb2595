"""Live versus backtest: pair the trades, explain every difference, compute the seed's
success metrics and judge them against its thresholds.

Pure computation: the inputs are a :class:`~mtponte.reports.records.LiveRecord` (read
from a journal or a ``trades.csv`` elsewhere) and the data file's bars; the backtests
of the same bars are run here. See docs/compare.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mtponte.backtest.engine import run_backtest
from mtponte.domain.bars import Bars
from mtponte.domain.orders import Trade
from mtponte.domain.symbols import SymbolSpec
from mtponte.reports._match import BarDiff, Pair, bar_diffs, bars_of, pair_trades, same_trade
from mtponte.reports._metrics import (
    daily_sharpe,
    entry_command_of,
    equity,
    latencies,
    percentiles,
    pnl_divergence,
    uptime,
)
from mtponte.reports.records import LiveRecord
from mtponte.strategies.params import ElephantParams


@dataclass(frozen=True)
class Thresholds:
    """The seed's success criteria (seed 000, "Métricas de sucesso")."""

    identity_min: float = 0.95
    slippage_max_points: float = 5.0
    latency_max_s: float = 10.0
    uptime_min: float = 0.99
    sharpe_ratio_min: float = 0.70


@dataclass(frozen=True)
class CompareSettings:
    """How trades are paired and the monitor's liveness judged.

    Attributes
    ----------
    time_tol_s
        Largest entry-time difference of a pair (seconds).
    price_tol_ticks
        Largest entry/exit price difference of a ``matched`` pair, in ticks.
    fresh_s
        Uptime: a sign of life older than this leaves a minute down (``None``: two bars
        and a minute).
    thresholds
        Pass/fail limits.
    """

    time_tol_s: float = 60.0
    price_tol_ticks: float = 1.0
    fresh_s: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class CompareReport:
    """Everything the comparison found (:meth:`to_dict` is ``compare.json``)."""

    pairs: list[Pair]
    bar_diffs: list[BarDiff]
    metrics: dict[str, Any]
    checks: dict[str, dict[str, Any]]
    backtest_equity: list[tuple[float, float]]
    live_equity: list[tuple[float, float]]
    slippage: list[dict[str, Any]]
    latencies_s: list[float]
    meta: dict[str, Any]

    def unmatched(self) -> list[Pair]:
        """Pairs that are not ``matched``."""
        return [p for p in self.pairs if p.status != "matched"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``inf``/``nan`` as ``None``)."""
        return _clean(
            {
                "meta": self.meta,
                "metrics": self.metrics,
                "checks": self.checks,
                "counts": {
                    s: sum(p.status == s for p in self.pairs)
                    for s in ("matched", "mismatched", "missed", "extra")
                },
                "trades": [_pair_dict(p) for p in self.pairs],
                "bar_diffs": [
                    {"time": d.time.isoformat(), "kind": d.kind, "detail": d.detail}
                    for d in self.bar_diffs
                ],
                "slippage": self.slippage,
                "latencies_s": self.latencies_s,
                "equity": {"backtest": self.backtest_equity, "live": self.live_equity},
            }
        )


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _trade_dict(t: Trade | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "entry_time": t.entry_time.isoformat(),
        "exit_time": t.exit_time.isoformat(),
        "side": t.side.name.lower(),
        "entry_price": t.entry_price,
        "exit_price": t.exit_price,
        "pnl_points": t.pnl_points,
        "pnl_money": t.pnl_money,
        "exit_reason": t.exit_reason.value,
    }


def _pair_dict(p: Pair) -> dict[str, Any]:
    return {
        "status": p.status,
        "cause": p.cause,
        "backtest": _trade_dict(p.backtest),
        "live": _trade_dict(p.live),
    }


def _ts(t: datetime) -> float:
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()


def timeframe_s(bars: Bars) -> int:
    """Most common gap between bars, seconds (60 with fewer than two bars)."""
    if len(bars) < 2:
        return 60
    gaps, counts = np.unique(np.diff(bars.time), return_counts=True)
    return int(gaps[np.argmax(counts)])


def same_bars(data: Bars, live: LiveRecord) -> Bars:
    """The data file's bars the live run covers (all of them without journal bars)."""
    if not live.bars:
        return data
    ts = [_ts(b.time) for b in live.bars]
    sel = (data.time >= min(ts)) & (data.time <= max(ts))
    return data[int(np.argmax(sel)) : int(len(sel) - np.argmax(sel[::-1]))] if sel.any() else data


def compare_runs(
    live: LiveRecord,
    data: Bars,
    spec: SymbolSpec,
    params: ElephantParams,
    settings: CompareSettings | None = None,
) -> CompareReport:
    """Compare a live run with the backtest of the same bars.

    Parameters
    ----------
    live
        The live run's records.
    data
        The data file's bars (restricted here to the span the run saw).
    spec, params
        Symbol and strategy parameters of the backtest (the run's own).
    settings
        Pairing tolerances and thresholds.

    Returns
    -------
    CompareReport
    """
    s = settings or CompareSettings()
    bars = same_bars(data, live)
    tf = timeframe_s(bars)
    price_tol = s.price_tol_ticks * spec.tick_size + 1e-9
    bt = run_backtest(bars, spec, params).trades()
    diffs = bar_diffs(bars, live.bars)
    bt_seen: list[Trade] | None = None
    if diffs:
        bt_seen = run_backtest(bars_of(live.bars, bars.timezone), spec, params).trades()
    pairs = pair_trades(bt, live.trades, s.time_tol_s, price_tol)
    pairs = [_explain(p, live, bars, diffs, bt, bt_seen, price_tol) for p in pairs]
    slip = _slippage(pairs, spec)
    lat = latencies(live.signals, live.commands)
    life = list(live.heartbeats) + list(live.seen_at)
    fresh = s.fresh_s if s.fresh_s is not None else 2.0 * tf + 60.0
    up = uptime(life, bars, tf, fresh)
    n_bt, matched = len(bt), sum(p.status == "matched" for p in pairs)
    identity = matched / n_bt if n_bt else (1.0 if not live.trades else 0.0)
    bt_net = float(sum(t.pnl_money for t in bt))
    live_net = float(sum(t.pnl_money for t in live.trades))
    sh_bt, sh_live = daily_sharpe(bt, bars), daily_sharpe(live.trades, bars)
    sh_ratio = sh_live / sh_bt if sh_bt is not None and sh_live is not None and sh_bt > 0 else None
    flat = [x for r in slip for x in (r["entry_points"], r["exit_points"])]
    mean_abs = float(np.mean(np.abs(flat))) if flat else 0.0
    lat_s = percentiles(lat)
    metrics: dict[str, Any] = {
        "backtest_trades": n_bt,
        "live_trades": len(live.trades),
        "identity": identity,
        "slippage_entry_mean_points": _mean([r["entry_points"] for r in slip]),
        "slippage_exit_mean_points": _mean([r["exit_points"] for r in slip]),
        "slippage_mean_abs_points": mean_abs,
        "slippage_mean_money_per_trade": _mean([r["money"] for r in slip]),
        "latency_s": lat_s,
        "uptime": up,
        "pnl_backtest": bt_net,
        "pnl_live": live_net,
        "pnl_ratio": live_net / bt_net if bt_net else None,
        "pnl_divergence": pnl_divergence(live_net, bt_net, bt),
        "sharpe_backtest": sh_bt,
        "sharpe_live": sh_live,
        "sharpe_ratio": sh_ratio,
    }
    th = s.thresholds
    checks = {
        "identity": _check(identity, f">= {th.identity_min:.0%}", identity >= th.identity_min),
        "slippage": _check(
            mean_abs, f"< {th.slippage_max_points:g} points", mean_abs < th.slippage_max_points
        ),
        "latency": _check(
            lat_s["max"],
            f"< {th.latency_max_s:g} s (max)",
            None if lat_s["max"] is None else lat_s["max"] < th.latency_max_s,
        ),
        "uptime": _check(
            up, f">= {th.uptime_min:.0%}", None if up is None else up >= th.uptime_min
        ),
        "sharpe": _check(
            sh_ratio,
            f"> {th.sharpe_ratio_min:.0%} of the backtest's",
            None if sh_ratio is None else sh_ratio > th.sharpe_ratio_min,
        ),
    }
    meta = {
        "source": live.source,
        "symbol": spec.name,
        "bars": len(bars),
        "first_bar": datetime.fromtimestamp(int(bars.time[0]), tz=UTC).isoformat()
        if len(bars)
        else None,
        "last_bar": datetime.fromtimestamp(int(bars.time[-1]), tz=UTC).isoformat()
        if len(bars)
        else None,
        "timeframe_s": tf,
        "params": params.model_dump(mode="json"),
        "time_tol_s": s.time_tol_s,
        "price_tol": price_tol,
    }
    return CompareReport(
        pairs, diffs, metrics, checks, equity(bt), equity(live.trades), slip, lat, meta
    )


def _mean(v: list[float]) -> float | None:
    return float(np.mean(v)) if v else None


def _check(value: Any, target: str, ok: bool | None) -> dict[str, Any]:
    return {"value": value, "target": target, "pass": ok}


def _slippage(pairs: list[Pair], spec: SymbolSpec) -> list[dict[str, Any]]:
    out = []
    for p in pairs:
        b, lv = p.backtest, p.live
        if b is None or lv is None:
            continue
        d = int(b.side)
        e_in = (lv.entry_price - b.entry_price) * d
        e_out = (b.exit_price - lv.exit_price) * d
        out.append(
            {
                "entry_time": b.entry_time.isoformat(),
                "entry_points": e_in,
                "exit_points": e_out,
                "money": (e_in + e_out) * spec.point_value * lv.volume,
            }
        )
    return out


def _explain(
    p: Pair,
    live: LiveRecord,
    bars: Bars,
    diffs: list[BarDiff],
    bt: list[Trade],
    bt_seen: list[Trade] | None,
    price_tol: float,
) -> Pair:
    if p.status == "matched":
        return p
    bar = _bar_cause(p, diffs, bt, bt_seen, price_tol)
    if bar is not None:
        cause = f"bar {bar.time.isoformat()} {bar.kind}: {bar.detail}"
    elif p.status == "missed":
        assert p.backtest is not None
        cause = _missed_reason(p.backtest, live, bars)
    elif p.status == "extra":
        assert p.live is not None
        cause = "live entry the backtest does not take (" + _signal_reason(p.live, live, bars) + ")"
    else:
        cause = p.cause
    return Pair(p.status, p.backtest, p.live, cause)


def _bar_cause(
    p: Pair,
    diffs: list[BarDiff],
    bt: list[Trade],
    bt_seen: list[Trade] | None,
    tol: float,
) -> BarDiff | None:
    """The differing bar that changed this trade: the backtest of the bars seen live
    reproduces the live side (or loses the backtest's trade)."""
    if not diffs or bt_seen is None:
        return None
    in_seen = lambda t: any(same_trade(t, x, tol) for x in bt_seen)  # noqa: E731
    changed = False
    if p.backtest is not None and not in_seen(p.backtest):
        changed = True
    if p.live is not None and in_seen(p.live) and not any(same_trade(p.live, x, tol) for x in bt):
        changed = True
    if not changed:
        return None
    ref = p.backtest or p.live
    assert ref is not None
    end = _ts(ref.exit_time)
    before = [d for d in diffs if _ts(d.time) <= end]
    return before[-1] if before else diffs[0]


def _signal_at(entry: datetime, live: LiveRecord, bars: Bars) -> tuple[int, datetime | None]:
    t = int(_ts(entry))
    i = int(np.searchsorted(bars.time, t))
    if i <= 0 or i >= len(bars) or int(bars.time[i]) != t:
        return -1, None
    return i, datetime.fromtimestamp(int(bars.time[i - 1]), tz=UTC)


def _signal_reason(tr: Trade, live: LiveRecord, bars: Bars) -> str:
    _, sig_t = _signal_at(tr.entry_time, live, bars)
    sigs = [x for x in live.signals if sig_t is not None and _ts(x.bar_time) == _ts(sig_t)]
    return f"signal {sigs[-1].outcome}" if sigs else "no signal journaled on the bar before"


def _missed_reason(b: Trade, live: LiveRecord, bars: Bars) -> str:
    if not live.signals and not live.commands:
        return "no journal: the live side's reason is unknown (trades.csv only)"
    _, sig_t = _signal_at(b.entry_time, live, bars)
    ordered = sorted(live.signals, key=lambda x: _ts(x.created_at))
    k = next(
        (j for j, x in enumerate(ordered) if sig_t is not None and _ts(x.bar_time) == _ts(sig_t)),
        -1,
    )
    if k < 0:
        when = sig_t.isoformat() if sig_t else "?"
        return f"no signal journaled at {when} (the strategy did not see the setup live)"
    sig = ordered[k]
    if sig.outcome.startswith("refused"):
        rule = sig.outcome.partition(":")[2].strip()
        return f"signal refused by risk rule {rule}" + (f": {sig.refusal}" if sig.refusal else "")
    if sig.outcome == "log_only":
        return "log-only mode: signal allowed, no order sent"
    if sig.outcome != "sent":
        return f"signal {sig.outcome}"
    nxt = ordered[k + 1] if k + 1 < len(ordered) else None
    cmds = sorted(live.commands, key=lambda c: _ts(c.created_at))
    c = entry_command_of(sig, nxt, cmds)
    if c is None:
        return "signal sent, no entry command journaled"
    if c.state == "market_phase":
        return f"{c.kind} order refused by the market phase (retcode {c.retcode}: {c.message})"
    if c.state == "refused":
        return f"{c.kind} order rejected by the broker (retcode {c.retcode}: {c.message})"
    if c.state in ("unknown", "lost", "pending"):
        return f"{c.kind} command {c.state}: no answer from the broker ({c.message}); never re-sent"
    fills = [f for f in live.fills if f.tag == c.tag and f.entry == "in"]
    if not fills:
        if c.kind == "stop":
            return "stop order placed, expired unfilled"
        return f"{c.kind} order done, no fill recorded"
    return f"entered live at {fills[0].price:g}, no closed trade recorded"
