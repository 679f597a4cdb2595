"""The mt5 adapter end to end against the package-shaped simulator (no MetaTrader here)."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtponte.brokers import _mt5api as k
from mtponte.brokers._mt5sim import Mt5Sim
from mtponte.brokers.mt5 import Mt5Broker, pick_filling, tag_matches
from mtponte.brokers.paper import PaperBroker
from mtponte.brokers.servertime import ServerClock
from mtponte.domain import EURUSD, WIN, Bar, Side
from mtponte.errors import BrokerError

NOW = datetime(2024, 3, 4, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo (UTC-3)
PASSWORD = "Xq7-very-secret-pw"


class Rig:
    def __init__(self, mode: str = "netting", magic: int = 7) -> None:
        self.now = NOW
        self.paper = PaperBroker(symbols=[WIN, EURUSD], account_mode=mode, clock=lambda: self.now)  # type: ignore[arg-type]
        self.paper.set_quote("WIN", 120_000, 120_005)
        self.paper.set_quote("EURUSD", 1.10000, 1.10002)
        self.sim = Mt5Sim(self.paper, password=PASSWORD, login=4242)
        self.sleeps: list[float] = []
        self.broker = Mt5Broker(
            module=self.sim,
            server_timezone="America/Sao_Paulo",
            symbols=["WIN", "EURUSD"],
            login=4242,
            password=PASSWORD,
            server="MtponteSim-Demo",
            magic=magic,
            reconcile_checks=3,
            reconcile_wait_s=0.25,
            sleep=self.sleeps.append,
            now=lambda: self.now,
        )


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_open_books_one_tagged_deal_at_the_ask(rig):
    rep = rig.broker.market_order("WIN", Side.BUY, 1, sl=119_000.0, tp=121_000.0, comment="mtp:t1")
    assert rep.ok and rep.retcode == 10009 and rep.price == 120_005 and rep.volume == 1
    (pos,) = rig.broker.positions()
    assert (pos.ticket, pos.side, pos.comment, pos.magic) == (rep.ticket, Side.BUY, "mtp:t1", 7)
    assert (pos.sl, pos.tp, pos.open_time) == (119_000.0, 121_000.0, NOW)
    (deal,) = rig.broker.deals(comment="mtp:t1")
    assert (deal.deal, deal.entry, deal.time) == (rep.deal, "in", NOW)
    assert rig.broker.account().account_mode == "netting"


def test_partial_close_on_netting_uses_the_position_field(rig):
    opened = rig.broker.market_order("WIN", Side.BUY, 3, sl=119_000.0)
    rig.paper.set_quote("WIN", 120_100, 120_105)
    rep = rig.broker.close_position(opened.ticket, 1, comment="mtp:part")
    assert rep.ok and rep.ticket == opened.ticket and rep.volume == 1 and rep.price == 120_100
    assert rig.sim.requests[-1]["position"] == int(opened.ticket)
    assert rig.sim.requests[-1]["type"] == k.ORDER_TYPE_SELL
    (pos,) = rig.broker.positions()
    assert (pos.ticket, pos.volume, pos.sl) == (opened.ticket, 2, 119_000.0)
    out = rig.broker.deals(comment="mtp:part")[0]
    assert out.entry == "out" and out.profit == pytest.approx(WIN.money(95, 1))
    assert not rig.broker.close_position(opened.ticket, 5).ok  # more than is open
    assert rig.broker.close_position(opened.ticket).ok and rig.broker.positions() == []


def test_reverse_on_netting_reports_the_new_position(rig):
    opened = rig.broker.market_order("WIN", Side.BUY, 1)
    rep = rig.broker.market_order("WIN", Side.SELL, 3, sl=121_000.0, comment="mtp:rev")
    (pos,) = rig.broker.positions()
    assert pos.side is Side.SELL and pos.volume == 2 and pos.sl == 121_000.0
    assert rep.ok and rep.ticket == pos.ticket  # MT5: the reversing order's ticket
    (deal,) = rig.broker.deals(comment="mtp:rev")
    assert deal.entry == "inout" and deal.volume == 3 and deal.position == opened.ticket


def test_netting_entry_refused_over_a_position_with_another_magic(rig):
    rig.paper.market_order("WIN", Side.BUY, 1, magic=99, comment="manual")
    rep = rig.broker.market_order("WIN", Side.SELL, 1)
    assert not rep.ok and rep.retcode == 10013 and "magic 99" in rep.message
    pending = rig.broker.place_order("WIN", Side.SELL, "stop", 1, 119_000.0)
    assert not pending.ok and pending.retcode == 10013
    assert rig.sim.requests == []  # nothing was sent
    assert rig.broker.positions() == []  # not ours: filtered by magic


def test_hedging_keeps_one_position_per_entry():
    rig = Rig("hedging")
    a = rig.broker.market_order("WIN", Side.BUY, 1)
    b = rig.broker.market_order("WIN", Side.SELL, 1)
    assert a.ticket != b.ticket and len(rig.broker.positions()) == 2
    assert rig.broker.account().account_mode == "hedging"
    assert rig.broker.close_position(a.ticket).ok
    assert [p.ticket for p in rig.broker.positions()] == [b.ticket]


def test_pending_stop_with_sl_tp_and_expiry_in_server_time(rig):
    expiry = NOW + timedelta(minutes=5)
    rep = rig.broker.place_order(
        "WIN", Side.BUY, "stop", 1, 120_052.0, sl=119_498.0, tp=120_903.0, expiry=expiry
    )
    assert rep.ok and rep.retcode == 10008
    req = rig.sim.requests[-1]
    assert req["type"] == k.ORDER_TYPE_BUY_STOP and req["type_time"] == k.ORDER_TIME_SPECIFIED
    assert req["expiration"] == int(expiry.timestamp()) - 3 * 3600  # São Paulo wall clock
    assert req["type_filling"] == k.ORDER_FILLING_RETURN
    (o,) = rig.broker.orders()
    assert (o.price, o.sl, o.tp, o.expiry) == (120_050.0, 119_500.0, 120_905.0, expiry)
    rig.paper.on_bar("WIN", Bar(NOW, 120_000, 120_100, 119_990, 120_080))
    (pos,) = rig.broker.positions()
    assert (pos.open_price, pos.sl, pos.tp) == (120_050.0, 119_500.0, 120_905.0)


def test_pending_order_expires_and_expiry_refused_where_not_allowed(rig):
    rig.broker.place_order(
        "WIN", Side.SELL, "stop", 1, 119_000.0, expiry=NOW + timedelta(minutes=5)
    )
    rig.paper.on_bar("WIN", Bar(NOW + timedelta(minutes=5), 120_000, 120_010, 119_990, 120_000))
    assert rig.broker.orders() == []
    rig.sim.configure("WIN", expiration_mode=k.SYMBOL_EXPIRATION_GTC | k.SYMBOL_EXPIRATION_DAY)
    n = len(rig.sim.requests)
    rep = rig.broker.place_order(
        "WIN", Side.SELL, "stop", 1, 119_000.0, expiry=NOW + timedelta(minutes=5)
    )
    assert not rep.ok and rep.retcode == 10022 and len(rig.sim.requests) == n


def test_modify_sl_tp(rig):
    opened = rig.broker.market_order("WIN", Side.BUY, 1, sl=119_000.0, tp=121_000.0)
    rep = rig.broker.modify_position(opened.ticket, 119_502.0, None)
    assert rep.ok and rig.sim.requests[-1]["action"] == k.TRADE_ACTION_SLTP
    (pos,) = rig.broker.positions()
    assert (pos.sl, pos.tp) == (119_500.0, 121_000.0)  # rounded; None kept the TP
    again = rig.broker.modify_position(opened.ticket, 119_500.0, 121_000.0)
    assert again.ok  # the server's 10025 "no changes": already so
    assert rig.broker.modify_position("999999", 1.0, None).retcode == 10036


def test_timeout_with_the_deal_booked_is_reconciled_as_filled(rig):
    rig.sim.inject("timeout_booked")
    rep = rig.broker.market_order("WIN", Side.BUY, 2, comment="mtp:late")
    assert rep.ok and rep.retcode == 10009 and "reconciled" in rep.message
    (deal,) = rig.paper.deals()
    assert (rep.deal, rep.price, rep.volume) == (deal.deal, deal.price, 2)
    (pos,) = rig.broker.positions()
    assert rep.ticket == pos.ticket and pos.volume == 2
    assert len(rig.sim.requests) == 1  # never re-sent


def test_timeout_without_booking_is_unknown_and_not_resent(rig, caplog):
    rig.sim.inject("timeout_lost")
    with caplog.at_level(logging.WARNING, logger="mtponte.brokers.mt5"):
        rep = rig.broker.market_order("WIN", Side.BUY, 1, comment="mtp:lost")
    assert not rep.ok and rep.retcode == 10012
    assert "unknown" in rep.message and "not re-sent" in rep.message
    assert len(rig.sim.requests) == 1 and rig.paper.deals() == [] and rig.paper.positions() == []
    assert rig.sleeps == [0.25, 0.25]  # 3 checks, 0.25 s apart
    assert "mtp:lost" in caplog.text


@pytest.mark.parametrize(
    ("fault", "booked"), [("none", False), ("none_booked", True), ("raise", False)]
)
def test_none_result_or_exception_is_reconciled_never_resent(rig, fault, booked):
    rig.sim.inject(fault)
    rep = rig.broker.market_order("WIN", Side.SELL, 1, comment="mtp:ipc")
    assert rep.ok is booked and len(rig.sim.requests) == 1
    assert len(rig.paper.deals()) == (1 if booked else 0)
    if not booked:
        assert rep.retcode == 10012 and "not re-sent" in rep.message


def test_unknown_stays_unknown_when_the_lookups_fail_too(rig, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("pipe closed")

    rig.sim.inject("raise")
    monkeypatch.setattr(rig.sim, "history_deals_get", broken)
    rep = rig.broker.market_order("WIN", Side.BUY, 1, comment="mtp:dead")
    assert not rep.ok and rep.retcode == 10012 and len(rig.sim.requests) == 1


def test_pending_order_timeout_reconciled_as_placed(rig):
    rig.sim.inject("timeout_booked")
    rep = rig.broker.place_order("WIN", Side.BUY, "stop", 1, 120_100.0, comment="mtp:pend")
    (o,) = rig.paper.orders()
    assert rep.ok and rep.retcode == 10008 and rep.order == o.ticket and len(rig.sim.requests) == 1


@pytest.mark.parametrize(
    ("exemode", "flags", "expected"),
    [
        (k.SYMBOL_TRADE_EXECUTION_EXCHANGE, 0, k.ORDER_FILLING_RETURN),
        (k.SYMBOL_TRADE_EXECUTION_EXCHANGE, 3, k.ORDER_FILLING_FOK),
        (k.SYMBOL_TRADE_EXECUTION_MARKET, 2, k.ORDER_FILLING_IOC),
        (k.SYMBOL_TRADE_EXECUTION_MARKET, 1, k.ORDER_FILLING_FOK),
    ],
)
def test_filling_mode_follows_the_symbol(exemode, flags, expected):
    rig = Rig("hedging")
    rig.sim.configure("EURUSD", trade_exemode=exemode, filling_mode=flags)
    rep = rig.broker.market_order("EURUSD", Side.BUY, 0.1)
    assert rep.ok, rep.message
    assert rig.sim.requests[-1]["type_filling"] == expected
    close = rig.broker.close_position(rep.ticket)  # closes pick it per symbol too
    assert close.ok and rig.sim.requests[-1]["type_filling"] == expected


def test_simulator_refuses_a_filling_the_symbol_does_not_allow(rig):
    rig.sim.configure("EURUSD", trade_exemode=k.SYMBOL_TRADE_EXECUTION_MARKET, filling_mode=2)
    res = rig.sim.order_send(
        {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "price": 1.10002,
         "type_filling": k.ORDER_FILLING_RETURN}
    )  # fmt: skip
    assert res is not None and res.retcode == 10030 and rig.paper.deals() == []
    assert pick_filling(2, pending=False) == k.ORDER_FILLING_IOC
    assert pick_filling(3, pending=True) == k.ORDER_FILLING_RETURN


def test_prices_go_to_the_tick_grid_and_volumes_to_the_lot_step(rig):
    rep = rig.broker.market_order("WIN", Side.BUY, 2.7, sl=119_002.4, tp=121_003.0)
    assert rep.ok and rep.volume == 2  # floored to the lot step
    req = rig.sim.requests[-1]
    assert (req["volume"], req["sl"], req["tp"]) == (2, 119_000.0, 121_005.0)
    fx = rig.broker.market_order("EURUSD", Side.SELL, 0.129, sl=1.1049990001)
    assert fx.ok and rig.sim.requests[-1]["volume"] == 0.12
    assert rig.sim.requests[-1]["sl"] == 1.105
    n = len(rig.sim.requests)
    low = rig.broker.market_order("EURUSD", Side.SELL, 0.004)
    assert not low.ok and low.retcode == 10014 and len(rig.sim.requests) == n


def test_unknown_symbol_is_a_refusal_not_an_exception(rig):
    rep = rig.broker.market_order("WDOZ25", Side.BUY, 1)
    assert not rep.ok and rep.retcode == 10013 and "WDOZ25" in rep.message
    assert rig.broker.is_demo()


def test_comment_longer_than_mt5_keeps_is_refused_not_truncated(rig):
    rep = rig.broker.market_order("WIN", Side.BUY, 1, comment="x" * 32)
    assert not rep.ok and "31" in rep.message and rig.sim.requests == []


def test_password_never_in_errors_or_logs(caplog):
    rig = Rig()
    rig.sim._password = "another-password"  # the terminal refuses ours
    with caplog.at_level(logging.DEBUG), pytest.raises(BrokerError) as err:
        rig.broker.connect()
    assert "Authorization failed" in str(err.value)
    assert PASSWORD not in str(err.value) and PASSWORD not in repr(rig.broker)

    class Leaky:  # a package failure that echoes the password back
        def initialize(self, *args, **kwargs):
            raise RuntimeError(f"bad login with password={kwargs['password']}")

    leaky = Mt5Broker(module=Leaky(), server_timezone="UTC", password=PASSWORD)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG), pytest.raises(BrokerError) as err2:
        leaky.connect()
    assert PASSWORD not in str(err2.value) and "***" in str(err2.value)
    assert err2.value.__cause__ is None and err2.value.__suppress_context__
    ok = Rig()
    with caplog.at_level(logging.DEBUG):
        ok.broker.connect()
        ok.sim.inject("none")
        ok.broker.market_order("WIN", Side.BUY, 1)
    assert "login=4242" in caplog.text
    assert PASSWORD not in caplog.text


def test_the_package_is_imported_lazily():
    assert "MetaTrader5" not in sys.modules  # importing the adapter did not import it
    broker = Mt5Broker(server_timezone="America/Sao_Paulo")
    try:
        import MetaTrader5  # noqa: F401
    except ImportError:
        with pytest.raises(BrokerError, match="not installed"):
            broker.positions()


def test_bars_skip_the_forming_bar_and_come_back_in_utc(rig, synth_bars):
    for b in synth_bars[:30]:
        rig.paper.on_bar("WIN", b)
    got = rig.broker.bars("WIN", "M5", 10)
    assert got == [synth_bars.bar(i) for i in range(20, 30)]


def test_server_clock_round_trip():
    clock = ServerClock("Europe/Athens")  # UTC+2 in winter, +3 in summer
    winter = datetime(2024, 1, 10, 12, tzinfo=UTC)
    summer = datetime(2024, 7, 10, 12, tzinfo=UTC)
    assert clock.to_server(winter) == int(winter.timestamp()) + 2 * 3600
    assert clock.to_server(summer) == int(summer.timestamp()) + 3 * 3600
    assert clock.to_utc(clock.to_server(summer)) == summer


def _literal(text: str) -> int:
    """A stub's integer literal: ``10012``, ``-1``, ``0x02`` or ``1 | 0x4000``."""
    out = 0
    for part in text.split("|"):
        out |= int(part.strip(), 0)
    return out


