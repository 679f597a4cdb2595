"""The legacy Sentra Master and Slave EAs, modelled from their source (``ea.py``),
copying through the real server."""

from __future__ import annotations

import time

from mtponte.copy.server import admin
from mtponte.copy.server.models import Account
from tests.copy.legacy.conftest import Legacy
from tests.copy.legacy.ea import MasterEA, extract_value


def lots(legacy: Legacy) -> dict[str, float]:
    return {mt: p.volume for mt, p in legacy.slave.held().items()}


def closes(legacy: Legacy) -> int:
    return sum(1 for kind, _ in legacy.slave.account.trades if kind == "close")


def test_the_slave_parser_cuts_a_json_list_and_reads_a_joined_string():
    """Why lists are served comma-joined (the model's parser, as the EA's)."""
    assert extract_value('{"a":["EURUSD","GBPUSD"],"b":1}', "a") == '["EURUSD"'
    assert extract_value('{"a":"EURUSD,GBPUSD","b":1}', "a") == "EURUSD,GBPUSD"


def test_opens_copied_sized_and_spurious_closes_never_flatten(legacy: Legacy):
    """Each open posts an open and a close with no price ("order moved to history"),
    in either order; the copy opens once at the subscription's size (× 2)."""
    legacy.slave.init()
    m = legacy.master
    a = m.open("EURUSD", 0, 0.10, sl=1.09, tp=1.12)  # deal, then history
    b = m.open("GBPUSD", 1, 0.29, deal_first=False)  # history, then deal
    assert [x["ignored"][:14] for x in m.answers if "ignored" in x] == ["no close price"] * 2
    for _ in range(3):
        legacy.step()
    # 0.58, not 0.57: 0.58/0.01 is 57.99999999999999, which the EA floors to 57 steps
    assert lots(legacy) == {str(a): 0.2, str(b): 0.58}
    assert legacy.slave.held()[str(a)].sl == 1.09
    assert closes(legacy) == 0 and len(legacy.slave.account.trades) == 2


def test_sl_tp_change_applied_once_per_follower(legacy: Legacy):
    legacy.slave.init()
    other = legacy.other_slave()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.10, sl=1.09, tp=1.12)
    legacy.step()
    other.poll()
    m.modify(t, 1.095, 1.13)  # the EA posts nothing: the heartbeat carries it
    legacy.step(polls=3)
    for _ in range(3):
        other.poll()
    for ea in (legacy.slave, other):
        p = ea.held()[str(t)]
        assert (p.sl, p.tp) == (1.095, 1.13)
        assert [k for k, _ in ea.account.trades] == ["open", "modify"]  # once
        assert ea.handled.count("modify") == 1


def test_partial_close_keeps_the_copy_by_default(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.40)
    legacy.step()
    m.partial_close(t, 0.10, 1.101)  # deal first: an "open" of 0.30, a priced close
    legacy.slave.poll()
    legacy.step(polls=2)
    m.partial_close(t, 0.10, 1.102, deal_first=False)  # the close carries 1.101
    legacy.slave.poll()
    legacy.step(polls=2)
    assert lots(legacy) == {str(t): 0.8} and closes(legacy) == 0
    m.close(t, 1.103)
    legacy.slave.poll()
    legacy.step(polls=2)
    assert lots(legacy) == {} and closes(legacy) == 1


def test_partial_close_reopens_smaller_when_set(legacy: Legacy):
    legacy.set(partial="reopen", volumeMultiplier=2.0)
    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.40)
    legacy.step()
    m.partial_close(t, 0.10, 1.101, deal_first=False)
    legacy.slave.poll()  # the close (price 0) is not a close
    assert closes(legacy) == 0
    legacy.step(polls=4)
    assert lots(legacy) == {str(t): 0.6}
    assert [k for k, _ in legacy.slave.account.trades] == ["open", "close", "open"]  # once


def test_a_real_close_reaches_the_slave_at_the_next_poll(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.10)
    legacy.step()
    m.close(t, 1.101)  # deal first: the close carries its price
    legacy.slave.poll()  # before any heartbeat
    assert lots(legacy) == {}
    u = m.open("EURUSD", 1, 0.10)
    legacy.step()
    m.close(u, 1.101, deal_first=False)  # no price yet: the next heartbeat decides
    legacy.slave.poll()
    assert str(u) in lots(legacy)
    legacy.step()
    assert lots(legacy) == {}


def test_open_and_close_between_two_polls_never_copied(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.10)
    m.close(t, 1.1)
    legacy.slave.poll()
    legacy.step(polls=2)
    assert legacy.slave.account.trades == []


