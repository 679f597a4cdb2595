"""The Python follower over paper brokers, with a fake link to the server."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.engine.model import Target
from mtponte.copy.follower import (
    Follower,
    FollowerOptions,
    LeaseHeld,
    LinkError,
    TargetBook,
)
from mtponte.domain import Side
from mtponte.domain.symbols import SymbolSpec

EURUSD = SymbolSpec(
    "EURUSD.pro",
    tick_size=0.00001,
    tick_value=1.0,
    contract_size=100_000,
    digits=5,
    lot_min=0.01,
    lot_max=100,
    lot_step=0.01,
    currency="USD",
)
MAGIC = 777


class FakeLink:
    def __init__(self) -> None:
        self.book = TargetBook(0, ())
        self.reports: list[dict[str, Any]] = []
        self.beats: list[dict[str, Any]] = []
        self.down = False
        self.lease_taken = False

    def set(self, *targets: Target) -> None:
        self.book = TargetBook(self.book.version + 1, tuple(targets), True, 1, 2)

    def targets(self, version: int | None, wait_s: float) -> TargetBook | None:
        if self.down:
            raise LinkError("connection refused")
        return None if version == self.book.version else self.book

    def heartbeat(self, facts: dict[str, Any]) -> None:
        if self.down:
            raise LinkError("connection refused")
        if self.lease_taken:
            raise LeaseHeld("another follower instance holds this account")
        self.beats.append(facts)

    def report(self, reports: list[dict[str, Any]]) -> None:
        self.reports += reports


def T(tid: str, side: str = "buy", volume: float = 0.1, sl=None, tp=None, **kw) -> Target:
    return Target(tid, kw.pop("symbol", "EURUSD.pro"), side, volume, sl, tp, **kw)


def broker(mode: str = "hedging", path: Any = ":memory:") -> PaperBroker:
    b = PaperBroker(path, symbols=[EURUSD], currency="USD", account_mode=mode)  # type: ignore[arg-type]
    b.set_quote("EURUSD.pro", 1.10000, 1.10002)
    return b


@pytest.fixture
def world(tmp_path):
    b = broker()
    link = FakeLink()
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f.start()
    return b, link, f


def state(b: PaperBroker) -> list[tuple[str, int, float, float | None, float | None]]:
    return sorted((p.comment, int(p.side), p.volume, p.sl, p.tp) for p in b.positions())


def test_opens_each_target_once_with_magic_and_tag(world):
    b, link, f = world
    link.set(T("s1t10", sl=1.09, tp=1.12), T("s1t11", "sell", 0.25))
    f.cycle()
    assert state(b) == [
        ("mtp:s1t10", 1, 0.1, 1.09, 1.12),
        ("mtp:s1t11", -1, 0.25, None, None),
    ]
    assert all(p.magic == MAGIC for p in b.positions())
    again = f.cycle()
    assert again.actions == [] and len(b.positions()) == 2  # idempotent: nothing doubled
    assert [r["status"] for r in link.reports] == ["copied", "copied"]


def test_partial_close_modify_and_close_follow_the_book(world):
    b, link, f = world
    link.set(T("s1t10", volume=0.3, sl=1.09))
    f.cycle()
    link.set(T("s1t10", volume=0.1, sl=1.095, tp=1.2))
    f.cycle()
    assert state(b) == [("mtp:s1t10", 1, 0.1, 1.095, 1.2)]
    link.set()
    f.cycle()
    assert b.positions() == []


def test_volume_increase_adds_a_second_position_with_the_same_tag(world):
    b, link, f = world
    link.set(T("s1t10", volume=0.1))
    f.cycle()
    link.set(T("s1t10", volume=0.3))
    f.cycle()
    assert sorted(p.volume for p in b.positions()) == [0.1, 0.2]
    link.set(T("s1t10", volume=0.05))
    f.cycle()  # newest first: 0.2 closed, 0.1 reduced to 0.05
    assert [p.volume for p in b.positions()] == [0.05]


def test_positions_of_others_are_never_touched(world):
    b, link, f = world
    mine_by_hand = b.market_order("EURUSD.pro", Side.BUY, 1.0, magic=0, comment="manual")
    other_ea = b.market_order("EURUSD.pro", Side.SELL, 0.5, magic=MAGIC + 1, comment="mtp:s1t99")
    link.set()
    f.cycle()
    assert {p.ticket for p in b.positions()} == {mine_by_hand.ticket, other_ea.ticket}


def test_a_copy_closed_by_hand_is_not_reopened_even_after_a_restart(world, tmp_path):
    b, link, f = world
    link.set(T("s1t10"))
    f.cycle()
    (p,) = b.positions()
    b.close_position(p.ticket)  # the user closes it (or its SL is hit)
    f.cycle()
    f.cycle()
    assert b.positions() == []
    skips = [r for r in link.reports if r["status"] == "skipped"]
    assert len(skips) == 1 and "closed outside the follower" in skips[0]["reason"]
    # A restart that lost the ledger rebuilds it from the broker's deals.
    (tmp_path / "ledger-f1.json").unlink()
    f2 = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f2.start()
    f2.cycle()
    assert b.positions() == []


def test_reopen_closed_by_hand_when_configured(tmp_path):
    b, link = broker(), FakeLink()
    f = Follower(b, link, FollowerOptions(MAGIC, tmp_path, reopen_closed_by_hand=True), name="x")
    f.start()
    link.set(T("s1t10"))
    f.cycle()
    b.close_position(b.positions()[0].ticket)
    f.cycle()
    assert len(b.positions()) == 1


def test_restart_adopts_its_positions_and_does_not_open_twice(world, tmp_path):
    b, link, f = world
    link.set(T("s1t10"), T("s1t11", "sell"))
    f.cycle()
    f2 = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path / "new"), name="f1")
    f2.start()
    res = f2.cycle()
    assert res.actions == [] and len(b.positions()) == 2


def test_server_unreachable_leaves_the_account_as_it_is(world):
    b, link, f = world
    link.set(T("s1t10"))
    f.cycle()
    link.down = True
    with pytest.raises(LinkError):
        f.cycle()
    assert len(b.positions()) == 1  # never flattened by a network failure
    stop = threading.Event()
    th = threading.Thread(target=f.run, args=(stop,))
    th.start()
    stop.wait(0.3)
    stop.set()
    th.join(5)
    assert not th.is_alive() and len(b.positions()) == 1


def test_lease_held_by_another_instance_stops_before_any_trade(tmp_path):
    b, link = broker(), FakeLink()
    link.lease_taken = True
    link.set(T("s1t10"))
    f = Follower(b, link, FollowerOptions(MAGIC, tmp_path), name="x")
    with pytest.raises(LeaseHeld):
        f.start()
    assert b.positions() == []


def test_market_entry_waits_while_price_is_beyond_max_deviation(world):
    b, link, f = world
    link.set(T("s1t10", price=1.09000, max_deviation_points=50))  # ask 1.10002: 1002 pts
    f.cycle()
    f.cycle()
    assert b.positions() == []
    waits = [r for r in link.reports if r["action"] == "wait"]
    assert len(waits) == 1 and "1002 points" in waits[0]["reason"]
    b.set_quote("EURUSD.pro", 1.09010, 1.09012)  # 12 points away
    f.cycle()
    assert len(b.positions()) == 1
    rep = link.reports[-1]
    assert rep["status"] == "copied" and rep["slippage_points"] == pytest.approx(12)


def test_limit_entry_places_one_order_and_cancels_it_when_the_target_goes(world):
    b, link, f = world
    link.set(T("s1t10", entry="limit", price=1.09))
    f.cycle()
    f.cycle()
    assert len(b.orders()) == 1 and b.orders()[0].comment == "mtp:s1t10"
    link.set()
    f.cycle()
    assert b.orders() == []


def test_reports_carry_the_latency_breakdown(world):
    _, link, f = world
    link.set(T("s1t10"))
    f.cycle()
    lat = link.reports[0]["latency"]
    assert lat["master_ms"] == 1 and lat["server_ms"] == 2
    assert lat["received_ms"] <= lat["sent_ms"] <= lat["filled_ms"]


def test_heartbeat_reports_facts_and_only_its_own_positions(world):
    b, link, f = world
    b.market_order("EURUSD.pro", Side.BUY, 1.0, magic=0)
    link.set(T("s1t10"))
    f.cycle()
    f.heartbeat()
    facts = link.beats[-1]
    assert facts["netting"] is False and facts["symbols"][0]["name"] == "EURUSD.pro"
    assert facts["symbols"][0]["lot_step"] == 0.01
    assert [p["symbol"] for p in facts["positions"]] == ["EURUSD.pro"]
    assert len(facts["positions"]) == 1


# --------------------------------------------------------------------- netting
@pytest.fixture
def net(tmp_path):
    b = broker("netting")
    link = FakeLink()
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="n")
    f.start()
    return b, link, f


def test_netting_reaches_the_net_volume_with_deals_and_keeps_sl_tp(net):
    b, link, f = net
    link.set(T("s1nEURUSD.pro", volume=0.2, sl=1.09, tp=1.12))
    f.cycle()
    assert state(b) == [("mtp:s1nEURUSD.pro", 1, 0.2, 1.09, 1.12)]
    link.set(T("s1nEURUSD.pro", volume=0.5, sl=1.09, tp=1.12))  # add: levels kept
    f.cycle()
    assert [(p.volume, p.sl, p.tp) for p in b.positions()] == [(0.5, 1.09, 1.12)]
    link.set(T("s1nEURUSD.pro", volume=0.1, sl=1.095, tp=1.12))  # reduce, then modify
    f.cycle()
    assert [(p.volume, p.sl, p.tp) for p in b.positions()] == [(0.1, 1.095, 1.12)]
    assert f.cycle().actions == []


def test_netting_flip_is_one_deal_and_flat_closes(net):
    b, link, f = net
    link.set(T("s1nEURUSD.pro", volume=0.2))
    f.cycle()
    link.set(T("s1nEURUSD.pro", "sell", 0.3, sl=1.11))
    f.cycle()
    assert [(int(p.side), p.volume, p.sl) for p in b.positions()] == [(-1, 0.3, 1.11)]
    assert b.deals()[-1].entry == "inout" and len(b.deals()) == 2
    link.set()
    f.cycle()
    assert b.positions() == []


def test_netting_never_trades_over_a_position_it_did_not_open(net):
    b, link, f = net
    b.market_order("EURUSD.pro", Side.BUY, 1.0, magic=0, comment="by hand")
    link.set(T("s1nEURUSD.pro", "sell", 0.2))
    f.cycle()
    assert [(int(p.side), p.volume, p.magic) for p in b.positions()] == [(1, 1.0, 0)]
    assert "did not open" in link.reports[-1]["reason"]


def test_reports_made_during_an_outage_are_sent_when_the_server_is_back(world):
    b, link, f = world
    link.set(T("s1t10"))
    real = link.report
    calls = {"n": 0}

    def flaky(reports):
        calls["n"] += 1
        if calls["n"] == 1:
            raise LinkError("connection reset")
        real(reports)

    link.report = flaky  # type: ignore[method-assign]
    with pytest.raises(LinkError):
        f.cycle()  # executed, then the report failed
    assert len(b.positions()) == 1 and link.reports == []
    f.cycle()
    assert [r["status"] for r in link.reports] == ["copied"]
    assert len(b.positions()) == 1  # and nothing executed twice


def test_a_broker_that_does_not_say_netting_or_hedging_is_refused(tmp_path):
    from dataclasses import replace

    from mtponte.errors import ConfigError

    class Unsure(PaperBroker):
        def account(self):  # type: ignore[no-untyped-def]
            return replace(super().account(), account_mode=None)

    b = Unsure(symbols=[EURUSD], currency="USD")
    with pytest.raises(ConfigError, match="netting or hedging"):
        Follower(b, FakeLink(), FollowerOptions(MAGIC, tmp_path), name="u")


def test_volume_down_with_new_levels_modifies_only_what_stays_open(world):
    """Closing the newest position and moving SL in one book: no modify is sent to the
    ticket just closed (it failed, reported 'failed', before)."""
    b, link, f = world
    link.set(T("s1t10", volume=0.1, sl=1.09))
    f.cycle()
    link.set(T("s1t10", volume=0.3, sl=1.09))
    f.cycle()
    link.set(T("s1t10", volume=0.1, sl=1.095))
    res = f.cycle()
    assert [a.kind for a in res.actions] == ["close", "modify"]
    assert [(p.volume, p.sl) for p in b.positions()] == [(0.1, 1.095)]
    assert all(r["status"] == "copied" for r in link.reports)