def test_adapter_constants_match_the_metatrader5_stubs():
    roots = [Path(p) / "MetaTrader5-stubs" / "__init__.pyi" for p in sys.path]
    stub = next((p for p in roots if p.is_file()), None)
    assert stub is not None, "metatrader5-stubs (a locked dev dependency) is not installed"
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+): Final\[int\] = (.+)$", stub.read_text(), re.M))
    checked = 0
    for name, value in vars(k).items():
        if name in values:
            assert value == _literal(values[name]), name  # the stub's literal, e.g. "1 | 0x4000"
            checked += 1
    for tf, value in k.TIMEFRAMES.items():
        assert value == _literal(values[f"TIMEFRAME_{tf}"]), tf
    sim = Rig().sim
    for name, value in values.items():
        if hasattr(sim, name):
            assert getattr(sim, name) == _literal(value), name
    assert checked > 30


def test_tag_matching_tolerates_a_server_that_cuts_or_extends_comments():
    tag = "mtp:0123456789abcdef0123"
    assert tag_matches(tag, tag) and tag_matches(tag + " [sl]", tag)
    assert tag_matches(tag[:16], tag)  # cut, but long enough to be ours
    assert not tag_matches(tag[:8], tag) and not tag_matches("mtp:other", tag)
    assert not tag_matches("anything", "")
