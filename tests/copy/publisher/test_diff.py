"""The pure diff on tables of cases, each named after the fault it prevents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mtponte.copy.publisher import Change, Pos, diff, select, to_pos
from mtponte.domain.orders import Position
from mtponte.domain.side import Side


def P(ticket="1", volume=1.0, sl=None, tp=None, side="buy", symbol="EURUSD", price=1.1):
    return Pos(str(ticket), symbol, side, volume, price, sl, tp, 1_700_000_000)


def book(*ps: Pos) -> dict[str, Pos]:
    return {p.ticket: p for p in ps}


def kinds(d) -> list[tuple[str, str]]:
    return [(c.kind, c.ticket) for c in d.changes]


def test_new_ticket_is_an_open_with_side_volume_price_and_levels():
    d = diff({}, book(P(7, 0.3, sl=1.09, tp=1.2, side="sell")))
    assert d.changes == (Change("open", "7", "EURUSD", "sell", 0.3, 1.1, 1.09, 1.2),)
    assert not d.snapshot_needed


def test_gone_ticket_is_a_close():
    d = diff(book(P(7)), {})
    assert d.changes == (Change("close", "7", "EURUSD", "buy"),)


@pytest.mark.parametrize(
    ("before", "after", "closed"),
    [(1.0, 0.4, 0.6), (0.3, 0.1, 0.2), (0.03, 0.01, 0.02), (5.0, 1.0, 4.0)],
)
def test_partial_close_volume_is_the_closed_part(before, after, closed):
    d = diff(book(P(1, before)), book(P(1, after)))
    (c,) = d.changes
    assert (c.kind, c.volume) == ("partial_close", closed)
    assert repr(c.volume) == repr(closed)  # no 0.19999999999999998 on the wire


def test_volume_float_noise_is_not_a_partial_close():
    assert diff(book(P(1, 0.1 + 0.2)), book(P(1, 0.3))).empty


def test_volume_increase_gives_no_event_but_asks_for_a_snapshot():
    d = diff(book(P(1, 1.0)), book(P(1, 3.0, price=1.2)))
    assert d.changes == () and d.snapshot_needed


@pytest.mark.parametrize(
    ("old", "new", "sent"),
    [
        ((None, None), (1.09, None), (1.09, None)),
        ((1.09, 1.2), (1.08, 1.2), (1.08, 1.2)),  # the unchanged TP is repeated
        ((1.09, 1.2), (1.09, 1.3), (1.09, 1.3)),
    ],
)
def test_sl_or_tp_change_is_one_modify_with_both_current_levels(old, new, sent):
    d = diff(book(P(1, sl=old[0], tp=old[1])), book(P(1, sl=new[0], tp=new[1])))
    (c,) = d.changes
    assert (c.kind, c.sl, c.tp) == ("modify", *sent)
    assert not d.snapshot_needed


def test_removed_sl_keeps_the_tp_in_the_modify_and_asks_for_a_snapshot():
    d = diff(book(P(1, sl=1.09, tp=1.2)), book(P(1, sl=None, tp=1.2)))
    (c,) = d.changes
    assert (c.kind, c.sl, c.tp) == ("modify", None, 1.2)
    assert d.snapshot_needed  # a modify cannot say "no SL": the snapshot does


def test_removed_both_levels_gives_no_event_but_a_snapshot():
    d = diff(book(P(1, sl=1.09, tp=1.2)), book(P(1)))
    assert d.changes == () and d.snapshot_needed


def test_netting_reversal_on_one_ticket_is_a_close_then_an_open():
    d = diff(book(P(1, 1.0, side="buy")), book(P(1, 0.5, side="sell")))
    assert kinds(d) == [("close", "1"), ("open", "1")]
    assert d.changes[1].volume == 0.5 and d.changes[1].side == "sell"


def test_partial_close_and_sl_change_together_give_both():
    d = diff(book(P(1, 1.0, sl=1.0)), book(P(1, 0.5, sl=1.05)))
    assert kinds(d) == [("partial_close", "1"), ("modify", "1")]


def test_reductions_go_before_modifies_before_opens_in_ticket_order():
    before = book(P(1), P(2, 1.0), P(3, sl=1.0), P(10))
    after = book(P(2, 0.5), P(3, sl=1.01), P(4), P(9))
    assert kinds(diff(before, after)) == [
        ("close", "1"),
        ("partial_close", "2"),
        ("close", "10"),
        ("modify", "3"),
        ("open", "4"),
        ("open", "9"),
    ]


def test_unchanged_set_gives_nothing():
    b = book(P(1, sl=1.0, tp=1.3), P(2))
    assert diff(b, dict(b)).empty


def test_open_price_drift_alone_is_no_event():
    assert diff(book(P(1, price=1.1)), book(P(1, price=1.1000001))).empty


def pos(ticket, magic=0, symbol="EURUSD", sl=None, tp=None, volume=1.0):
    return Position(
        str(ticket), symbol, Side.BUY, volume, 1.1, datetime(2026, 1, 1, tzinfo=UTC), sl, tp, magic
    )


def test_positions_of_other_magics_and_symbols_are_never_published():
    ps = [pos(1, 7), pos(2, 8), pos(3, 7, "GBPUSD"), pos(4, 0)]
    assert list(select(ps, [7], None)) == ["1", "3"]
    assert list(select(ps, [7], ["EURUSD"])) == ["1"]
    assert list(select(ps, None, ["GBPUSD"])) == ["3"]
    assert list(select(ps)) == ["1", "2", "3", "4"]


def test_a_zero_level_from_the_broker_is_no_level():
    p = to_pos(pos("00042", sl=0.0, tp=0.0))
    assert (p.ticket, p.sl, p.tp, p.side) == ("42", None, None, "buy")
    assert p.open_time == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def test_pos_json_round_trip():
    p = P(5, 0.25, sl=1.0)
    assert Pos.from_json(p.as_json()) == p
    assert "tp" not in p.as_json()
