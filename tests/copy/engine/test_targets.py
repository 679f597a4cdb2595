"""Targets: one per copy for hedging followers, the net per symbol for netting ones."""

from __future__ import annotations

from typing import Any

import pytest

from mtponte.copy.engine import BookState, Copy, Target, targets_of
from tests.copy.engine.helpers import follower, one, pos, settings, view


def cp(ticket: str, **kw: Any) -> Copy:
    base: dict[str, Any] = dict(
        target_id=f"p1t{ticket}",
        master_ticket=ticket,
        symbol="EURUSD",
        side="buy",
        volume=0.1,
        volume0=0.1,
        master_volume0=1.0,
        sl=None,
        tp=None,
    )
    base.update(kw)
    return Copy(**base)


def book(*copies: Copy) -> BookState:
    return BookState(prefix="p1", copies={c.master_ticket: c for c in copies}, started=True)


# (copies, expected netting targets as (id, symbol, side, volume, sl, tp, entry, price, tickets))
NET_CASES: list[tuple[Any, ...]] = [
    (
        [cp("1", volume=0.1), cp("2", volume=0.2)],
        [("p1nEURUSD", "EURUSD", "buy", 0.3, None, None, "market", 0.0, ("1", "2"))],
    ),
    ([cp("1", volume=0.2), cp("2", side="sell", volume=0.2)], []),
    (
        [cp("1", volume=0.1), cp("2", side="sell", volume=0.3)],
        [("p1nEURUSD", "EURUSD", "sell", 0.2, None, None, "market", 0.0, ("1", "2"))],
    ),
    (
        [cp("1", sl=1.09, tp=1.2), cp("2", sl=1.09, tp=1.3)],
        [("p1nEURUSD", "EURUSD", "buy", 0.2, 1.09, None, "market", 0.0, ("1", "2"))],
    ),
    (
        [cp("1", sl=1.09, tp=1.2), cp("2", sl=1.08, tp=1.2)],
        [("p1nEURUSD", "EURUSD", "buy", 0.2, None, 1.2, "market", 0.0, ("1", "2"))],
    ),
    (
        [cp("1", entry="limit", price=1.1), cp("2", entry="limit", price=1.1)],
        [("p1nEURUSD", "EURUSD", "buy", 0.2, None, None, "limit", 1.1, ("1", "2"))],
    ),
    (
        [cp("1", entry="limit", price=1.1), cp("2", entry="limit", price=1.2)],
        [("p1nEURUSD", "EURUSD", "buy", 0.2, None, None, "market", 0.0, ("1", "2"))],
    ),
    (
        [cp("1", entry="limit", price=1.1), cp("2", price=1.1)],
        [("p1nEURUSD", "EURUSD", "buy", 0.2, None, None, "market", 0.0, ("1", "2"))],
    ),
    (
        [cp("10", symbol="GBPUSD"), cp("9"), cp("2", symbol="GBPUSD", side="sell", volume=0.05)],
        [
            ("p1nEURUSD", "EURUSD", "buy", 0.1, None, None, "market", 0.0, ("9",)),
            ("p1nGBPUSD", "GBPUSD", "buy", 0.05, None, None, "market", 0.0, ("10", "2")),
        ],
    ),
    (
        [cp("1", volume=0.7), cp("2", side="sell", volume=0.1), cp("3", side="sell", volume=0.2)],
        [("p1nEURUSD", "EURUSD", "buy", 0.4, None, None, "market", 0.0, ("1", "2", "3"))],
    ),
]
NET_IDS = [
    "netting_two_master_positions_one_net",
    "netting_opposite_sides_cancel",
    "netting_net_side_by_sign",
    "netting_sl_common_tp_differs_dropped",
    "netting_sl_differs_dropped_tp_common_kept",
    "netting_all_limits_same_price_limit",
    "netting_limits_different_prices_market",
    "netting_limit_and_market_market",
    "netting_per_symbol_sorted_by_target_id",
    "netting_float_noise_rounded",
]


@pytest.mark.parametrize(("copies", "expected"), NET_CASES, ids=NET_IDS)
def test_netting(copies: list[Copy], expected: list[tuple[Any, ...]]) -> None:
    got = targets_of(book(*copies), netting=True)
    assert [
        (t.target_id, t.symbol, t.side, t.volume, t.sl, t.tp, t.entry, t.price, t.master_tickets)
        for t in got
    ] == expected


def test_netting_sources_are_the_netted_copies_target_ids_sorted() -> None:
    copies = [
        cp("10", symbol="GBPUSD"),
        cp("9"),
        cp("2", symbol="GBPUSD", side="sell", volume=0.05),
    ]
    got = targets_of(book(*copies), netting=True)
    assert [(t.target_id, t.sources) for t in got] == [
        ("p1nEURUSD", ("p1t9",)),
        ("p1nGBPUSD", ("p1t10", "p1t2")),
    ]


def test_hedging_targets_have_no_sources_and_keep_their_json() -> None:
    (t,) = targets_of(book(cp("9")), netting=False)
    assert t.sources == ()
    assert "sources" not in t.to_json()


def test_net_target_json_round_trip_with_sources() -> None:
    (t,) = targets_of(book(cp("1"), cp("2")), netting=True)
    assert t.to_json()["sources"] == ["p1t1", "p1t2"]
    assert Target.from_json(t.to_json()) == t


def test_target_json_without_sources_loads_with_no_sources() -> None:
    # a book stored before net targets named their copies
    (t,) = targets_of(book(cp("1"), cp("2")), netting=True)
    old = {k: v for k, v in t.to_json().items() if k != "sources"}
    assert Target.from_json(old).sources == ()


def test_netting_max_deviation_zero_if_any_copy_unchecked() -> None:
    got = targets_of(book(cp("1", max_deviation_points=20), cp("2")), netting=True)
    assert got[0].max_deviation_points == 0
    got = targets_of(book(cp("1", max_deviation_points=20), cp("2", max_deviation_points=30)), True)
    assert got[0].max_deviation_points == 30


def test_hedging_one_target_per_copy_sorted() -> None:
    copies = [
        cp("10", side="sell", sl=1.2, entry="limit", price=1.15, max_deviation_points=5),
        cp("9"),
    ]
    got = targets_of(book(*copies), netting=False)
    assert got == (
        Target("p1t10", "EURUSD", "sell", 0.1, 1.2, None, "limit", 1.15, 5, ("10",)),
        Target("p1t9", "EURUSD", "buy", 0.1, None, None, "market", 0.0, 0, ("9",)),
    )


def test_step_uses_follower_netting_mode() -> None:
    m = view(pos("1", volume=1.0), pos("2", volume=0.5, side="sell"))
    r = one(m, settings(), follower(netting=True))
    assert [(t.target_id, t.side, t.volume) for t in r.targets] == [("s1nEURUSD", "buy", 0.5)]
    assert set(r.state.copies) == {"1", "2"}


def test_netting_partial_close_reduces_net() -> None:
    f = follower(netting=True)
    first = one(view(pos("1", volume=1.0), pos("2", volume=1.0)), f=f)
    r = one(view(pos("1", volume=1.0), pos("2", volume=0.4)), f=f, state=first.state)
    assert [(t.side, t.volume) for t in r.targets] == [("buy", 1.4)]


def test_target_json_round_trip() -> None:
    t = Target("p1t10", "EURUSD", "sell", 0.1, 1.2, None, "limit", 1.15, 5, ("10",))
    assert Target.from_json(t.to_json()) == t
