from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from mtponte.backtest import run_backtest
from mtponte.bridge.protocol import tag_for
from mtponte.brokers.base import Broker
from mtponte.brokers.paper import PaperBroker
from mtponte.data import synth_win
from mtponte.domain import WIN, Bars, Side
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.side import ExitReason
from mtponte.errors import MtponteError
from mtponte.live.commands import new_command_id
from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
from mtponte.live.feeds import BarEvent
from mtponte.live.journal import Journal, open_journal
from mtponte.live.journal.models import (
    BarSeen,
    CommandRow,
    FillRow,
    Heartbeat,
    RiskDecisionRow,
    SignalRow,
    TradeRow,
)
from mtponte.live.replay import ReplayClock, replay_paper
from mtponte.live.runner import LiveError, Runner
from mtponte.risk import DEFAULT_RULES
from mtponte.strategies import ElephantParams


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_win(days=30, seed=9)


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run("trade", "paper", "replay", "WIN", {})
    yield j
    j.close()


def cfg(mode: str = "trade", entry: str = "stop", **risk: Any) -> LiveConfig:
    return LiveConfig(
        runner=RunnerSection(mode=mode),  # type: ignore[arg-type]
        strategy=ElephantParams(entry_mode=entry),  # type: ignore[arg-type]
        risk=RiskSection(kill_switch_file=None, **risk),
    )


def rows(j: Journal, model: Any, **where: Any) -> list[Any]:
    from sqlalchemy import select

    j.flush()
    q = select(model).where(model.run_id == j.run_id)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return list(j._conn.execute(q).all())


def test_log_only_sends_nothing_but_journals_every_decision(bars: Bars, journal: Journal) -> None:
    run = replay_paper(bars, WIN, cfg(mode="log_only"), journal)
    assert run.trades == [] and run.broker.deals() == []
    sigs = rows(journal, SignalRow)
    assert sigs and any(s.outcome == "log_only" for s in sigs)
    assert journal.count(CommandRow) == 0
    assert journal.count(BarSeen) == len(bars)


@pytest.mark.parametrize("entry", ["stop", "next_open"])
def test_journal_rows_of_a_trading_replay(bars: Bars, journal: Journal, entry: str) -> None:
    run = replay_paper(bars, WIN, cfg(entry=entry), journal)
    n = len(run.trades)
    assert (
        n > 3 and run.trades == run_backtest(bars, WIN, ElephantParams(entry_mode=entry)).trades()
    )
    assert journal.count(BarSeen) == len(bars)
    assert journal.count(TradeRow) == n and journal.count(FillRow) == 2 * n
    gated = [s for s in rows(journal, SignalRow) if s.outcome == "sent"]
    assert journal.count(RiskDecisionRow) >= len(gated) * len(DEFAULT_RULES)
    assert journal.count(Heartbeat) == len(bars) // 12 + 1  # + the reconcile note
    cmds = rows(journal, CommandRow)
    assert all(c.state == "done" for c in cmds)
    assert all(c.tag.startswith("mtp:") and len(c.tag) <= 31 for c in cmds)
    kinds = {c.kind for c in cmds}
    if entry == "stop":
        assert {"stop", "cancel"} <= kinds  # unfilled one-bar stops were cancelled
    else:
        assert "market" in kinds
    assert run.broker.orders() == [] and run.broker.positions() == []
    # every deal of the account carries the tag of a journaled command
    tags = {c.tag for c in cmds}
    # Every deal belongs to a tag: entries and our closes carry it; SL/TP exits carry the
    # server's comment ("[sl 124415]", as MT5 does) and are found through their position.
    by_tag = {d.deal for t in tags for d in run.broker.deals(comment=t)}
    assert {d.deal for d in run.broker.deals()} == by_tag
    assert all(d.comment in tags or d.comment[:4] in ("[sl ", "[tp ") for d in run.broker.deals())


def test_tag_format_is_the_bridge_one() -> None:
    cid, tag = new_command_id()
    assert tag == tag_for(cid)


