"""The Python follower's pending orders (``copy_pending`` targets) over paper brokers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.follower import Follower, FollowerOptions
from mtponte.copy.follower._ledger import load_ledger, save_ledger
from mtponte.domain import Side
from mtponte.domain.bars import Bar
from tests.copy.follower.test_follower import MAGIC, FakeLink, T, broker

EXP = 4_000_000_000
# The net target once the master's order filled too: it nets the pending copy s1t50.
NET = T("s1nEURUSD.pro", volume=0.1, master_tickets=("51",), sources=("s1t50",))


def P(tid: str, price: float = 1.095, **kw) -> T:  # type: ignore[valid-type]
    """A pending buy limit target of 0.1 lots."""
    kw.setdefault("order_type", "limit")
    return T(tid, price=price, **kw)


def orders(b: PaperBroker) -> list[tuple[str, str, int, float, float]]:
    return sorted((o.comment, o.order_type, int(o.side), o.volume, o.price) for o in b.orders())


def positions(b: PaperBroker) -> list[tuple[str, int, float]]:
    return sorted((p.comment, int(p.side), p.volume) for p in b.positions())


def fill_down(b: PaperBroker, low: float = 1.094, n: int = 0) -> None:
    """A bar that trades down to ``low`` (fills buy limits above it)."""
    b.on_bar("EURUSD.pro", Bar(datetime(2027, 1, 4, n, tzinfo=UTC), 1.1, 1.1, low, 1.1))
    b.set_quote("EURUSD.pro", 1.10000, 1.10002)


def make(tmp_path, mode: str = "hedging") -> tuple[PaperBroker, FakeLink, Follower]:
    b = broker(mode)
    link = FakeLink()
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f.start()
    return b, link, f


@pytest.fixture(params=["hedging", "netting"])
def world(request, tmp_path):
    return make(tmp_path, request.param)


def test_places_a_pending_target_once_with_tag_magic_and_expiry(world) -> None:
    b, link, f = world
    link.set(P("s1t50", sl=1.09, expiry=EXP))
    f.cycle()
    f.cycle()
    (o,) = b.orders()
    assert (o.comment, o.magic, o.order_type, o.price, o.sl) == (
        "mtp:s1t50",
        MAGIC,
        "limit",
        1.095,
        1.09,
    )
    assert o.expiry == datetime.fromtimestamp(EXP, UTC)
    assert b.positions() == []
    assert [r["action"] for r in link.reports] == ["place"]
    assert link.reports[0]["status"] == "copied"


def test_a_changed_order_is_cancelled_then_placed_again(world) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    link.set(P("s1t50", price=1.093, volume=0.2))
    r1 = f.cycle()
    assert [a.kind for a in r1.actions] == ["cancel"]
    assert b.orders() == []
    f.cycle()
    assert orders(b) == [("mtp:s1t50", "limit", 1, 0.2, 1.093)]


def test_cancelled_at_the_master_cancels_ours(world) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    link.set()
    f.cycle()
    assert b.orders() == [] and b.positions() == []


def test_own_fill_first_then_master_fill_is_one_position(world) -> None:
    b, link, f = world
    netting = world[2]._netting
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)  # ours fills before the master's
    assert b.orders() == []
    f.cycle()
    f.cycle()
    assert [v for _, _, v in positions(b)] == [0.1]  # not placed again, not reduced
    # the master's fills: hedging keeps the target id; netting nets it per symbol
    link.set(T("s1nEURUSD.pro", volume=0.1) if netting else T("s1t50", price=1.095))
    f.cycle()
    f.cycle()
    assert [(s, v) for _, s, v in positions(b)] == [(1, 0.1)]
    assert b.orders() == []


def test_master_fill_first_cancels_ours_then_opens_once(world) -> None:
    b, link, f = world
    netting = world[2]._netting
    link.set(P("s1t50"))
    f.cycle()
    link.set(NET if netting else T("s1t50", price=1.095))
    r1 = f.cycle()
    assert [a.kind for a in r1.actions] == ["cancel"]  # never a deal in the same pass
    f.cycle()
    f.cycle()
    assert [(s, v) for _, s, v in positions(b)] == [(1, 0.1)]
    assert b.orders() == []


def test_fill_here_closed_by_hand_before_master_fill_not_reopened(tmp_path) -> None:
    b, link, f = make(tmp_path)
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)
    (p,) = b.positions()
    b.close_position(p.ticket)
    f.cycle()
    assert b.orders() == [] and b.positions() == []
    link.set(T("s1t50", price=1.095))
    f.cycle()
    assert b.positions() == []


def test_restart_reconciles_pending_without_duplicates(tmp_path) -> None:
    path = tmp_path / "acct.db"
    b = PaperBroker(path, symbols=[broker().symbols()["EURUSD.pro"]], account_mode="hedging")
    b.set_quote("EURUSD.pro", 1.10000, 1.10002)
    link = FakeLink()
    link.set(P("s1t50"), P("s1t51", price=1.096, side="buy"))
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f.start()
    f.cycle()
    f2 = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f2.start()
    f2.cycle()
    assert [c for c, *_ in orders(b)] == ["mtp:s1t50", "mtp:s1t51"]


def test_orders_not_ours_are_never_touched(world) -> None:
    b, link, f = world
    b.place_order("EURUSD.pro", Side.BUY, "limit", 0.3, 1.08, comment="manual")
    b.place_order("EURUSD.pro", Side.BUY, "limit", 0.3, 1.08, magic=MAGIC + 1, comment="mtp:x")
    link.set(P("s1t50"))
    f.cycle()
    link.set()
    f.cycle()
    assert sorted(o.comment for o in b.orders()) == ["manual", "mtp:x"]


def test_an_expired_pending_target_is_not_placed(tmp_path) -> None:
    b = broker()
    link = FakeLink()
    opts = FollowerOptions(magic=MAGIC, state_dir=tmp_path)
    f = Follower(b, link, opts, name="f1", clock=lambda: float(EXP))
    f.start()
    link.set(P("s1t50", expiry=EXP))
    f.cycle()
    assert b.orders() == []
    assert [(r["action"], r["reason"]) for r in link.reports] == [("skip", "pending order expired")]


def restart(b: PaperBroker, link: FakeLink, tmp_path) -> Follower:
    """A new follower process on the same account and state folder (ledger reloaded)."""
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f.start()
    return f


def close_by_hand(b: PaperBroker) -> None:
    (p,) = b.positions()
    assert p.comment == "mtp:s1t50"  # the fill of our pending order
    b.close_position(p.ticket)


@pytest.mark.parametrize("restart_at", ["none", "after_fill", "after_master_fill"])
def test_netting_fill_here_master_fill_then_closed_by_hand_not_reopened(
    tmp_path, restart_at: str
) -> None:
    b, link, f = make(tmp_path, "netting")
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)  # ours fills first
    f.cycle()
    if restart_at == "after_fill":
        f = restart(b, link, tmp_path)
    link.set(NET)  # the master's fills: our position holds the net target already
    r = f.cycle()
    assert [a.kind for a in r.actions] == []
    assert positions(b) == [("mtp:s1t50", 1, 0.1)]
    if restart_at == "after_master_fill":
        f = restart(b, link, tmp_path)
    close_by_hand(b)
    r = f.cycle()
    f.cycle()
    assert b.positions() == [] and b.orders() == []
    assert [(a.kind, a.reason) for a in r.actions] == [
        ("skip", "closed outside the follower (by hand, SL or TP)")
    ]


@pytest.mark.parametrize("restart_at", ["none", "after_close", "after_master_fill"])
def test_netting_fill_here_closed_by_hand_before_master_fill_not_reopened(
    tmp_path, restart_at: str
) -> None:
    b, link, f = make(tmp_path, "netting")
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)
    f.cycle()
    close_by_hand(b)
    f.cycle()
    assert b.positions() == [] and b.orders() == []  # not placed again
    if restart_at == "after_close":
        f = restart(b, link, tmp_path)
    link.set(NET)
    if restart_at == "after_master_fill":
        f = restart(b, link, tmp_path)
    r = f.cycle()
    f.cycle()
    assert b.positions() == [] and b.orders() == []
    assert [a.kind for a in r.actions] == ["skip"]


def test_netting_fill_closed_by_hand_reopened_when_configured(tmp_path) -> None:
    b = broker("netting")
    link = FakeLink()
    opts = FollowerOptions(magic=MAGIC, state_dir=tmp_path, reopen_closed_by_hand=True)
    f = Follower(b, link, opts, name="f1")
    f.start()
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)
    f.cycle()
    link.set(NET)
    f.cycle()
    close_by_hand(b)
    f.cycle()
    assert positions(b) == [("mtp:s1nEURUSD.pro", 1, 0.1)]


def test_netting_fill_joins_a_net_position_held_then_the_user_closes_it(tmp_path) -> None:
    # the symbol's net target exists already (a master position); our pending fills
    # into the net position, then the master's: one position, never reopened by hand
    b, link, f = make(tmp_path, "netting")
    held = T("s1nEURUSD.pro", volume=0.1, master_tickets=("40",), sources=("s1t40",))
    link.set(held, P("s1t50"))
    f.cycle()
    fill_down(b)
    f.cycle()
    assert [v for *_, v in positions(b)] == [0.2]
    both = ("s1t40", "s1t50")
    link.set(T("s1nEURUSD.pro", volume=0.2, master_tickets=("40", "51"), sources=both))
    assert [a.kind for a in f.cycle().actions] == []
    (p,) = b.positions()
    b.close_position(p.ticket)
    f.cycle()
    assert b.positions() == []


def test_netting_fills_forgotten_when_no_target_names_them(tmp_path) -> None:
    b, link, f = make(tmp_path, "netting")
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)
    f.cycle()
    link.set(NET)
    f.cycle()
    assert "s1t50" in f.ledger.fills and "s1nEURUSD.pro" in f.ledger.opened
    link.set()  # the master closes: ours is closed, the fill and the target forgotten
    f.cycle()
    f.cycle()
    assert b.positions() == []
    assert f.ledger.fills == set() and f.ledger.opened == set()
    assert load_ledger(tmp_path / "ledger-f1.json").fills == set()
    f = restart(b, link, tmp_path)  # relearns fills from the history, forgets them again
    f.cycle()
    assert f.ledger.fills == set() and b.positions() == []


def test_ledger_without_fills_loads(tmp_path) -> None:
    path = tmp_path / "ledger-f1.json"
    path.write_text('{"opened":["s1t9"],"tickets":{"s1t9":["5"]}}', encoding="utf-8")
    ledger = load_ledger(path)
    assert (ledger.opened, ledger.tickets, ledger.fills) == ({"s1t9"}, {"s1t9": {"5"}}, set())
    ledger.fills.add("s1t50")
    save_ledger(path, ledger)
    assert load_ledger(path) == ledger


# ----------------------------------------------------------------- cancelled outside
OUTSIDE = "pending order cancelled outside the follower"


def cancel_by_hand(b: PaperBroker) -> None:
    (o,) = b.orders()
    assert o.comment == "mtp:s1t50"
    assert b.cancel_order(o.ticket).ok


def follower(b: PaperBroker, link: FakeLink, tmp_path, **kw) -> Follower:
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path, **kw), name="f1")
    f.start()
    return f


@pytest.mark.parametrize("restart_at", ["none", "after_cancel", "after_skip"])
def test_an_order_cancelled_by_hand_is_not_placed_again(world, tmp_path, restart_at) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    assert load_ledger(tmp_path / "ledger-f1.json").placed == {"s1t50"}
    cancel_by_hand(b)
    if restart_at == "after_cancel":
        f = follower(b, link, tmp_path)
    r = f.cycle()
    assert [(a.kind, a.reason) for a in r.actions] == [("skip", OUTSIDE)]
    if restart_at == "after_skip":
        f = follower(b, link, tmp_path)
    f.cycle()
    link.set(P("s1t50", price=1.093, volume=0.2))  # changed at the master: still not placed
    f.cycle()
    f.cycle()
    assert b.orders() == [] and b.positions() == []
    assert [(x["action"], x["reason"]) for x in link.reports][-1] == ("skip", OUTSIDE)
    assert {x["action"] for x in link.reports} == {"place", "skip"}


def test_an_order_cancelled_by_hand_is_placed_again_when_configured(world, tmp_path) -> None:
    b, link, _ = world
    f = follower(b, link, tmp_path, reopen_closed_by_hand=True)
    link.set(P("s1t50"))
    f.cycle()
    cancel_by_hand(b)
    assert [a.kind for a in f.cycle().actions] == ["place"]
    assert orders(b) == [("mtp:s1t50", "limit", 1, 0.1, 1.095)]
    assert f.ledger.placed == {"s1t50"}


def test_our_replace_survives_a_restart_between_cancel_and_place(world, tmp_path) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    link.set(P("s1t50", price=1.093))
    assert [a.kind for a in f.cycle().actions] == ["cancel"]
    assert load_ledger(tmp_path / "ledger-f1.json").placed == set()  # our own cancel
    f = follower(b, link, tmp_path)
    assert [a.kind for a in f.cycle().actions] == ["place"]
    assert orders(b) == [("mtp:s1t50", "limit", 1, 0.1, 1.093)]


def test_an_order_placed_before_a_crash_is_recorded_from_the_account(world, tmp_path) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    save_ledger(tmp_path / "ledger-f1.json", type(f.ledger)())  # the record was lost
    f = follower(b, link, tmp_path)
    assert f.cycle().actions == []
    assert f.ledger.placed == {"s1t50"}
    cancel_by_hand(b)
    assert [a.reason for a in f.cycle().actions] == [OUTSIDE]


def test_a_cancel_whose_answer_is_lost_never_places_twice(world, tmp_path) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    real = b.cancel_order

    def lost(ticket: str):  # the order is cancelled, the answer lost
        real(ticket)
        return type(real(ticket))(False, 10012, "request timed out")

    b.cancel_order = lost  # type: ignore[method-assign]
    link.set(P("s1t50", price=1.093))
    f.cycle()
    b.cancel_order = real  # type: ignore[method-assign]
    assert b.orders() == []
    assert [(a.kind, a.reason) for a in f.cycle().actions] == [("skip", OUTSIDE)]
    assert b.orders() == []


def test_cancelled_at_the_master_places_nothing(world, tmp_path) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    link.set()
    assert [a.kind for a in f.cycle().actions] == ["cancel"]
    assert f.ledger.placed == set()
    f.cycle()
    assert b.orders() == [] and b.positions() == []
    assert [x["action"] for x in link.reports] == ["place", "cancel"]


@pytest.mark.parametrize("reopen", [False, True])
def test_an_order_expired_at_the_broker_is_not_placed_again(tmp_path, reopen) -> None:
    b = broker()
    link = FakeLink()
    opts = FollowerOptions(magic=MAGIC, state_dir=tmp_path, reopen_closed_by_hand=reopen)
    clock = [float(EXP - 3600)]
    f = Follower(b, link, opts, name="f1", clock=lambda: clock[0])
    f.start()
    link.set(P("s1t50", expiry=EXP))
    f.cycle()
    assert len(b.orders()) == 1
    # the broker's clock runs ahead: its bar at the expiry removes the order while
    # ours is 30 s short of it
    clock[0] = float(EXP - 30)
    b.on_bar("EURUSD.pro", Bar(datetime.fromtimestamp(EXP, UTC), 1.1, 1.1, 1.099, 1.1))
    assert b.orders() == []
    f.cycle()
    clock[0] = float(EXP + 1)
    f.cycle()
    assert b.orders() == [] and b.positions() == []
    assert [x["action"] for x in link.reports] == ["place", "skip"]


# --------------------------------------------- cancelled outside, then the master fills
CLOSED = "closed outside the follower (by hand, SL or TP)"


def master_fills(link: FakeLink, netting: bool) -> None:
    """The master's order fills: hedging keeps the id, netting lists it in ``sources``."""
    link.set(NET if netting else T("s1t50", price=1.095))


