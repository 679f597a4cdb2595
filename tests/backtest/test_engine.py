"""Engine conventions (DESIGN.md), one scenario each, checked on batch and streaming."""

from __future__ import annotations

import pytest

from mtponte.backtest import StreamingBacktest, run_backtest
from mtponte.domain import WIN, ExitReason
from mtponte.strategies import ElephantParams
from tests.conftest import make_bars

QUIET = (100_000.0, 100_050.0, 99_950.0, 100_000.0, 100.0)
ELEPHANT = (100_000.0, 100_200.0, 100_000.0, 100_180.0, 200.0)  # bull, H = 100200
STOP, SL, TP = 100_205.0, 99_940.0, 100_605.0  # ATR(3) = 133.33 → SL/TP rounded to tick
BASE = dict(
    range_lookback=3,
    volume_lookback=3,
    atr_period=3,
    window_start="09:00",
    window_end="11:00",
    flat_time=None,
)


def run(after, p=None, start_hour=9, day="2024-03-04", extra_days=None):
    """4 quiet bars, the elephant, then ``after`` bars (o, h, l, c), 5 minutes apart."""
    params = ElephantParams.from_overrides({**BASE, **(p or {})})
    rows = []
    minute = 0
    for bar in [QUIET] * 4 + [ELEPHANT] + [a if len(a) == 5 else (*a, 100.0) for a in after]:
        hh, mm = divmod(start_hour * 60 + minute, 60)
        rows.append((f"{day} {hh:02d}:{mm:02d}", *bar))
        minute += 5
    for t, bar in extra_days or []:
        rows.append((t, *bar, 100.0))
    bars = make_bars(rows)
    batch = run_backtest(bars, WIN, params)
    stream = StreamingBacktest(WIN, params)
    for b in bars:
        stream.on_bar(b)
    stream.finish()
    assert batch.trades() == stream.trades
    run.signals = stream.signals  # type: ignore[attr-defined]
    return batch.trades()


def test_stop_entry_fills_at_stop():
    (t,) = run([(100_190, 100_300, 100_150, 100_250), (100_250, 100_260, 100_200, 100_220)])
    assert t.entry_price == STOP and (t.sl, t.tp) == (SL, TP)
    assert t.exit_reason is ExitReason.END and t.exit_price == 100_220


def test_stop_entry_gap_fills_at_open_keeping_attached_levels():
    (t,) = run([(100_250, 100_300, 100_240, 100_260)])
    assert t.entry_price == 100_250
    assert (t.sl, t.tp) == (SL, TP)  # levels were attached to the stop order


def test_setup_lives_one_bar_only():
    assert run([(100_100, 100_200, 100_050, 100_150), (100_150, 100_400, 100_100, 100_300)]) == []


def test_sl_before_tp_in_the_same_bar():
    (t,) = run([(100_190, 100_210, 100_180, 100_200), (100_200, 100_700, 99_900, 100_000)])
    assert t.exit_reason is ExitReason.SL and t.exit_price == SL


def test_gap_through_sl_exits_at_open():
    (t,) = run([(100_190, 100_210, 100_180, 100_200), (99_800, 99_850, 99_700, 99_750)])
    assert t.exit_reason is ExitReason.SL and t.exit_price == 99_800


def test_gap_through_tp_exits_at_open():
    (t,) = run([(100_190, 100_210, 100_180, 100_200), (100_700, 100_800, 100_650, 100_750)])
    assert t.exit_reason is ExitReason.TP and t.exit_price == 100_700


def test_entry_bar_exit_at_level_not_open():
    (t,) = run([(100_190, 100_300, 99_900, 100_000)])
    assert t.exit_reason is ExitReason.SL and t.exit_price == SL and t.entry_price == STOP