def test_limits_refuse_and_say_which_rule(bars: Bars, journal: Journal) -> None:
    run = replay_paper(bars, WIN, cfg(max_trades_per_day=1), journal)
    days = [t.entry_time.date() for t in run.trades]
    assert len(days) == len(set(days))
    refused = [s for s in rows(journal, SignalRow) if s.outcome.startswith("refused")]
    outcomes = [s.outcome for s in refused]
    assert "refused: max_trades" in outcomes
    assert set(outcomes) <= {"refused: max_trades", "refused: one_position"}
    reasons = rows(journal, RiskDecisionRow, rule="max_trades", allowed=False)
    # every rule answers; the outcome names the first refusal
    assert len(reasons) >= outcomes.count("refused: max_trades") and "max 1" in reasons[0].reason


def _paper(clock: ReplayClock, cls: type[PaperBroker] = PaperBroker) -> PaperBroker:
    return cls(symbols=[WIN], clock=clock)


def test_real_account_is_refused_unless_armed() -> None:
    broker = mock.Mock(spec=Broker)
    with pytest.raises(LiveError, match="allow_real_account"):
        Runner(cfg(), WIN, broker, 300).start()
    broker.positions.return_value = []
    broker.orders.return_value = []
    armed = cfg().model_copy(update={"runner": RunnerSection(allow_real_account=True)})
    assert "no position" in Runner(armed, WIN, broker, 300).start()


def _existing(clock: ReplayClock) -> PaperBroker:
    b = _paper(clock)
    b.set_quote("WIN", 120_000.0)
    b.market_order("WIN", Side.BUY, 1.0, 119_000.0, 121_000.0, magic=7001, comment="mtp:old")
    b.place_order("WIN", Side.SELL, "stop", 1.0, 119_500.0, 120_000.0, 118_000.0, magic=7001)
    b.market_order("WIN", Side.SELL, 1.0, magic=555, comment="someone else's")
    return b


def test_reconcile_refuses_what_it_finds() -> None:
    clock = ReplayClock(datetime(2024, 1, 2, 12, 0, tzinfo=UTC))
    runner = Runner(cfg(), WIN, _existing(clock), 300, clock=clock)
    with pytest.raises(LiveError, match=r"position .* BUY .*'mtp:old'.*on_existing = refuse"):
        runner.start()


def test_reconcile_adopts_and_supervises(bars: Bars) -> None:
    clock = ReplayClock(datetime.fromtimestamp(int(bars.time[0]), tz=UTC))
    broker = _existing(clock)
    c = cfg().model_copy(update={"runner": RunnerSection(mode="trade", on_existing="adopt")})
    run = replay_paper(bars[:150], WIN, c, broker=broker, clock=clock)
    first = run.trades[0]
    assert first.entry_price == 120_000.0 and first.side is Side.BUY
    assert [o for o in broker.orders() if o.magic == 7001] == []  # stale order cancelled
    assert [p.magic for p in broker.positions()] == [555]  # the other magic untouched


class _TimeoutOnce(PaperBroker):
    """Executes the first stop order but answers as if the request timed out."""

    failed = False

    def place_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        rep = super().place_order(*a, **kw)
        if not self.failed:
            self.failed = True
            raise MtponteError("no answer within the TTL")
        return rep


def test_unknown_outcome_blocks_then_resolves_by_tag(bars: Bars, journal: Journal) -> None:
    clock = ReplayClock()
    broker = _paper(clock, _TimeoutOnce)
    seen: list[int] = []

    def watch(ev: BarEvent) -> None:
        seen.append(len(run_box[0].desk.unknown) if run_box else 0)

    run_box: list[Runner] = []
    orig = Runner.start

    def start(self: Runner) -> str:
        run_box.append(self)
        return orig(self)

    with mock.patch.object(Runner, "start", start):
        replay_paper(bars, WIN, cfg(), journal, on_event=watch, broker=broker, clock=clock)
    assert (
        isinstance(broker, _TimeoutOnce) and broker.failed and 1 in seen
    )  # it was unknown for a while ...
    assert seen[-1] == 0  # ... and resolved
    cmds = rows(journal, CommandRow)
    first = next(c for c in cmds if c.kind == "stop")
    assert first.state == "done" and first.message == "resolved by tag"
    assert not any(c.state in ("unknown", "pending") for c in cmds)
    # the stop found by its tag is never re-sent: cancelled if still working, else its
    # position is adopted and supervised (closed with the same tag)
    kinds = [c.kind for c in cmds if c.tag == first.tag]
    assert kinds.count("stop") == 1
    filled = [d for d in broker.deals(comment=first.tag) if d.entry == "in"]
    assert kinds == (["stop", "close"] if filled else ["stop", "cancel"]) or (
        filled and kinds == ["stop"]  # closed by its SL/TP on the broker
    )
    # an entry found by its tag is journaled as an entry, once
    fills = [f.entry for f in rows(journal, FillRow) if f.tag == first.tag]
    assert fills.count("in") == (1 if filled else 0), fills


