"""Pending orders in the engine (``copy_pending``), each case named after its fault."""

from __future__ import annotations

from typing import Any

import pytest

from mtponte.copy.engine import BookState, MasterOrder, MasterView, step
from mtponte.copy.engine._pending import order_price
from mtponte.copy.engine.model import MasterFacts, MasterPosition
from tests.copy.engine.helpers import STARTED, T0, follower, fx, pos, settings

ON = settings(copy_pending=True)


def order(ticket: str = "50", **kw: Any) -> MasterOrder:
    """A master buy limit of 1 lot EURUSD at 1.09000, no SL/TP, no expiry."""
    base: dict[str, Any] = dict(
        ticket=ticket, symbol="EURUSD", side="buy", order_type="limit", volume=1.0, price=1.09
    )
    base.update(kw)
    return MasterOrder(**base)


def mview(*orders: MasterOrder, positions: tuple[MasterPosition, ...] = ()) -> MasterView:
    return MasterView(positions=positions, orders=tuple(orders), facts=MasterFacts())


def go(m: MasterView, s: Any = ON, state: BookState = STARTED, f: Any = None, now: int = T0):
    return step(state, m, s, f if f is not None else follower(), now)


def test_pending_off_by_default_is_ignored() -> None:
    r = go(mview(order()), s=settings())
    assert r.targets == ()
    assert r.decisions == ()
    assert r.state.pendings == {}


def test_pending_on_places_a_pending_target_with_its_type_price_and_expiry() -> None:
    r = go(mview(order(sl=1.08, tp=1.1, expiry=T0 + 3600)))
    (t,) = r.targets
    assert (t.target_id, t.order_type, t.side, t.price, t.volume) == (
        "s1t50",
        "limit",
        "buy",
        1.09,
        1.0,
    )
    assert (t.sl, t.tp, t.expiry) == (1.08, 1.1, T0 + 3600)
    assert [(d.action, d.reason) for d in r.decisions] == [("place", "pending limit copied")]


def test_expiry_copied_and_followed_when_master_changes_it() -> None:
    r1 = go(mview(order(expiry=T0 + 60)))
    r2 = go(mview(order(expiry=T0 + 600)), state=r1.state)
    assert r2.targets[0].expiry == T0 + 600
    assert [d.action for d in r2.decisions] == ["modify"]


@pytest.mark.parametrize(
    ("side", "otype", "price", "want"),
    [
        ("buy", "limit", 1.090017, 1.09001),  # never a better fill than the master asked
        ("sell", "limit", 1.090011, 1.09002),
        ("buy", "stop", 1.090011, 1.09002),  # never an earlier trigger
        ("sell", "stop", 1.090017, 1.09001),
        ("buy", "limit", 1.09001, 1.09001),  # on the grid: unchanged
    ],
)
def test_price_rounded_to_follower_tick_toward_master_intent(
    side: str, otype: str, price: float, want: float
) -> None:
    assert order_price(side, otype, price, fx()) == pytest.approx(want, abs=1e-12)  # type: ignore[arg-type]
    r = go(mview(order(side=side, order_type=otype, price=price)))
    assert r.targets[0].price == pytest.approx(want, abs=1e-12)


def test_price_on_coarser_follower_grid_not_rounded_to_nearest() -> None:
    spec = fx(tick_size=0.0001, digits=4)
    assert order_price("buy", "limit", 1.09009, spec) == pytest.approx(1.09, abs=1e-12)


def test_lot_pipeline_skip_applies_to_pending() -> None:
    r = go(mview(order(volume=0.004)))
    assert r.targets == ()
    (d,) = r.decisions
    assert d.action == "skip" and d.reason.startswith("pending limit: ")
    assert "lot" in d.reason
    assert "50" in r.state.skipped


def test_pending_volume_through_multiplier_and_lot_step() -> None:
    r = go(mview(order(volume=0.37)), s=settings(copy_pending=True, volumeMultiplier=0.5))
    assert r.targets[0].volume == pytest.approx(0.18)


def test_symbol_mapping_and_filters_apply_to_pending() -> None:
    f = follower("EURUSD.pro")
    r = go(mview(order()), f=f)
    assert r.targets[0].symbol == "EURUSD.pro"
    blocked = settings(copy_pending=True, blockedSymbols=["EURUSD"])
    r2 = go(mview(order()), s=blocked, f=f)
    assert r2.targets == () and r2.decisions[0].action == "skip"


def test_sl_tp_mode_applies_to_pending() -> None:
    s = settings(copy_pending=True, slTpMode="fixed", slFixedPips=100, tpFixedPips=200)
    r = go(mview(order(sl=1.0, tp=1.2)), s=s)
    t = r.targets[0]
    assert (t.sl, t.tp) == (pytest.approx(1.089), pytest.approx(1.092))


def test_cancel_at_master_removes_the_pending_target() -> None:
    r1 = go(mview(order()))
    r2 = go(mview(), state=r1.state)
    assert r2.targets == ()
    assert [(d.action, d.reason) for d in r2.decisions] == [
        ("cancel", "cancelled or expired at the master")
    ]
    assert r2.state.pendings == {}


