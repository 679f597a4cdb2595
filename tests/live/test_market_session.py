"""The runner against the B3 session calendar: market-phase refusals, the pre-call
flat and the contract roll (a replay spanning a roll day)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mtponte.backtest import run_backtest
from mtponte.brokers.base import MARKET_CLOSED
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN, Bar, Side
from mtponte.domain.orders import EntryKind, ExecutionReport, Signal
from mtponte.domain.side import ExitReason
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import Journal, open_journal
from mtponte.live.journal.models import CommandRow, Heartbeat, RiskDecisionRow, SignalRow
from mtponte.live.replay import ReplayClock, replay_paper
from mtponte.live.runner import Runner
from mtponte.live.session import SessionSection
from mtponte.strategies import ElephantParams

SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run("trade", "paper", "replay", "WIN", {})
    yield j
    j.close()


def rows(j: Journal, model: Any, **where: Any) -> list[Any]:
    j.flush()
    q = select(model).where(model.run_id == j.run_id)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return list(j._conn.execute(q).all())


def cfg(session: SessionSection, **strategy: Any) -> LiveConfig:
    return LiveConfig(
        runner=RunnerSection(mode="trade"),
        strategy=ElephantParams(**strategy),
        risk=RiskSection(kill_switch_file=None, max_signal_age_s=None, max_sl_atr=None),
        session=session,
    )


class _OneSignal:
    """Stands in for the strategy: a next-open signal on one chosen bar."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def on_bar(self, bar: Bar) -> Signal | None:
        if bar.time != self.when:
            return None
        return Signal(
            bar.time, bar.time, Side.BUY, EntryKind.NEXT_OPEN, None, None, None, 200.0, 300.0, 100.0
        )


def _bar(t: datetime) -> Bar:
    return Bar(t, 120_000.0, 120_100.0, 119_900.0, 120_050.0, 100.0)


def _entry_at(
    next_local: datetime,
    session: SessionSection,
    journal: Journal,
    broker_cls: type[PaperBroker] = PaperBroker,
) -> str:
    """One signal whose entry bar opens at ``next_local``; returns the signal outcome."""
    clock = ReplayClock()
    broker = broker_cls(symbols=[WIN], clock=clock)
    c = cfg(session, window_start="08:00", entry_mode="next_open", flat_time=None)
    runner = Runner(c, WIN, broker, 300, journal=journal, clock=clock)
    runner.start()
    t = next_local.astimezone(SP) - timedelta(minutes=5)
    runner.strategy = _OneSignal(t)  # type: ignore[assignment]
    clock.t = t + timedelta(minutes=5)
    broker.set_quote(WIN.name, 120_050.0)
    runner.on_event(BarEvent(_bar(t), next_local, 120_050.0))
    (sig,) = rows(journal, SignalRow)
    return str(sig.outcome)


def test_an_entry_at_pre_open_is_a_market_phase_refusal(journal: Journal) -> None:
    b3 = SessionSection(calendar="b3")
    out = _entry_at(datetime(2025, 12, 15, 8, 55, tzinfo=SP), b3, journal)
    assert out == "refused: market_phase"
    (d,) = rows(journal, RiskDecisionRow, rule="market_phase")
    assert not d.allowed and "pre_open" in d.reason
    assert rows(journal, CommandRow) == []  # nothing sent


@pytest.mark.parametrize(
    ("session", "hhmm", "outcome"),
    [
        (SessionSection(calendar="b3"), (9, 0), "sent"),
        (SessionSection(), (8, 55), "sent"),  # no calendar: no phase rule
        (SessionSection(calendar="b3"), (18, 25), "refused: market_phase"),
    ],
)
def test_market_phase_needs_a_calendar_and_the_regular_session(
    journal: Journal, session: SessionSection, hhmm: tuple[int, int], outcome: str
) -> None:
    t = datetime(2025, 12, 15, *hhmm, tzinfo=SP)
    assert _entry_at(t, session, journal) == outcome


class _AuctionBroker(PaperBroker):
    """A server whose calendar differs from ours: it answers "market closed"."""

    def market_order(self, *a: Any, **k: Any) -> ExecutionReport:
        return ExecutionReport(False, MARKET_CLOSED, "Market is closed")


