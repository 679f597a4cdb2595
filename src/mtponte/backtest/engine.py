"""Batch backtest: signals (numba) → engine loop (numba) → trades and statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from mtponte.backtest._kernel import simulate, trade_buffers, trade_columns
from mtponte.backtest.stats import N_METRICS, stats_dict, stats_kernel
from mtponte.domain.bars import Bars
from mtponte.domain.orders import Trade
from mtponte.domain.side import ExitReason, Side
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError
from mtponte.strategies.elephant import Features, SignalArrays, signal_arrays
from mtponte.strategies.params import ElephantParams


@dataclass(frozen=True, eq=False)
class TradeArrays:
    """Closed trades as columns (index-based; see :meth:`BacktestResult.trades`)."""

    direction: npt.NDArray[np.int8]
    entry_i: npt.NDArray[np.int64]
    exit_i: npt.NDArray[np.int64]
    entry_price: npt.NDArray[np.float64]
    exit_price: npt.NDArray[np.float64]
    sl: npt.NDArray[np.float64]
    tp: npt.NDArray[np.float64]
    reason: npt.NDArray[np.int8]
    volume: float
    pnl_points: npt.NDArray[np.float64]
    pnl_money: npt.NDArray[np.float64]
    bars_held: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.direction)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything a backtest produced."""

    bars: Bars
    spec: SymbolSpec
    params: ElephantParams
    signals: SignalArrays
    t: TradeArrays
    stats: dict[str, Any]

    def trades(self) -> list[Trade]:
        """Trades as domain objects (aware UTC times)."""
        t, times = self.t, self.bars.time
        return [
            Trade(
                entry_time=datetime.fromtimestamp(int(times[t.entry_i[k]]), tz=UTC),
                exit_time=datetime.fromtimestamp(int(times[t.exit_i[k]]), tz=UTC),
                side=Side(int(t.direction[k])),
                volume=t.volume,
                entry_price=float(t.entry_price[k]),
                exit_price=float(t.exit_price[k]),
                sl=float(t.sl[k]),
                tp=float(t.tp[k]),
                pnl_points=float(t.pnl_points[k]),
                pnl_money=float(t.pnl_money[k]),
                exit_reason=ExitReason.from_code(int(t.reason[k])),
            )
            for k in range(len(t))
        ]

    def equity(self) -> npt.NDArray[np.float64]:
        """Closed-trade equity (money) at each bar's close."""
        eq = np.zeros(len(self.bars))
        np.add.at(eq, self.t.exit_i, self.t.pnl_money)
        return np.cumsum(eq)


def trade_volume(spec: SymbolSpec, p: ElephantParams) -> float:
    """Contracts per trade, snapped to the lot step (error if below the minimum)."""
    v = spec.snap_volume(p.volume)
    if v <= 0:
        raise ConfigError(f"volume {p.volume} is below {spec.name}'s minimum lot {spec.lot_min}")
    return v


def check_inputs(bars: Bars, spec: SymbolSpec, p: ElephantParams) -> None:
    """Refuse inputs that would silently give a different strategy than asked for."""
    if bars.timezone != spec.timezone:
        raise ConfigError(
            f"bars are in time zone {bars.timezone} but {spec.name} trades in {spec.timezone}; "
            "sessions and the detection window would differ from live"
        )
    if p.min_volume_mult > 0 and len(bars) and not np.any(bars.volume(p.volume_source) > 0):
        other = "tick" if p.volume_source == "real" else "real"
        raise ConfigError(
            f"the data has no {p.volume_source} volume (all zero), so the volume rule can never "
            f"pass; use --set volume_source={other} or --set min_volume_mult=0"
        )


def run_trades(
    bars: Bars,
    spec: SymbolSpec,
    p: ElephantParams,
    sig: SignalArrays,
    volume: float,
    trailing: bool = False,
) -> TradeArrays:
    """Run the engine over precomputed signals (``trailing``: see :func:`run_backtest`)."""
    buf = trade_buffers(len(bars))
    nt = simulate(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.day,
        bars.tod,
        sig.mode,
        sig.direction,
        sig.price,
        sig.sl,
        sig.tp,
        sig.sl_dist,
        sig.tp_dist,
        spec.tick_size,
        float(p.slippage_ticks),
        p.flat_s,
        p.window_start_s,
        p.window_end_s,
        **buf,
        trailing=trailing,
    )
    t = {k: v[:nt].copy() for k, v in buf.items()}
    points, money, held = trade_columns(
        nt,
        t["t_dir"],
        t["t_entry_i"],
        t["t_exit_i"],
        t["t_entry_px"],
        t["t_exit_px"],
        t["t_reason"],
        spec.point_value,
        volume,
        p.fee_per_contract,
    )
    return TradeArrays(
        direction=t["t_dir"],
        entry_i=t["t_entry_i"],
        exit_i=t["t_exit_i"],
        entry_price=t["t_entry_px"],
        exit_price=t["t_exit_px"],
        sl=t["t_sl"],
        tp=t["t_tp"],
        reason=t["t_reason"],
        volume=volume,
        pnl_points=points,
        pnl_money=money,
        bars_held=held,
    )


def compute_stats(
    bars: Bars,
    t: TradeArrays,
    day_index: npt.NDArray[np.int64] | None = None,
    n_days: int | None = None,
) -> np.ndarray:
    """Metrics vector (see :mod:`mtponte.backtest.stats`)."""
    if day_index is None or n_days is None:
        uniq, day_index = np.unique(bars.day, return_inverse=True)
        n_days = len(uniq)
    out = np.empty(N_METRICS)
    stats_kernel(
        t.pnl_money, t.pnl_points, day_index[t.exit_i], t.bars_held, n_days, len(bars), out
    )
    return out


def run_backtest(
    bars: Bars,
    spec: SymbolSpec,
    params: ElephantParams | None = None,
    feats: Features | None = None,
    trailing: bool = False,
) -> BacktestResult:
    """Backtest the elephant-bar strategy over ``bars``.

    Parameters
    ----------
    bars
        Market data (exchange time zone set).
    spec
        Symbol specification (tick, point value, lot step).
    params
        Strategy parameters; defaults are the user's validated strategy.
    feats
        Precomputed features (sweeps reuse them across parameter sets).
    trailing
        After each bar an open position's stop loss trails to that bar's low (long) /
        high (short), only tightening (the live runner's ``trailing = "prev_bar"``).

    Returns
    -------
    BacktestResult
    """
    p = params or ElephantParams()
    check_inputs(bars, spec, p)
    volume = trade_volume(spec, p)
    sig = signal_arrays(bars, spec, p, feats)
    t = run_trades(bars, spec, p, sig, volume, trailing)
    return BacktestResult(bars, spec, p, sig, t, stats_dict(compute_stats(bars, t)))