class _MarketTimeouts(PaperBroker):
    """Every market order is executed, then answered with a timeout (unknown)."""

    def market_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        super().market_order(*a, **kw)
        raise MtponteError("no answer within the TTL")


class _NoQuote(PaperBroker):
    """No quote for the runner (as over a bridge that publishes no ticks): next_open
    levels go out from the last close, then move to the fill."""

    filling = False

    def market_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        self.filling = True  # the paper market itself fills at its quote
        try:
            return super().market_order(*a, **kw)
        finally:
            self.filling = False

    def quote(self, symbol: str) -> tuple[float, float] | None:
        return super().quote(symbol) if self.filling else None


class _MarketTimeoutsNoQuote(_MarketTimeouts, _NoQuote):
    pass


@pytest.mark.parametrize("broker_cls", [_MarketTimeouts, _MarketTimeoutsNoQuote])
def test_a_next_open_entry_whose_answer_is_lost_is_the_backtests_entry(
    win_h1: Bars, journal: Journal, broker_cls: type[PaperBroker]
) -> None:
    """An entry whose answer timed out is looked up by its tag at once and recorded as
    the entry it was sent as: its bar, its price, its levels moved to the fill as the
    backtest sets them. The trades equal those of the same run answered in time, and
    the backtest's (real WIN H1: the next bar often opens away from the last close, and
    some entries hit a level within their bar)."""
    c = cfg(entry="next_open")
    clock = ReplayClock()
    broker = _paper(clock, broker_cls)
    run = replay_paper(win_h1, WIN, c, journal, broker=broker, clock=clock)
    answered = PaperBroker if broker_cls is _MarketTimeouts else _NoQuote
    clock2 = ReplayClock()
    want = replay_paper(win_h1, WIN, c, broker=_paper(clock2, answered), clock=clock2).trades
    assert len(want) >= 100
    assert run.trades == want  # a lost answer changes nothing
    if broker_cls is _MarketTimeouts:
        assert want == run_backtest(win_h1, WIN, c.strategy).trades()
    cmds = rows(journal, CommandRow)
    entries = [x for x in cmds if x.kind == "market"]
    assert len(entries) == len(want)
    assert all(x.message == "resolved by tag" for x in entries)
    moved = [x for x in cmds if x.kind == "modify"]
    if broker_cls is _MarketTimeoutsNoQuote:
        assert moved  # levels from the close moved to the fill
    else:
        assert not moved  # levels from the quote: already the fill's


class _LateDeals(PaperBroker):
    """A market order executes, its answer is lost, and the account shows nothing of it
    until the next bar: by then some have hit their SL or TP within their bar."""

    hide_deals = True

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.hidden: set[str] = set()

    def market_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        super().market_order(*a, **kw)
        self.hidden.add(kw["comment"])
        raise MtponteError("no answer within the TTL")

    def on_bar(self, *a: Any, **kw: Any) -> Any:
        out = super().on_bar(*a, **kw)
        self.hidden.clear()
        return out

    def positions(self, *a: Any, **kw: Any) -> Any:
        return [p for p in super().positions(*a, **kw) if p.comment not in self.hidden]

    def deals(self, *a: Any, **kw: Any) -> Any:
        shown = super().deals(*a, **kw)
        return [d for d in shown if d.comment not in self.hidden] if self.hide_deals else shown