@pytest.mark.parametrize("restart_at", ["none", "after_cancel", "after_master_fill"])
def test_cancelled_by_hand_then_master_fill_is_not_opened(world, tmp_path, restart_at) -> None:
    b, link, f = world
    netting = f._netting
    link.set(P("s1t50"))
    f.cycle()
    cancel_by_hand(b)
    assert [a.reason for a in f.cycle().actions] == [OUTSIDE]
    if restart_at == "after_cancel":
        f = follower(b, link, tmp_path)
    master_fills(link, netting)
    if restart_at == "after_master_fill":
        f = follower(b, link, tmp_path)
    r = f.cycle()
    f.cycle()
    assert b.positions() == [] and b.orders() == []
    assert [(a.kind, a.reason) for a in r.actions] == [("skip", CLOSED)]
    f = follower(b, link, tmp_path)  # the ledger keeps it
    f.cycle()
    assert b.positions() == [] and b.orders() == []


def test_cancelled_by_hand_and_master_fill_in_one_gap_is_not_opened(world, tmp_path) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    cancel_by_hand(b)  # no cycle sees the cancel: the master's fill comes with it
    master_fills(link, f._netting)
    assert [(a.kind, a.reason) for a in f.cycle().actions] == [("skip", CLOSED)]
    assert b.positions() == [] and b.orders() == []


