"""The elephant-bar definition, rule by rule, on hand-built bars (DESIGN.md)."""

import pytest

from mtponte.domain import WIN
from mtponte.errors import ConfigError
from mtponte.strategies import ElephantParams, ElephantStrategy, signals
from mtponte.strategies.params import parse_assignments
from tests.conftest import make_bars

QUIET = (100_000.0, 100_050.0, 99_950.0, 100_000.0, 100.0)  # range 100, volume 100
P = ElephantParams(
    range_lookback=3,
    volume_lookback=3,
    atr_period=3,
    window_start="09:00",
    window_end="11:00",
    flat_time=None,
)


def series(last, times=None, n_quiet=4, start="2024-03-04 09:00"):
    hh, mm = 9, 0
    rows = []
    for k in range(n_quiet + 1):
        t = f"2024-03-04 {hh:02d}:{mm:02d}"
        rows.append((t, *(QUIET if k < n_quiet else last)))
        mm += 5
        if mm == 60:
            hh, mm = hh + 1, 0
    if times:
        rows = [(times[k], *r[1:]) for k, r in enumerate(rows)]
    return make_bars(rows)


def detected(bars, p=P):
    both = signals(bars, WIN, p)
    s = ElephantStrategy(WIN, p)
    streamed = [x for x in (s.on_bar(b) for b in bars) if x is not None]
    assert both == streamed
    return both


def test_threshold_uses_previous_bars_only():
    # Range 135 = 1.35 × 100 (mean of the previous bars). Had the mean included the
    # current bar it would be (100+100+135)/3 = 111.7 and 135 < 1.35×111.7.
    sig = detected(series((100_000.0, 100_135.0, 100_000.0, 100_130.0, 130.0)))
    assert len(sig) == 1 and sig[0].side == 1


def test_just_below_threshold_fails_and_within_1e9_passes():
    assert not detected(series((100_000.0, 100_130.0, 100_000.0, 100_125.0, 130.0)))
    # Volume exactly 1.3 × mean minus 5e-10 still passes.
    assert detected(series((100_000.0, 100_135.0, 100_000.0, 100_130.0, 130.0 - 5e-10)))
    assert not detected(series((100_000.0, 100_135.0, 100_000.0, 100_130.0, 129.9)))


def test_volume_rule_can_be_disabled():
    low_volume = (100_000.0, 100_135.0, 100_000.0, 100_130.0, 1.0)
    assert not detected(series(low_volume))
    assert detected(series(low_volume), P.model_copy(update={"min_volume_mult": 0.0}))


def test_wick_and_doji():
    # Body 90 of range 135 < 70 %: too much wick.
    assert not detected(series((100_000.0, 100_135.0, 100_000.0, 100_090.0, 200.0)))
    # Bear elephant.
    sig = detected(series((100_135.0, 100_135.0, 100_000.0, 100_005.0, 200.0)))
    assert sig[0].side == -1
    # A doji (body < one tick) never qualifies, even with max_wick_pct = 1.
    doji = series((100_000.0, 100_135.0, 99_865.0, 100_000.0, 200.0))
    assert not detected(doji, P.model_copy(update={"max_wick_pct": 1.0}))


def test_window_is_inclusive():
    big = (100_000.0, 100_135.0, 100_000.0, 100_130.0, 200.0)
    times = [
        "2024-03-04 10:40",
        "2024-03-04 10:45",
        "2024-03-04 10:50",
        "2024-03-04 10:55",
        "2024-03-04 11:00",
    ]
    assert detected(series(big, times))
    late = [*times[:4], "2024-03-04 11:05"]
    assert not detected(series(big, late))


def test_lookbacks_must_be_full():
    big = (100_000.0, 100_135.0, 100_000.0, 100_130.0, 200.0)
    assert not detected(series(big, n_quiet=2))  # only 2 previous bars for lookback 3


def test_stop_signal_levels():
    sig = detected(series((100_000.0, 100_200.0, 100_000.0, 100_180.0, 200.0)))[0]
    # ATR(3) = (100 + 100 + 200) / 3; stop = H + tick; SL/TP rounded to the tick.
    atr = (100 + 100 + 200) / 3
    assert sig.price == 100_205.0
    assert sig.atr == pytest.approx(atr)
    assert sig.sl == WIN.round_price(100_205 - 2 * atr) == 99_940.0
    assert sig.tp == WIN.round_price(100_205 + 3 * atr) == 100_605.0


def test_params_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown parameter"):
        ElephantParams.from_overrides({"nope": "1"})
    with pytest.raises(ConfigError, match="window_end"):
        ElephantParams.from_overrides({"window_start": "11:00", "window_end": "10:00"})
    with pytest.raises(ConfigError, match="expected name=value"):
        parse_assignments(["sl_atr"])
    assert ElephantParams.from_overrides({"flat_time": "none"}).flat_time is None
    assert ElephantParams.from_overrides({"sl_atr": "1.5"}).sl_atr == 1.5


def test_elephant_strategy_satisfies_the_port():
    from mtponte.strategies import Strategy

    assert isinstance(ElephantStrategy(WIN, P), Strategy)


def test_zero_mean_volume_never_passes_the_volume_rule():
    from mtponte.strategies._rules import elephant_direction
    from mtponte.strategies._rules_nb import elephant_direction_nb

    args = (100.0, 135.0, 100.0, 130.0, 0.0, 25.0, 0.0, 5.0, 1.35, 1.3, 0.3)
    assert elephant_direction(*args) == 0 == elephant_direction_nb(*args)
    off = (*args[:9], 0.0, 0.3)  # min_volume_mult = 0 disables the rule explicitly
    assert elephant_direction(*off) == 1 == elephant_direction_nb(*off)