def test_an_entry_found_a_bar_late_and_already_closed_is_still_a_trade(
    win_h1: Bars, journal: Journal
) -> None:
    """Found only at the next bar, an entry is still recorded at its own bar and price,
    closed ones included (they count in the day's P&L and the loss limit)."""
    c = cfg(entry="next_open")
    clock = ReplayClock()
    broker = _paper(clock, _LateDeals)
    run = replay_paper(win_h1, WIN, c, journal, broker=broker, clock=clock)
    want = run_backtest(win_h1, WIN, c.strategy).trades()
    got = [(t.entry_time, t.side, t.entry_price) for t in run.trades]
    assert got == [(t.entry_time, t.side, t.entry_price) for t in want]
    assert any(t.exit_time == t.entry_time for t in run.trades)  # closed within its bar


class _LateDealsNoQuote(_LateDeals, _NoQuote):
    pass


def test_between_bars_a_lost_entry_is_settled_before_the_next_bar(
    win_h1: Bars, journal: Journal
) -> None:
    """The realtime loop calls ``Runner.idle()`` at every poll without a new bar: an
    entry whose answer was lost is found there as soon as the account shows it, and its
    levels move to the fill before the market trades on (the trades equal the run
    answered in time)."""
    c = cfg(entry="next_open")
    clock = ReplayClock()
    broker = _paper(clock, _LateDealsNoQuote)
    assert isinstance(broker, _LateDealsNoQuote)
    box: list[Runner] = []
    settled: list[bool] = []

    def watch(_ev: BarEvent) -> None:
        r = box[0]
        if r.desk.unknown:
            broker.hidden.clear()  # the account shows it now, between two bars
            r.idle()
            settled.append(r._held is not None and not r.desk.unknown)

    run = replay_paper(
        win_h1, WIN, c, journal, broker=broker, clock=clock, on_event=watch, on_start=box.append
    )
    clock2 = ReplayClock()
    want = replay_paper(win_h1, WIN, c, broker=_paper(clock2, _NoQuote), clock=clock2).trades
    assert len(settled) == len(want) >= 100 and all(settled)
    assert run.trades == want


class _PositionsBehind(_LateDeals, _NoQuote):
    """As :class:`_LateDeals`, but only the position list lags (the bridge publishes
    deals and positions as separate snapshots): the entry deal shows at once."""

    hide_deals = False


def test_a_lost_entry_whose_position_is_not_listed_yet_is_not_taken_as_closed(
    win_h1: Bars, journal: Journal
) -> None:
    """Review: an entry deal with no listed position is closed only if a closing deal
    says so; otherwise its levels still move to the fill (the trades equal the run
    answered in time)."""
    c = cfg(entry="next_open")
    clock = ReplayClock()
    run = replay_paper(win_h1, WIN, c, journal, broker=_paper(clock, _PositionsBehind), clock=clock)
    clock2 = ReplayClock()
    want = replay_paper(win_h1, WIN, c, broker=_paper(clock2, _NoQuote), clock=clock2).trades
    assert len(want) >= 100
    assert run.trades == want


class _StopTimeouts(PaperBroker):
    """Every stop order is placed, then answered with a timeout (unknown)."""

    def place_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        super().place_order(*a, **kw)
        raise MtponteError("no answer within the TTL")


def test_between_bars_a_lost_stop_is_left_working_for_its_bar(
    win_h1: Bars, journal: Journal
) -> None:
    """``Runner.idle()`` between bars settles lost market entries only: a stop order
    found by its tag mid-bar is still working for that bar (cancelling it there would
    lose the trade); it is settled at the bar's close as before."""
    c = cfg(entry="stop")
    clock = ReplayClock()
    box: list[Runner] = []
    idled: list[int] = []

    def watch(_ev: BarEvent) -> None:
        if box[0].desk.unknown:
            idled.append(1)
            box[0].idle()

    broker = _paper(clock, _StopTimeouts)
    run = replay_paper(
        win_h1, WIN, c, journal, broker=broker, clock=clock, on_event=watch, on_start=box.append
    )
    clock2 = ReplayClock()
    want = replay_paper(win_h1, WIN, c, broker=_paper(clock2, _StopTimeouts), clock=clock2).trades
    assert idled and len(want) >= 50
    assert run.trades == want