def test_filled_here_and_closed_in_one_gap_with_the_master_fill_is_not_opened(world) -> None:
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    fill_down(b)  # ours fills, then SL/TP (here: by hand) closes it, the master's fills
    close_by_hand(b)
    master_fills(link, f._netting)
    f.cycle()
    f.cycle()
    assert b.positions() == [] and b.orders() == []


def test_cancelled_by_hand_then_master_fill_is_opened_when_configured(world, tmp_path) -> None:
    b, link, _ = world
    f = follower(b, link, tmp_path, reopen_closed_by_hand=True)
    netting = f._netting
    link.set(P("s1t50"))
    f.cycle()
    cancel_by_hand(b)
    f.cycle()  # placed again (reopen): cancel that one by hand too
    cancel_by_hand(b)
    master_fills(link, netting)
    f.cycle()
    f.cycle()
    tag = "mtp:s1nEURUSD.pro" if netting else "mtp:s1t50"
    assert positions(b) == [(tag, 1, 0.1)] and b.orders() == []


def test_master_fill_while_ours_works_cancels_it_and_opens(world) -> None:
    # ours still working when the master's fills: dropped from ``placed``, never
    # recorded as closed by hand (the follower cancels it itself, then opens)
    b, link, f = world
    link.set(P("s1t50"))
    f.cycle()
    master_fills(link, f._netting)
    f.cycle()
    assert f.ledger.placed == set() and "s1t50" not in f.ledger.fills
    f.cycle()
    assert [(s, v) for _, s, v in positions(b)] == [(1, 0.1)]