def test_a_broker_refusal_for_market_phase_is_not_an_error(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    t = datetime(2025, 12, 15, 9, 0, tzinfo=SP)
    with caplog.at_level("INFO", logger="mtponte.live"):
        assert _entry_at(t, SessionSection(calendar="b3"), journal, _AuctionBroker) == "sent"
    (cmd,) = rows(journal, CommandRow)
    assert cmd.state == "market_phase" and cmd.retcode == MARKET_CLOSED
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


ROLL = SessionSection(calendar="b3", roll="rule", roll_sessions_before=2)


def test_roll_day_replay_switches_contract_between_sessions(journal: Journal) -> None:
    # WINZ25 expires Wed 2025-12-17; two sessions before is Mon 12-15: WINZ25 through
    # the 15th, WING26 from Tue 12-16. Business days 2025-12-01 .. 2025-12-19.
    bars = synth_win(days=15, seed=3, start=date(2025, 12, 1))
    c = cfg(ROLL)
    run = replay_paper(bars, WIN, c, journal)
    roll_day = date(2025, 12, 16)

    def local_day(t: datetime) -> date:
        return t.astimezone(SP).date()

    before = [t for t in run.trades if local_day(t.entry_time) < roll_day]
    after = [t for t in run.trades if local_day(t.entry_time) >= roll_day]
    assert before and after, "the data must trade on both sides of the roll"
    # no position is carried across a session (intraday flat), so none across the roll
    assert all(local_day(t.entry_time) == local_day(t.exit_time) for t in run.trades)
    assert all(t.exit_reason is not ExitReason.END for t in run.trades)

    deals = run.broker.deals()
    by_pos: dict[str, set[str]] = {}
    for d in deals:
        by_pos.setdefault(d.position, set()).add(d.symbol)
        want = "WINZ25" if local_day(d.time) < roll_day else "WING26"
        assert d.symbol == want, d
    assert all(len(s) == 1 for s in by_pos.values())  # in and out on the same contract
    assert {d.symbol for d in deals} == {"WINZ25", "WING26"}

    cmds = rows(journal, CommandRow)
    assert {r.symbol for r in cmds} == {"WINZ25", "WING26"}
    notes = [r.note for r in rows(journal, Heartbeat) if r.note.startswith("roll:")]
    assert len(notes) == 2
    assert notes[0].startswith("roll: WIN -> WINZ25")
    assert notes[1].startswith("roll: WINZ25 -> WING26") and "2025-12-16" in notes[1]

    # the calendar and the roll change the traded symbol, not the trades: the same
    # trades as the backtest of the continuous series
    assert run.trades == run_backtest(bars, WIN, c.strategy).trades()


def test_a_position_is_closed_before_the_closing_call(journal: Journal) -> None:
    # No flat time: the calendar alone closes a position at the open of the last bar
    # before the 18:25 call (the 18:20 bar; the next decision would be in the call).
    bars = synth_win(days=10, seed=3, start=date(2025, 12, 1))
    c = cfg(SessionSection(calendar="b3"), flat_time=None)
    run = replay_paper(bars, WIN, c, journal)
    flat = [t for t in run.trades if t.exit_reason is ExitReason.FLAT]
    assert flat, "the data must hold a position until the end of a session"
    for t in run.trades:
        assert t.exit_time.astimezone(SP).date() == t.entry_time.astimezone(SP).date()
    assert {t.exit_time.astimezone(SP).strftime("%H:%M") for t in flat} == {"18:20"}


def test_reconcile_under_a_roll_rule_adopts_a_position_on_a_dated_contract() -> None:
    from dataclasses import replace

    clock = ReplayClock(datetime(2025, 12, 15, 13, 0, tzinfo=SP))
    z25 = replace(WIN, name="WINZ25")
    broker = PaperBroker(symbols=[WIN, z25], clock=clock)
    broker.set_quote("WINZ25", 120_000.0)
    rep = broker.market_order("WINZ25", Side.BUY, 1.0, 119_000.0, 121_000.0, magic=7001)
    assert rep.ok
    c = cfg(ROLL).model_copy(update={"runner": RunnerSection(mode="trade", on_existing="adopt")})
    runner = Runner(c, WIN, broker, 300, clock=clock)
    assert "adopted position" in runner.start()
    assert runner.symbol == runner.desk.symbol == "WINZ25"
    assert runner.market is not None and runner.market.expiry == date(2025, 12, 17)
    # another root's contract, or an undated symbol, is not ours under the rule
    assert not runner._ours("WDOF26") and not runner._ours("WIN$N")


def test_a_roll_never_happens_with_a_position_open(caplog: pytest.LogCaptureFixture) -> None:
    from mtponte.live.state import Held

    clock = ReplayClock(datetime(2025, 12, 16, 9, 0, tzinfo=SP))
    runner = Runner(cfg(ROLL), WIN, PaperBroker(symbols=[WIN], clock=clock), 300, clock=clock)
    runner.symbol = runner.desk.symbol = "WINZ25"
    t = datetime(2025, 12, 16, 9, 5, tzinfo=SP)  # WING26's first session
    runner._held = Held("mtp:x", "1", 1, t, 0, 1.0, 0.0, 2.0)
    with caplog.at_level("WARNING", logger="mtponte.live"):
        runner._roll(t)
        runner._roll(t + timedelta(minutes=5))
    assert runner.symbol == "WINZ25"
    assert len([r for r in caplog.records if "waits" in r.message]) == 1  # said once
    runner._held = None
    runner._roll(t + timedelta(minutes=10))
    assert runner.symbol == runner.desk.symbol == "WING26"


def test_an_explicit_trade_symbol_is_what_orders_go_to() -> None:
    """Bars of the continuous series (WIN), orders on the dated contract the config
    names: the broker's positions and deals are on WINZ24, the trades the backtest's."""
    bars = synth_win(days=30, seed=5)
    c = cfg(SessionSection()).model_copy(update={"trade_symbol": "WINZ24"})
    run = replay_paper(bars, WIN, c)
    expected = run_backtest(bars, WIN, c.strategy).trades()
    assert expected and run.trades == expected
    deals = run.broker.deals()
    assert deals and {d.symbol for d in deals} == {"WINZ24"}
