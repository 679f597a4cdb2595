from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from mtponte.domain.orders import EntryKind, Signal
from mtponte.domain.side import Side
from mtponte.risk import (
    DEFAULT_RULES,
    RiskContext,
    RiskLimits,
    command_pending,
    daily_loss,
    evaluate,
    first_refusal,
    kill_switch,
    market_phase,
    max_trades_per_day,
    one_position,
    signal_validity,
    trading_window,
)

T0 = datetime(2024, 3, 4, 13, 0, tzinfo=UTC)
STOP = Signal(T0, T0, Side.BUY, EntryKind.STOP, 100_000.0, 99_800.0, 100_300.0, None, None, 100.0)
NEXT = Signal(T0, T0, Side.SELL, EntryKind.NEXT_OPEN, None, None, None, 200.0, 300.0, 100.0)


def ctx(**kw: object) -> RiskContext:
    base = RiskContext(
        signal=STOP,
        signal_close=T0 + timedelta(minutes=5),
        now=T0 + timedelta(minutes=5, seconds=1),
        entry_tod_s=10 * 3600,
        tick_size=5.0,
        positions=0,
        pending_orders=0,
        unacknowledged=0,
        day_pnl=0.0,
        trades_today=0,
        kill_switch=False,
        limits=RiskLimits(),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_defaults_allow_a_clean_signal() -> None:
    for sig in (STOP, NEXT):
        ds = evaluate(ctx(signal=sig))
        assert len(ds) == len(DEFAULT_RULES)
        assert first_refusal(ds) is None, ds
        assert all(d.rule and d.reason for d in ds)


def test_signal_from_the_future_and_stale() -> None:
    d = signal_validity(ctx(now=T0 + timedelta(minutes=4)))
    assert not d.allowed and d.rule == "signal" and "after now" in d.reason
    d = signal_validity(ctx(now=T0 + timedelta(minutes=5, seconds=61)))
    assert not d.allowed and "old" in d.reason
    lim = RiskLimits(max_signal_age_s=None)
    assert signal_validity(ctx(now=T0 + timedelta(days=1), limits=lim)).allowed


@pytest.mark.parametrize(
    "sig",
    [
        replace(STOP, sl=100_050.0),  # SL above a long stop
        replace(STOP, tp=99_900.0),  # TP below
        replace(STOP, sl=None),
        replace(NEXT, sl_distance=0.0),
        replace(NEXT, tp_distance=None),
        replace(STOP, atr=0.0),
    ],
)
def test_levels_on_the_wrong_side_or_missing(sig: Signal) -> None:
    assert not signal_validity(ctx(signal=sig)).allowed


def test_sl_within_max_atr_with_half_tick_rounding() -> None:
    lim = RiskLimits(max_sl_atr=2.0)
    assert signal_validity(ctx(limits=lim)).allowed  # exactly 2 ATR
    assert signal_validity(ctx(signal=replace(STOP, sl=99_797.5), limits=lim)).allowed
    d = signal_validity(ctx(signal=replace(STOP, sl=99_795.0), limits=lim))
    assert not d.allowed and "ATR" in d.reason
    d = signal_validity(ctx(signal=replace(NEXT, sl_distance=250.0), limits=lim))
    assert not d.allowed


def test_trading_window() -> None:
    assert trading_window(ctx()).reason == "disabled"
    lim = RiskLimits(window_start=time(9, 30), window_end=time(10, 0))
    assert trading_window(ctx(limits=lim, entry_tod_s=10 * 3600)).allowed
    assert trading_window(ctx(limits=lim, entry_tod_s=9 * 3600 + 30 * 60)).allowed
    d = trading_window(ctx(limits=lim, entry_tod_s=10 * 3600 + 300))
    assert not d.allowed and "10:05" in d.reason


def test_one_position_and_command_pending() -> None:
    assert not one_position(ctx(positions=1)).allowed
    assert not one_position(ctx(pending_orders=1)).allowed
    assert one_position(ctx()).allowed
    assert not command_pending(ctx(unacknowledged=1)).allowed


def test_daily_loss_counts_realised_and_open() -> None:
    lim = RiskLimits(daily_loss_limit=500.0)
    assert daily_loss(ctx(limits=lim, day_pnl=-499.0)).allowed
    d = daily_loss(ctx(limits=lim, day_pnl=-500.0))
    assert not d.allowed and d.rule == "daily_loss"


def test_max_trades_and_kill_switch() -> None:
    lim = RiskLimits(max_trades_per_day=2)
    assert max_trades_per_day(ctx(limits=lim, trades_today=1)).allowed
    assert not max_trades_per_day(ctx(limits=lim, trades_today=2)).allowed
    d = kill_switch(ctx(kill_switch=True))
    assert not d.allowed and d.rule == "kill_switch"


def test_first_refusal_is_in_rule_order() -> None:
    ds = evaluate(ctx(kill_switch=True, positions=1))
    r = first_refusal(ds)
    assert r is not None and r.rule == "kill_switch"
    assert [d.rule for d in ds if not d.allowed] == ["kill_switch", "one_position"]


def test_risk_imports_only_domain() -> None:
    import ast
    from pathlib import Path

    import mtponte.risk as pkg

    for f in Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and "mtponte" in node.module:
                assert node.module.startswith(("mtponte.domain", "mtponte.risk")), (f, node.module)


def test_market_phase_refuses_auction_phases_only() -> None:
    assert market_phase(ctx()).allowed  # no calendar
    assert market_phase(ctx(market_phase="open")).allowed
    for phase in ("pre_open", "closing_call", "closed", "holiday"):
        d = market_phase(ctx(market_phase=phase))
        assert not d.allowed and d.rule == "market_phase" and phase in d.reason
    refusal = first_refusal(evaluate(ctx(market_phase="pre_open")))
    assert refusal is not None and refusal.rule == "market_phase"