def test_master_modify_price_volume_sl_follows() -> None:
    r1 = go(mview(order()))
    r2 = go(mview(order(price=1.085, volume=2.0, sl=1.08)), state=r1.state)
    t = r2.targets[0]
    assert (t.target_id, t.price, t.volume, t.sl) == ("s1t50", 1.085, 2.0, 1.08)


def test_filled_pending_keeps_target_id_and_is_not_opened_twice() -> None:
    r1 = go(mview(order()))
    filled = pos("50", open_price=1.09)  # MT5 hedging: the position takes the order's ticket
    r2 = go(mview(positions=(filled,)), state=r1.state)
    (t,) = r2.targets
    assert t.target_id == "s1t50" and t.order_type is None and t.volume == 1.0
    assert [d.action for d in r2.decisions] == ["fill"]
    r3 = go(mview(positions=(filled,)), state=r2.state)
    assert r3.targets == r2.targets and r3.decisions == ()


def test_filled_pending_with_new_position_ticket_keeps_lineage() -> None:
    r1 = go(mview(order()))
    filled = pos("77", open_price=1.09, from_order="50")  # paper broker: a new ticket
    r2 = go(mview(positions=(filled,)), state=r1.state)
    (t,) = r2.targets
    assert t.target_id == "s1t50" and t.master_tickets == ("77",)
    assert [d.action for d in r2.decisions] == ["fill"]
    r3 = go(mview(), state=r2.state)  # the master closes it: the copy closes
    assert r3.targets == () and [d.action for d in r3.decisions] == ["close"]


def test_filled_pending_netting_joins_the_net_position() -> None:
    f = follower(netting=True)
    r1 = go(mview(order()), f=f)
    assert [t.target_id for t in r1.targets] == ["s1t50"]  # pendings never netted
    r2 = go(mview(positions=(pos("77", from_order="50"),)), state=r1.state, f=f)
    assert [(t.target_id, t.volume) for t in r2.targets] == [("s1nEURUSD", 1.0)]
    # the net target names the filled pending copy (a follower whose order filled first
    # knows it holds this copy already)
    assert r2.targets[0].sources == ("s1t50",)


def test_netting_net_target_sources_name_the_pending_copy_and_positions() -> None:
    f = follower(netting=True)
    r1 = go(mview(order(), positions=(pos("40"),)), f=f)
    assert [(t.target_id, t.sources) for t in r1.targets] == [
        ("s1nEURUSD", ("s1t40",)),
        ("s1t50", ()),
    ]
    both = (pos("40"), pos("77", from_order="50"))
    r2 = go(mview(positions=both), state=r1.state, f=f)
    assert [(t.target_id, t.sources) for t in r2.targets] == [("s1nEURUSD", ("s1t40", "s1t50"))]


def test_fill_of_a_skipped_pending_stays_skipped() -> None:
    r1 = go(mview(order(volume=0.004)))
    r2 = go(mview(positions=(pos("77", volume=0.004, from_order="50"),)), state=r1.state)
    assert r2.targets == ()
    assert "77" in r2.state.skipped


def test_pending_off_copies_the_fill_as_a_new_position() -> None:
    r = go(mview(order(), positions=(pos("77", from_order="50"),)), s=settings())
    assert [(t.target_id, t.order_type) for t in r.targets] == [("s1t77", None)]


def test_turning_pending_off_cancels_pending_copies() -> None:
    r1 = go(mview(order()))
    r2 = go(mview(order()), s=settings(), state=r1.state)
    assert r2.targets == ()
    assert [(d.action, d.reason) for d in r2.decisions] == [("cancel", "copy_pending turned off")]


def test_risk_stop_close_only_cancels_pending_copies() -> None:
    s = settings(copy_pending=True, enableRiskManagement=True, maxDailyLoss=100)
    r1 = go(mview(order()), s=s)
    r2 = go(mview(order()), s=s, state=r1.state, f=follower(daily_pnl=-200))
    assert r2.targets == ()
    assert "cancel" in [d.action for d in r2.decisions]


def test_invert_flips_side_and_type() -> None:
    r = go(mview(order()), s=settings(copy_pending=True, invert=True))
    t = r.targets[0]
    assert (t.side, t.order_type) == ("sell", "stop")


def test_stale_master_keeps_pending_targets() -> None:
    r1 = go(mview(order()))
    stale = MasterView(positions=(), orders=(), fresh=False)
    r2 = go(stale, state=r1.state)
    assert [t.target_id for t in r2.targets] == ["s1t50"]


def test_state_round_trips_with_pendings() -> None:
    r1 = go(mview(order(expiry=T0 + 5)))
    assert BookState.from_json(r1.state.to_json()) == r1.state


def test_position_targets_json_unchanged_by_pending_support() -> None:
    r = go(mview(positions=(pos("7"),)), s=settings())
    assert "order_type" not in r.targets[0].to_json()