def test_kill_switch_closes_and_blocks(bars: Bars, journal: Journal, tmp_path: Path) -> None:
    kill = tmp_path / "KILL_SWITCH"
    c = cfg().model_copy(update={"risk": RiskSection(kill_switch_file=kill)})
    ref = replay_paper(bars, WIN, cfg()).trades
    victim = ref[len(ref) // 2]

    def watch(ev: BarEvent) -> None:
        if ev.bar.time >= victim.entry_time and not kill.exists():
            kill.touch()

    run = replay_paper(bars, WIN, c, journal, on_event=watch)
    assert run.trades[-1].entry_time == victim.entry_time
    assert run.trades[-1].exit_reason is ExitReason.FLAT
    assert len(run.trades) == ref.index(victim) + 1
    assert rows(journal, SignalRow, outcome="refused: kill_switch")


def test_bars_must_move_forward(bars: Bars) -> None:
    clock = ReplayClock()
    r = Runner(cfg(), WIN, _paper(clock), 300, clock=clock)
    r.start()
    b0, b1 = bars.bar(0), bars.bar(1)
    r.on_event(BarEvent(b1, None, None))
    with pytest.raises(LiveError, match="not after"):
        r.on_event(BarEvent(b0, b1.time, b1.open))


def test_commands_an_earlier_run_left_open_are_settled_by_tag(journal: Journal) -> None:
    clock = ReplayClock(datetime(2024, 1, 2, 12, 0, tzinfo=UTC))
    broker = _paper(clock)
    broker.set_quote("WIN", 120_000.0)
    broker.market_order("WIN", Side.BUY, 1.0, comment="mtp:executed")  # magic 0: not ours
    journal.command("c-done", "mtp:executed", "market", "WIN")  # then the monitor crashed
    journal.command("c-lost", "mtp:never", "market", "WIN")
    journal.start_run("trade", "paper", "replay", "WIN", {})  # the restart
    Runner(cfg(), WIN, broker, 300, journal=journal, clock=clock).start()
    states = {r.id: (r.state, r.message) for r in rows_all(journal, CommandRow)}
    assert states == {
        "c-done": ("done", "settled at start by tag"),
        "c-lost": ("lost", "settled at start by tag"),
    }
    assert journal.unresolved_commands() == []


def rows_all(j: Journal, model: Any) -> list[Any]:
    from sqlalchemy import select

    j.flush()
    return list(j._conn.execute(select(model)).all())


class _FillsWhileCancelling(PaperBroker):
    """The first cancel loses the race: the order fills just before it arrives."""

    raced: str | None = None

    def cancel_order(self, ticket: str) -> ExecutionReport:
        if self.raced is not None:
            return super().cancel_order(ticket)
        o = next(o for o in self.orders() if o.ticket == ticket)
        super().cancel_order(ticket)
        self.set_quote(o.symbol, o.price)
        self.market_order(o.symbol, o.side, o.volume, o.sl, o.tp, magic=o.magic, comment=o.comment)
        self.raced = o.comment
        return ExecutionReport(False, 10013, f"no order {ticket}")


def test_a_cancel_that_loses_the_race_with_the_fill(bars: Bars, journal: Journal) -> None:
    clock = ReplayClock()
    broker = _paper(clock, _FillsWhileCancelling)
    assert isinstance(broker, _FillsWhileCancelling)
    run = replay_paper(bars, WIN, cfg(), journal, broker=broker, clock=clock)
    assert broker.raced is not None
    cancel = rows(journal, CommandRow, tag=broker.raced, kind="cancel")
    assert [c.state for c in cancel] == ["refused"]
    trades = rows(journal, TradeRow, tag=broker.raced)
    assert len(trades) == 1  # the fill was seen, supervised and closed
    assert run.broker.positions() == []
