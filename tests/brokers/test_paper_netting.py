"""The paper broker's netting mode: one position per symbol, as MT5 nets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mtponte.brokers.paper import PaperBroker
from mtponte.domain import WIN, Bar, Side
from mtponte.errors import ConfigError


def netting() -> PaperBroker:
    b = PaperBroker(account_mode="netting")
    b.set_quote("WIN", 120_000, 120_005)
    return b


def test_default_mode_is_hedging_and_reported():
    b = PaperBroker()
    b.set_quote("WIN", 120_000, 120_005)
    assert b.account().account_mode == "hedging"
    b.market_order("WIN", Side.BUY, 1)
    b.market_order("WIN", Side.BUY, 1)
    assert len(b.positions()) == 2  # hedging: one ticket per entry, unchanged
    assert netting().account().account_mode == "netting"


def test_same_side_adds_volume_at_the_weighted_average_price_and_keeps_the_ticket():
    b = netting()
    first = b.market_order("WIN", Side.BUY, 1, sl=119_000.0, tp=121_000.0, comment="a")
    b.set_quote("WIN", 120_100, 120_105)
    second = b.market_order("WIN", Side.BUY, 2, sl=119_500.0, comment="b")
    (pos,) = b.positions()
    assert second.ticket == first.ticket == pos.ticket
    assert pos.volume == 3
    assert pos.open_price == pytest.approx((120_005 * 1 + 120_105 * 2) / 3)
    # MT5: the last order's SL/TP replace the position's; a missing level clears it
    assert (pos.sl, pos.tp) == (119_500.0, None)
    assert [d.entry for d in b.deals()] == ["in", "in"]
    assert {d.position for d in b.deals()} == {pos.ticket}


def test_opposite_order_reduces_then_closes():
    b = netting()
    opened = b.market_order("WIN", Side.BUY, 3, sl=119_000.0, tp=121_000.0)
    b.set_quote("WIN", 120_200, 120_205)
    red = b.market_order("WIN", Side.SELL, 1)
    (pos,) = b.positions()
    assert red.ok and red.ticket == opened.ticket == pos.ticket
    assert pos.volume == 2 and pos.open_price == 120_005
    assert (pos.sl, pos.tp) == (119_000.0, 121_000.0)  # a reduction keeps SL/TP
    out = b.deals()[-1]
    assert out.entry == "out" and out.profit == pytest.approx(WIN.money(195, 1))
    assert b.account().balance == pytest.approx(100_000 + WIN.money(195, 1))
    b.market_order("WIN", Side.SELL, 2)
    assert b.positions() == []
    assert b.account().balance == pytest.approx(100_000 + WIN.money(195, 3))


def test_larger_opposite_order_reverses_with_one_inout_deal():
    b = netting()
    opened = b.market_order("WIN", Side.BUY, 1, sl=119_000.0)
    b.set_quote("WIN", 119_900, 119_905)
    rev = b.market_order("WIN", Side.SELL, 3, sl=120_500.0, tp=119_000.0)
    (pos,) = b.positions()
    assert pos.side is Side.SELL and pos.volume == 2 and pos.open_price == 119_900
    assert (pos.sl, pos.tp) == (120_500.0, 119_000.0)
    # MT5: the reversed position takes the reversing order's ticket ...
    assert pos.ticket == rev.ticket == rev.order != opened.ticket
    deal = b.deals()[-1]
    assert deal.entry == "inout" and deal.volume == 3
    assert deal.profit == pytest.approx(WIN.money(-105, 1))
    # ... and keeps its identifier: every deal of the position carries it
    assert {d.position for d in b.deals()} == {opened.ticket}
    closed = b.close_position(pos.ticket)
    assert closed.ok and b.positions() == []
    assert b.deals()[-1].position == opened.ticket


def test_partial_close_reduces_the_volume_and_keeps_the_ticket():
    b = netting()
    opened = b.market_order("WIN", Side.SELL, 5, sl=121_000.0)
    assert opened.ticket is not None
    rep = b.close_position(opened.ticket, 2)
    (pos,) = b.positions()
    assert rep.ok and pos.ticket == opened.ticket and pos.volume == 3 and pos.sl == 121_000.0
    assert not b.close_position(opened.ticket, 4).ok  # more than is open


def test_pending_stop_fill_nets_into_the_open_position():
    b = netting()
    b.market_order("WIN", Side.BUY, 1)
    b.place_order("WIN", Side.SELL, "stop", 1, 119_800.0, sl=120_300.0)
    reps = b.on_bar(
        "WIN", Bar(datetime(2024, 3, 4, 12, tzinfo=UTC), 120_000, 120_010, 119_700, 119_750)
    )
    assert reps[0].ok and b.positions() == []  # the triggered stop flattened the long
    assert [d.entry for d in b.deals()] == ["in", "out"]


def test_state_file_keeps_its_mode(tmp_path):
    path = tmp_path / "paper.sqlite"
    PaperBroker(path, account_mode="netting").close()
    with pytest.raises(ConfigError, match="netting"):
        PaperBroker(path)  # default hedging on a netting account
    with pytest.raises(ConfigError):
        PaperBroker(account_mode="exchange")  # type: ignore[arg-type]
