"""The publisher's pending orders: place / modify / cancel events, fills linked to their
order (paper: a new position ticket; MT5: the order's ticket), snapshots with orders."""

from __future__ import annotations

from datetime import UTC, datetime

from mtponte.copy.publisher._diff import Pos, diff
from mtponte.copy.server.models import Account, Snapshot
from mtponte.copy.server.service import current_book
from mtponte.domain.bars import Bar
from mtponte.domain.side import Side
from tests.copy.publisher.conftest import Rig

T0 = 1_800_000_000.0


def _full_book(rig: Rig) -> list[dict]:
    app = rig.world.client.app
    with app.state.sessions() as s:  # type: ignore[attr-defined]
        return current_book(s, s.get(Account, rig.world.master_id), pending=True)[1]


def _kinds(rig: Rig) -> list[tuple[str, str]]:
    return [(e.kind, e.ticket) for e in rig.events()]


def test_place_modify_cancel_reach_the_server_in_order(rig: Rig) -> None:
    pub = rig.publisher()
    b = rig.broker
    exp = datetime(2027, 1, 1, tzinfo=UTC)
    o = b.place_order("EURUSD", Side.BUY, "limit", 0.5, 1.09, sl=1.08, expiry=exp).order
    assert o is not None
    pub.poll_once(T0)
    (entry,) = _full_book(rig)
    assert (entry["order_type"], entry["open_price"], entry["expiry"]) == (
        "limit",
        1.09,
        int(exp.timestamp()),
    )
    assert rig.book() == []  # readers of positions never see an order
    b.cancel_order(o)
    o2 = b.place_order("EURUSD", Side.BUY, "limit", 0.5, 1.085, sl=1.08).order
    assert o2 is not None
    pub.poll_once(T0 + 1)
    b.cancel_order(o2)
    pub.poll_once(T0 + 2)
    assert _kinds(rig) == [
        ("pending_place", o),
        ("pending_cancel", o),
        ("pending_place", o2),
        ("pending_cancel", o2),
    ]
    assert _full_book(rig) == []


def test_a_fill_is_an_open_from_its_order_not_a_cancel(rig: Rig) -> None:
    pub = rig.publisher()
    b = rig.broker
    o = b.place_order("EURUSD", Side.BUY, "limit", 0.5, 1.095).order
    pub.poll_once(T0)
    b.on_bar("EURUSD", Bar(datetime(2027, 1, 4, tzinfo=UTC), 1.1, 1.1, 1.094, 1.096))
    (p,) = b.positions()
    assert p.ticket != o  # the paper broker gives the position a new ticket
    pub.poll_once(T0 + 1)
    evs = rig.events()
    assert [(e.kind, e.ticket) for e in evs] == [("pending_place", o), ("open", p.ticket)]
    assert evs[1].payload["from_order"] == o
    (entry,) = _full_book(rig)
    assert entry["ticket"] == p.ticket and entry["from_order"] == o
    app = rig.world.client.app
    with app.state.sessions() as s:  # type: ignore[attr-defined]
        snap = s.get(Snapshot, rig.world.master_id)
        assert [(x["ticket"], x.get("from_order")) for x in snap.positions] == [(p.ticket, o)]


def test_snapshot_carries_orders_and_the_fill_link(rig: Rig) -> None:
    pub = rig.publisher()
    b = rig.broker
    o = b.place_order("EURUSD", Side.SELL, "stop", 0.2, 1.09).order
    pub.poll_once(T0)
    app = rig.world.client.app
    with app.state.sessions() as s:  # type: ignore[attr-defined]
        snap = s.get(Snapshot, rig.world.master_id)
        assert [(x["ticket"], x.get("order_type")) for x in snap.positions] == [(o, "stop")]


def test_pending_off_publishes_no_orders(rig: Rig) -> None:
    pub = rig.publisher(pending=False)
    rig.broker.place_order("EURUSD", Side.BUY, "limit", 0.5, 1.09)
    pub.poll_once(T0)
    assert rig.events() == []


def _order(ticket: str, **kw: object) -> Pos:
    base: dict = dict(
        ticket=ticket,
        symbol="EURUSD",
        side="buy",
        volume=1.0,
        open_price=1.09,
        order_type="limit",
    )
    base.update(kw)
    return Pos(**base)


def test_diff_same_ticket_order_to_position_is_an_open_from_the_order() -> None:
    before = {"5": _order("5")}
    after = {"5": Pos("5", "EURUSD", "buy", 1.0, 1.09, from_order="5")}
    (c,) = diff(before, after).changes
    assert (c.kind, c.from_order) == ("open", "5")


def test_diff_order_change_of_each_field_is_one_pending_modify() -> None:
    for kw in ({"open_price": 1.08}, {"volume": 2.0}, {"sl": 1.0}, {"tp": 1.2}, {"expiry": 9}):
        (c,) = diff({"5": _order("5")}, {"5": _order("5", **kw)}).changes
        assert c.kind == "pending_modify" and c.order_type == "limit", kw


def test_diff_order_type_change_is_cancel_then_place() -> None:
    d = diff({"5": _order("5")}, {"5": _order("5", order_type="stop")})
    assert [c.kind for c in d.changes] == ["pending_cancel", "pending_place"]
