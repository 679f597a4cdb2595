from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtponte.domain import EURUSD, WIN, get_symbol
from mtponte.domain.symbols import SymbolSpec, round_to_tick
from mtponte.errors import ConfigError


def test_win_preset_money():
    assert WIN.tick_size == 5.0
    assert WIN.point_value == pytest.approx(0.20)
    assert WIN.money(100.0, 2) == pytest.approx(40.0)  # 100 points × R$0.20 × 2 contracts


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        (102.4, 5, 100.0),
        (102.5, 5, 105.0),
        (97.5, 5, 100.0),
        (-2.5, 5, 0.0),
        (1.144535, 0.00001, 1.14454),
        (1.1445449, 0.00001, 1.14454),
        (0.125, 0.25, 0.25),
    ],
)
def test_round_to_tick_half_up(price, tick, expected):
    assert round_to_tick(price, tick) == expected


@given(st.integers(-(10**7), 10**7), st.sampled_from([0.00001, 0.0001, 0.01, 0.25, 0.5, 5.0]))
def test_round_to_tick_is_nearest_decimal_float(n, tick):
    # A price already on the grid comes back as the float nearest its decimal value.
    # decimals of the tick ("1e-05" has no "." but 5 decimals): the 5-digit FX case rounds
    decimals = max(0, -Decimal(repr(tick)).as_tuple().exponent)  # type: ignore[operator]
    price = round(n * tick, decimals)
    assert round_to_tick(price, tick) == price


def test_snap_volume():
    assert WIN.snap_volume(2.9) == 2.0
    assert WIN.snap_volume(0.5) == 0.0
    assert EURUSD.snap_volume(0.137) == 0.13
    assert WIN.snap_volume(5000) == WIN.lot_max


def test_get_symbol():
    assert get_symbol("win$").name == "win$"
    assert get_symbol("WIN").tick_size == 5.0
    with pytest.raises(ConfigError, match="unknown symbol"):
        get_symbol("XYZ")


def test_invalid_spec():
    with pytest.raises(ConfigError):
        SymbolSpec(name="X", tick_size=0, tick_value=1)