def test_flat_time_closes_at_open_of_first_bar_at_or_after():
    # Bars from 09:00: the elephant is 09:20, entry 09:25; flat at 09:32 → the 09:35 bar.
    (t,) = run(
        [
            (100_190, 100_210, 100_180, 100_200),
            (100_200, 100_210, 100_190, 100_205),
            (100_205, 100_215, 100_195, 100_210),
        ],
        p={"flat_time": "09:32"},
    )
    assert t.exit_reason is ExitReason.FLAT and t.exit_price == 100_205
    assert t.exit_time.astimezone(WIN_TZ).strftime("%H:%M") == "09:35"


def test_flat_time_on_a_later_date():
    (t,) = run(
        [(100_190, 100_210, 100_180, 100_200)],
        p={"flat_time": "17:00"},
        extra_days=[("2024-03-05 09:00", (100_300, 100_310, 100_290, 100_300))],
    )
    assert t.exit_reason is ExitReason.FLAT and t.exit_price == 100_300


def test_next_open_entry_and_levels_from_fill():
    (t,) = run(
        [(100_190, 100_300, 100_150, 100_250), (100_260, 100_270, 100_240, 100_250)],
        p={"entry_mode": "next_open"},
    )
    atr = (100 + 200 + 150) / 3  # TR of the two bars before the entry bar and the elephant
    assert t.entry_price == 100_260
    assert t.sl == WIN.round_price(100_260 - 2 * atr) and t.tp == WIN.round_price(100_260 + 3 * atr)


def test_next_open_cancelled_when_entry_bar_is_next_day():
    assert (
        run(
            [(100_190, 100_300, 100_150, 100_250)],
            p={"entry_mode": "next_open"},
            extra_days=[("2024-03-05 09:00", (100_260, 100_270, 100_240, 100_250))],
        )
        == []
    )


def test_slippage_and_fees():
    p = {"slippage_ticks": 2, "fee_per_contract": 0.5, "volume": 3}
    (t,) = run([(100_190, 100_300, 100_150, 100_250)], p=p)
    assert t.entry_price == STOP + 10  # 2 ticks against a long
    assert t.exit_price == 100_250 - 10
    assert t.pnl_points == (100_240 - 100_215)
    assert t.pnl_money == pytest.approx(25 * 0.20 * 3 - 2 * 0.5 * 3)


def test_one_position_at_a_time():
    # A second elephant triggers while the first trade is open: it is not taken.
    big = (100_300, 100_700, 100_300, 100_680, 500.0)
    trades = run(
        [(100_190, 100_300, 100_180, 100_300), big, (100_690, 100_720, 100_500, 100_600)],
        p={"tp_atr": 10},
    )
    assert len(run.signals) == 2  # type: ignore[attr-defined]
    assert run.signals[1].price == 100_705  # type: ignore[attr-defined]
    assert len(trades) == 1 and trades[0].entry_price == STOP


def test_volume_below_min_lot_is_an_error():
    from mtponte.errors import ConfigError

    with pytest.raises(ConfigError, match="minimum lot"):
        run([], p={"volume": 0.5})


from zoneinfo import ZoneInfo  # noqa: E402

WIN_TZ = ZoneInfo("America/Sao_Paulo")


def test_zone_mismatch_and_missing_volume_are_errors():
    from mtponte.backtest import run_backtest
    from mtponte.domain import Bars
    from mtponte.errors import ConfigError

    bars = make_bars([("2024-03-04 09:00", *QUIET)])
    utc_bars = Bars(
        time=bars.time,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        tick_volume=bars.tick_volume,
        real_volume=bars.real_volume,
        timezone="UTC",
    )
    with pytest.raises(ConfigError, match="time zone UTC"):
        run_backtest(utc_bars, WIN)
    no_vol = Bars(
        time=bars.time,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        tick_volume=bars.tick_volume,
        real_volume=bars.real_volume * 0,
        timezone=bars.timezone,
    )
    with pytest.raises(ConfigError, match="no real volume"):
        run_backtest(no_vol, WIN)
    assert run_backtest(no_vol, WIN, ElephantParams(min_volume_mult=0)).stats["trades"] == 0