def test_master_silent_keeps_copies(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    m.open("EURUSD", 0, 0.10)
    legacy.step()
    legacy.world.client.app.state.settings.master_stale_s = 1
    time.sleep(1.2)  # the master's terminal is gone: no post at all
    for _ in range(3):
        assert legacy.slave.poll() == "-"
    assert len(lots(legacy)) == 1 and closes(legacy) == 0


def test_settings_lists_and_multiplier_and_max_volume_in_effect(legacy: Legacy):
    legacy.set(
        volumeMultiplier=3.0,
        maxVolume=0.5,
        enableSymbolFilter=True,
        allowedSymbols=["EURUSD", "GBPUSD"],
        enableDirectionFilter=True,
        allowedDirections=["BUY", "SELL"],
    )
    legacy.slave.init()
    assert legacy.slave.settings["allowedSymbols"] == ["EURUSD", "GBPUSD"]
    assert legacy.slave.settings["allowedDirections"] == ["BUY", "SELL"]
    m = legacy.master
    a = m.open("GBPUSD", 1, 0.01)  # a SELL of the second symbol
    b = m.open("EURUSD", 0, 0.30)  # 0.9 capped at 0.5
    legacy.step(polls=2)
    assert lots(legacy) == {str(a): 0.03, str(b): 0.5}
    other = legacy.other_slave(
        settings={"enableDirectionFilter": True, "allowedDirections": ["BUY"]}
    )
    c = m.open("EURUSD", 1, 0.10)  # refused by the direction filter, on both sides
    d = m.open("EURUSD", 0, 0.10)
    legacy.step(polls=2)
    for _ in range(2):
        other.poll()
    assert set(other.held()) == {str(b), str(d)}  # b and d are BUYs, a and c SELLs
    assert set(lots(legacy)) == {str(a), str(b), str(c), str(d)}


def test_the_eas_own_risk_check_would_refuse_everything_with_zero_limits(legacy: Legacy):
    """``enableRiskManagement`` with no limits (0) would make the EA refuse every trade
    (it compares its counters with ``>=``): the server serves 0 as a limit never hit."""
    legacy.set(enableRiskManagement=True, maxDailyLoss=0, maxDailyTrades=0)
    legacy.slave.init()
    legacy.master.open("EURUSD", 0, 0.10)
    legacy.step(polls=2)
    assert len(lots(legacy)) == 1


def test_cent_master_to_standard_slave_sized_by_account_types(legacy: Legacy):
    legacy.account_type(legacy.world.master_id, "cent")
    legacy.set(volumeMode="copy")
    legacy.slave.init()
    t = legacy.master.open("EURUSD", 0, 30.0)
    legacy.step(polls=2)
    assert lots(legacy) == {str(t): 0.3}


def test_replayed_old_heartbeat_ignored(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.10)
    legacy.step()
    m.down = True
    m.tick()  # this heartbeat (listing t) fails: queued
    m.down = False
    m.close(t, 1.101, deal_first=False)  # no price: left to the heartbeat
    m.tick()  # a newer heartbeat (t gone); the queued one waits 2 s
    legacy.slave.poll()
    assert lots(legacy) == {}
    m.tick(2)  # the queue re-sends the old heartbeat, after newer ones
    assert any(a.get("ignored") == "older than the last heartbeat" for a in m.answers)
    legacy.slave.poll()
    legacy.slave.poll()
    assert lots(legacy) == {} and [k for k, _ in legacy.slave.account.trades] == [
        "open",
        "close",
    ]


def test_a_late_retried_open_does_not_bring_back_a_closed_position(legacy: Legacy):
    legacy.slave.init()
    m = legacy.master
    m.down = True
    t = m.open("EURUSD", 0, 0.10)  # open (and its priceless close) queued
    m.down = False
    m.tick()  # heartbeat listing t
    legacy.slave.poll()
    m.close(t, 1.101, deal_first=False)
    m.tick(3)  # heartbeats without t, then the queued open of t (older)
    legacy.slave.poll()
    legacy.slave.poll()
    assert lots(legacy) == {}
    assert [k for k, _ in legacy.slave.account.trades] == ["open", "close"]


def test_two_masters_with_one_account_number(legacy: Legacy):
    w = legacy.world
    with w.client.app.state.sessions() as s:
        twin = admin.add_account(s, "master", "1001", "BrokerZ", "twin@x.io")
        token = admin.issue_token(s, "publish", twin)
        twin_id = twin.id
        s.commit()
    twin_ea = MasterEA(w.client, token, email="twin@x.io")
    twin_ea.open("GBPUSD", 1, 0.50)
    twin_ea.tick()
    legacy.slave.init()
    t = legacy.master.open("EURUSD", 0, 0.10)
    legacy.step(polls=2)
    assert lots(legacy) == {str(t): 0.2}  # the twin's position never reached it
    with w.client.app.state.sessions() as s:
        assert s.get(Account, twin_id).last_seq >= 1  # its posts went to its own account


def test_dashboard_drift_of_a_sentra_slave_compares_counts(legacy: Legacy):
    import re

    from tests.copy.server.test_dashboard import login

    w = legacy.world
    legacy.slave.init()
    t = legacy.master.open("EURUSD", 0, 0.10)
    legacy.master.open("GBPUSD", 0, 0.10)
    legacy.step()
    assert legacy.slave.send_heartbeat() == 200
    assert login(w).status_code == 303

    def drift() -> str:
        html = w.client.get("/").text
        row = re.search(rf'<tr id="follower-{w.follower_id}">(.*?)</tr>', html, re.S)
        assert row is not None
        return row.group(1)

    assert "in sync" in drift()
    # The user closes a copy by hand: the EA forgets nothing, but its account holds one.
    copy = next(c for c in legacy.slave.copies if c[1] == str(t))
    legacy.slave.account.close(copy[0])
    legacy.slave.copies.remove(copy)
    legacy.slave.send_heartbeat()
    assert "positions: master 2 / follower 1" in drift()


def test_partial_close_rule_set_in_the_dashboard(legacy: Legacy):
    from tests.copy.server.test_dashboard import csrf_of, login

    w = legacy.world
    assert login(w).status_code == 303
    page = w.client.get("/subscriptions/1").text
    assert 'id="legacy_partial"' in page
    form = {"csrf": csrf_of(page), "slTpMode": "copy", "legacy_partial": "reopen"}
    assert w.client.post("/subscriptions/1", data=form, follow_redirects=False).status_code == 303
    form["legacy_partial"] = "shrink"
    assert "not keep or reopen" in w.client.post("/subscriptions/1", data=form).text
    with w.client.app.state.sessions() as s:
        from mtponte.copy.server.models import Subscription

        assert s.get(Subscription, 1).legacy_partial == "reopen"


def test_master_clock_moved_back_is_not_taken_for_a_retry(legacy: Legacy):
    """An hour back (the EA moved to a terminal on another broker server): posts are
    taken, copying goes on."""
    legacy.slave.init()
    m = legacy.master
    legacy.step()
    m.now -= 3600
    t = m.open("EURUSD", 0, 0.10)
    legacy.step(polls=2)
    assert str(t) in lots(legacy)
    assert not any(a.get("ignored", "").startswith("older") for a in m.answers)


def test_a_real_close_in_the_same_second_as_a_spurious_one_is_not_merged(legacy: Legacy):
    """Issue item 4: the open's priceless close and the real close share a second (and
    ticket); the real one is its own event and reaches the slave."""
    legacy.slave.init()
    m = legacy.master
    legacy.step()
    m.now += 1
    t = m.open("EURUSD", 0, 0.10)  # posts open + close (price 0) at second s
    m.on_timer()  # heartbeat at s lists t
    legacy.slave.poll()
    assert str(t) in lots(legacy)
    m.close(t, 1.101)  # same second s: a priced close
    assert "seq" in m.answers[-1]  # stored, as its own event
    legacy.slave.poll()
    assert lots(legacy) == {}


def test_a_follower_reporting_symbol_specs_gets_its_target_book(legacy: Legacy):
    """The same account also reports to the native API (our follower's facts): the
    Slave gets the target book's symbols, volumes and SL/TP."""
    w = legacy.world
    legacy.set(symbolMap=["EURUSD=EURUSD.pro"], volumeMode="fixed", volumeFixed=0.07)
    spec = {"tick_size": 0.00001, "tick_value": 1.0, "digits": 5}
    r = w.client.post(
        f"/api/v1/followers/{w.follower_id}/heartbeats",
        headers=w.h(w.follow),
        json={"balance": 1000.0, "symbols": [dict(spec, name="EURUSD.pro")]},
    )
    assert r.status_code == 204, r.text
    legacy.slave.account.symbols = {"EURUSD.pro": (0.01, 100.0, 0.01)}
    legacy.slave.init()
    m = legacy.master
    legacy.step()  # the book starts with the master flat: nothing is a late join
    t = m.open("EURUSD", 0, 1.0, sl=1.09)
    legacy.step(polls=2)
    p = legacy.slave.held()[str(t)]
    assert (p.symbol, p.volume, p.sl) == ("EURUSD.pro", 0.07, 1.09)


def test_partial_close_rule_is_keep_or_reopen(legacy: Legacy):
    import pytest

    from mtponte.errors import ConfigError

    w = legacy.world
    with w.client.app.state.sessions() as s:
        f = s.get(Account, w.other_follower_id)
        m = s.get(Account, w.master_id)
        with pytest.raises(ConfigError, match="keep or reopen"):
            admin.subscribe(s, f, m, {}, "shrink")
        assert admin.subscribe(s, f, m, {}, "reopen").legacy_partial == "reopen"


def test_a_restarted_slave_is_told_afresh(legacy: Legacy):
    """The Slave keeps its copies map in memory only: restarted (settings read again),
    it opens every master position again — the EA's own flaw — and the server's record
    of what it holds starts over with it, so SL/TP changes and drift stay right."""
    from mtponte.copy.server.models import LegacySlave

    legacy.slave.init()
    m = legacy.master
    t = m.open("EURUSD", 0, 0.10, sl=1.09)
    legacy.step()
    restarted = type(legacy.slave)(legacy.world.client, legacy.world.follow)
    restarted.account = legacy.slave.account  # same terminal account
    restarted.init()
    restarted.poll()
    assert len(restarted.account.positions) == 2  # the old copy is left unmanaged
    m.modify(t, 1.095, 0)
    m.tick()
    assert restarted.poll() == "modify"
    assert restarted.held()[str(t)].sl == 1.095
    with legacy.world.client.app.state.sessions() as s:
        assert list(s.get(LegacySlave, 1).held) == [str(t)]
