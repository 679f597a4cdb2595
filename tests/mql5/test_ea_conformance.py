"""One conformance suite, two executors: every test here runs against the Python twin
(``bridge/executor.py`` on the paper broker, as in ``tests/bridge``) **and** against the
compiled MQL5 EA (``mql5/Experts/MtponteBridge.mq5`` built with g++ against
``mql5/harness``, running as its own process on a simulated terminal), through the same
folder protocol and the same Python client. A divergence between them is a failure.

Tests named after a review item (``../shared/reviews/mql5-bridge-review.md``, ``#n``)
were each checked to fail against the EA before its fix.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mtponte._faults import crashpoint as _real_crashpoint
from mtponte.bridge import BridgeClient, Executor, ExecutorLimits, Reason, Status
from mtponte.bridge import executor as executor_module
from mtponte.bridge.fileio import atomic_write_bytes, now_ms
from mtponte.bridge.protocol import (
    AccountState,
    BarsState,
    Command,
    Heartbeat,
    OrdersState,
    PositionsState,
    Result,
    SymbolsState,
)
from mtponte.brokers.base import TIMEOUT
from mtponte.brokers.paper import PaperBroker
from mtponte.domain.orders import ExecutionReport
from tests.mql5 import _harness as h

BID, ASK = 120_000.0, 120_005.0
ENTRY = {"in": 0, "out": 1, "inout": 2}


@dataclass
class Pos:
    ticket: str
    symbol: str
    side: str
    volume: float
    sl: float | None
    comment: str
    tp: float | None = None


@dataclass
class DealRow:
    entry: str
    volume: float
    price: float
    position: str
    comment: str


class Crash(BaseException):
    """A simulated kill -9 inside the Python executor."""


class FaultyPaper(PaperBroker):
    """The paper broker answering queued market orders with a timeout (10012): ``book``
    executes the order anyway, ``nobook`` drops it. Counts the requests it receives."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.faults: list[str] = []
        self.requests = 0
        self.drop_sl = 0  # fills that lose their stop loss (review #11)
        self.fail_sltp = 0  # SL/TP modifications refused

    def market_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        self.requests += 1
        if self.faults:
            if self.faults.pop(0) == "book":
                super().market_order(*a, **kw)
            return ExecutionReport(False, TIMEOUT, "request canceled by timeout")
        rep = super().market_order(*a, **kw)
        if rep.ok and self.drop_sl > 0:
            self.drop_sl -= 1
            with self._tx() as db:
                db.execute("UPDATE positions SET sl=NULL WHERE ticket=?", (int(rep.ticket or 0),))
        return rep

    def modify_position(self, *a: Any, **kw: Any) -> ExecutionReport:
        if self.fail_sltp > 0:
            self.fail_sltp -= 1
            return ExecutionReport(False, 10006, "request rejected")
        return super().modify_position(*a, **kw)

    def close_position(self, *a: Any, **kw: Any) -> ExecutionReport:
        self.requests += 1
        return super().close_position(*a, **kw)


class PyExec:
    """The Python twin on the paper broker."""

    name = "python"

    def __init__(self, tmp: Path, mode: str, limits: dict[str, Any], atr: float | None) -> None:
        self.root = tmp / "bridge"
        self.broker = FaultyPaper(tmp / "paper.sqlite", account_mode=mode)
        self.broker.set_quote("WIN", BID, ASK)
        self.limits = ExecutorLimits(**limits)
        self.ex = Executor(self.root, self.broker, self.limits)
        self.ex.timeout_grace_ms = 300
        if atr is not None:
            self.ex.atr["WIN"] = atr
        self.client = BridgeClient(self.root)
        self.client.heartbeat()

    def deliver(self) -> None:
        self.ex.process_inbox()

    def crash_at(self, point: str) -> None:
        """Die (a BaseException, as SIGKILL would) at ``executor.<point>``, once."""
        armed = [f"executor.{point}"]

        def crashpoint(name: str) -> None:
            if armed and name == armed[0]:
                armed.clear()
                raise Crash(name)

        executor_module.crashpoint = crashpoint  # type: ignore[attr-defined]

    def stall_after_begin(self, ms: int) -> None:
        """The clock jumps ``ms`` between journaling a command and sending it."""
        base = self.ex.clock
        skew = [0]
        self.ex.clock = lambda: base() + skew[0]

        def crashpoint(name: str) -> None:
            if name == "executor.after_begin":
                skew[0] += ms

        executor_module.crashpoint = crashpoint  # type: ignore[attr-defined]

    def run_until_crash(self) -> None:
        with pytest.raises(Crash):
            self.ex.process_inbox()
        executor_module.crashpoint = _real_crashpoint  # type: ignore[attr-defined]

    def restart(self) -> None:
        self.ex.close()
        self.ex = Executor(self.root, self.broker, self.limits)
        self.ex.timeout_grace_ms = 300
        self.ex.recover()  # what Executor.run() does first
        self.ex.process_inbox()

    def set_quote(self, bid: float, ask: float) -> None:
        if bid <= 0:  # no quote at all
            self.broker._db.execute("DELETE FROM quotes WHERE symbol='WIN'")
        else:
            self.broker.set_quote("WIN", bid, ask)

    def fault(self, kind: str) -> None:
        self.broker.faults.append(kind)

    def requests(self) -> int:
        return self.broker.requests

    def drop_sl(self, fail_sltp: bool) -> None:
        self.broker.drop_sl += 1
        self.broker.fail_sltp += int(fail_sltp)

    def positions(self) -> list[Pos]:
        return [
            Pos(p.ticket, p.symbol, p.side.name.lower(), p.volume, p.sl, p.comment, p.tp)
            for p in self.broker.positions()
        ]

    def deals(self) -> list[DealRow]:
        return [
            DealRow(d.entry, d.volume, d.price, d.position, d.comment) for d in self.broker.deals()
        ]

    def close(self) -> None:
        executor_module.crashpoint = _real_crashpoint  # type: ignore[attr-defined]
        self.ex.close()
        self.client.close()
        self.broker.close()


class EaExec:
    """The compiled EA on the simulated terminal."""

    name = "ea"

    def __init__(
        self, exe: Path, tmp: Path, mode: str, limits: dict[str, Any], atr: float | None
    ) -> None:
        inputs = {
            "DeadManMs": str(limits.get("dead_man_ms", 30_000)),
            "MaxPositions": str(limits.get("max_positions", 1)),
            "LogOnly": "true" if limits.get("log_only") else "false",
            "MaxVolume": str(limits.get("max_volume", 10.0)),
            "DailyLossLimit": str(limits.get("daily_loss_limit", 0.0)),
            "SymbolsAllowed": ",".join(limits.get("symbols_allowed", ())),
            "SlTpMaxAtr": str(limits.get("sl_tp_max_atr", 5.0)),
        }
        # a B3-like server (UTC-3) with a deposit made today in its history: neither may
        # change anything the protocol publishes or decides (review #15, #26)
        t = now_ms() - 10_800_000
        account = h.Account(
            margin_mode=h.NETTING if mode == "netting" else h.HEDGING,
            server_offset_s=-10_800,
            records=[f"deal\t900\t0\t\t2\t0\t0\t0\t50000\t0\t0\t{t}\tdeposit"]
            + (m5_bars(atr, -10_800) if atr is not None else []),
        )
        self.ea = h.EaProcess(exe, tmp / "sandbox", account, inputs)
        self.ea.start()
        self.root = self.ea.bridge
        self.client = BridgeClient(self.root, journal_path=tmp / "client.sqlite")
        self.client.heartbeat()

    def deliver(self) -> None:
        deadline = time.monotonic() + 10
        while any(not p.name.startswith(".") for p in (self.root / "inbox").iterdir()):
            assert time.monotonic() < deadline, "the EA left a command in its inbox"
            time.sleep(0.002)

    def set_quote(self, bid: float, ask: float) -> None:
        self.ea.control(f"quote\tWIN\t{bid}\t{ask}")

    # the Python twin's crash points, as harness faults (the process exits 137, no OnDeinit)
    CRASH: ClassVar[dict[str, str]] = {
        "after_begin": "crash_before_send\t1",  # journaled B and accepted, nothing sent
        "after_execute": "crash_after_send\t1",  # executed, not journaled D
        "after_finish": "crash_outbox_move\t2",  # journaled D, final result not written
        "after_result": "crash_archive_move\t1",  # result written, inbox file not archived
    }

    def crash_at(self, point: str) -> None:
        self.ea.control("fault\t" + self.CRASH[point])

    def stall_after_begin(self, ms: int) -> None:
        self.ea.control(f"fault\tskew_outbox_move:{ms}\t1")  # while `accepted` is written

    def run_until_crash(self) -> None:
        assert self.ea.proc is not None
        assert self.ea.proc.wait(timeout=10) == 137, self.ea.log_text()
        self.ea.proc = None

    def restart(self) -> None:
        self.ea.start()

    def fault(self, kind: str) -> None:
        self.ea.control(f"fault\ttimeout_{kind}\t1")

    def requests(self) -> int:
        return int(self.ea.terminal()["requests"][0][0])

    def drop_sl(self, fail_sltp: bool) -> None:
        self.ea.control("fault\tdrop_sl\t1", *(["fault\tfail_sltp\t1"] if fail_sltp else []))

    def positions(self) -> list[Pos]:
        rows = self.ea.terminal().get("position", [])
        return [
            Pos(
                r[0],
                r[2],
                "buy" if r[3] == "0" else "sell",
                float(r[4]),
                float(r[6]) or None,
                r[10],
                float(r[7]) or None,
            )
            for r in rows
        ]

    def deals(self) -> list[DealRow]:
        rows = self.ea.terminal().get("deal", [])
        names = {v: k for k, v in ENTRY.items()}
        return [  # trades only (DEAL_TYPE_BUY/SELL), not the deposit
            DealRow(names[int(r[4])], float(r[5]), float(r[6]), r[9], r[11])
            for r in rows
            if r[3] in ("0", "1")
        ]

    def close(self) -> None:
        if self.ea.proc is not None:
            self.ea.stop()
        self.client.close()


Executor_ = PyExec | EaExec


@pytest.fixture(scope="session")
def ea_exe() -> Path:
    return h.build()


def m5_bars(atr: float, offset_s: int, n: int = 20) -> list[str]:
    """``n`` M5 bars (server time) whose true range is ``atr`` each, the newest forming."""
    now = (now_ms() // 1000 + offset_s) // 300 * 300
    lo, hi = 120_000 - atr / 2, 120_000 + atr / 2
    return [
        f"bar\tWIN\t5\t{now - (n - 1 - i) * 300}\t120000\t{hi}\t{lo}\t120000\t{100 + i}"
        for i in range(n)
    ]


def make(
    which: str,
    tmp: Path,
    exe: Path | None,
    mode: str = "hedging",
    atr: float | None = None,
    **limits: Any,
) -> Any:
    limits = {"dead_man_ms": 0, "max_positions": 5} | limits
    if which == "python":
        return PyExec(tmp, mode, limits, atr)
    assert exe is not None
    return EaExec(exe, tmp, mode, limits, atr)


BOTH = pytest.mark.parametrize("which", ["python", "ea"])
MODES = pytest.mark.parametrize("mode", ["hedging", "netting"])


@pytest.fixture
def execs(request, tmp_path):  # type: ignore[no-untyped-def]
    made: list[Any] = []

    def factory(which: str, mode: str = "hedging", atr: float | None = None, **limits: Any) -> Any:
        exe = request.getfixturevalue("ea_exe") if which == "ea" else None
        e = make(which, tmp_path / f"{which}{len(made)}", exe, mode, atr, **limits)
        made.append(e)
        return e

    yield factory
    for e in made:
        e.close()


def send(e: Any, kind: str, **fields: Any) -> Result:
    cmd = e.client.command(kind, **fields)
    return send_cmd(e, cmd)


def send_cmd(e: Any, cmd: Command) -> Result:
    e.client.send(cmd)
    if isinstance(e, PyExec):
        e.deliver()
        res = e.client.result(cmd.id)
        assert res is not None
        return res
    return e.client.wait(cmd.id, timeout_s=10)


def open_(e: Any, **over: Any) -> Result:
    fields = {"symbol": "WIN", "side": "buy", "volume": 1, "sl": 119_000.0, "tp": 121_000.0}
    return send(e, "open", **(fields | over))


def entries(e: Any) -> list[DealRow]:
    return [d for d in e.deals() if d.entry in ("in", "inout")]


# ---------------------------------------------------------------------- basics
@BOTH
@MODES
def test_open_with_sl_tp_fills_with_deal_and_price(execs, which, mode):
    e = execs(which, mode)
    res = open_(e)
    assert res.status is Status.FILLED, res
    assert res.deal and res.order and res.ticket and res.price == ASK and res.volume == 1
    (p,) = e.positions()
    assert p.side == "buy" and p.volume == 1 and p.sl == 119_000
    assert p.comment.startswith("mtp:") and len(p.comment) == 24
    (d,) = e.deals()
    assert d.entry == "in" and d.comment == p.comment


@BOTH
@MODES
def test_close_flattens_and_its_deal_carries_the_tag(execs, which, mode):
    """Review #5: a close is tagged like every order the bridge sends."""
    e = execs(which, mode)
    t = open_(e).ticket
    cmd = e.client.command("close", ticket=t)
    res = send_cmd(e, cmd)
    assert res.status is Status.FILLED and res.price == BID, res
    assert e.positions() == []
    out = [d for d in e.deals() if d.entry == "out"]
    assert [d.comment for d in out] == [cmd.tag]


@BOTH
def test_ping_and_failed_close_carry_no_stale_deal(execs, which):
    """Review #2: a result never carries the previous command's deal."""
    e = execs(which)
    assert open_(e).status is Status.FILLED
    pong = send(e, "ping")
    assert pong.status is Status.FILLED and pong.deal is None and pong.order is None
    bad = send(e, "close", ticket="999999")
    assert bad.status is Status.FAILED and bad.reason is Reason.NO_SUCH_POSITION, bad
    assert bad.deal is None
    bad_mod = send(e, "modify", ticket="999999", sl=119_500.0)
    assert bad_mod.status is Status.FAILED and bad_mod.reason is Reason.NO_SUCH_POSITION, bad_mod
    assert len(e.positions()) == 1


@BOTH
def test_modify_place_cancel(execs, which):
    e = execs(which)
    t = open_(e).ticket
    assert send(e, "modify", ticket=t, sl=119_500.0).status is Status.FILLED
    assert e.positions()[0].sl == 119_500
    placed = send(
        e,
        "place",
        symbol="WIN",
        side="buy",
        order_type="stop",
        price=120_500.0,
        volume=1,
        sl=120_000.0,
        expiry=now_ms() + 3_600_000,
    )
    assert placed.status is Status.FILLED and placed.order, placed
    assert send(e, "cancel", ticket=placed.order).status is Status.FILLED
    gone = send(e, "cancel", ticket=placed.order)
    assert gone.status is Status.FAILED and gone.reason is Reason.NO_SUCH_ORDER, gone


@BOTH
def test_off_grid_levels_are_traded_on_the_tick_grid(execs, which):
    """Review #16: an SL/TP computed from an ATR is off the 5-point WIN grid; the order
    and a later tightening modify still go through (the EA snaps to the grid, which
    MT5 requires; the paper broker accepts any level)."""
    e = execs(which)
    res = open_(e, sl=119_003.0, tp=121_001.0)
    assert res.status is Status.FILLED, res
    (p,) = e.positions()
    assert p.sl is not None and abs(p.sl - 119_003) <= 2.5
    mod = send(e, "modify", ticket=res.ticket, sl=119_502.0)
    assert mod.status is Status.FILLED, mod
    (p,) = e.positions()
    assert p.sl is not None and abs(p.sl - 119_502) <= 2.5


@BOTH
def test_no_quote_fails_as_no_quote(execs, which):
    """Review #32: without a quote the level checks are skipped (not 'sl_wrong_side'
    against a price of 0) and the send fails as no_quote."""
    e = execs(which)
    e.set_quote(0, 0)
    res = open_(e)
    assert res.status is Status.FAILED and res.reason is Reason.NO_QUOTE, res
    assert e.deals() == []


@BOTH
def test_modify_is_idempotent(execs, which):
    """Review #27: modify is idempotent (a replay after a crash sends the same levels):
    the same SL twice is 'filled' twice, never a broker error."""
    e = execs(which)
    t = open_(e).ticket
    assert send(e, "modify", ticket=t, sl=119_500.0).status is Status.FILLED
    again = send(e, "modify", ticket=t, sl=119_500.0)
    assert again.status is Status.FILLED, again


@BOTH
def test_daily_loss_limit_counts_trades_only(execs, which):
    """Review #15: today's P&L is trading P&L; a deposit in the history does not hide a
    loss."""
    e = execs(which, daily_loss_limit=50)
    t = open_(e).ticket
    e.set_quote(119_600, 119_605)  # -405 points = -R$81 on WIN
    assert open_(e, sl=118_000.0).reason is Reason.DAILY_LOSS_LIMIT
    assert send(e, "close", ticket=t).status is Status.FILLED


@BOTH
def test_state_snapshots_read_like_the_twins(execs, which):
    """Review #24, #26, #32: every state file parses with the protocol's models; times
    are UTC whatever the server's offset; missing SL/TP/expiry are null, not 0;
    symbols.json is published."""
    e = execs(which)
    before = now_ms()
    assert open_(e, tp=None).status is Status.FILLED
    expiry = now_ms() + 3_600_000
    placed = send(
        e,
        "place",
        symbol="WIN",
        side="sell",
        order_type="limit",
        price=120_500.0,
        volume=1,
        sl=121_000.0,
        expiry=expiry,
    )
    assert placed.status is Status.FILLED, placed
    st = e.root / "state"
    if isinstance(e, PyExec):
        e.ex.write_state()
    deadline = time.monotonic() + 5
    while True:
        try:
            orders = OrdersState.model_validate_json((st / "orders.json").read_text())
            if orders.orders:
                break
        except (FileNotFoundError, ValueError):
            pass
        assert time.monotonic() < deadline, "no orders.json with the pending order"
        time.sleep(0.02)
    (o,) = orders.orders
    assert (o.side, o.order_type, o.price, o.sl, o.tp) == ("sell", "limit", 120_500, 121_000, None)
    assert o.expiry is not None and abs(o.expiry - expiry) < 1_000  # MT5: whole seconds
    (p,) = PositionsState.model_validate_json((st / "positions.json").read_text()).positions
    assert (p.side, p.sl, p.tp) == ("buy", 119_000, None)
    assert before - 2_000 <= p.open_time <= now_ms() + 1_000
    syms = SymbolsState.model_validate_json((st / "symbols.json").read_text()).symbols
    win = next(s for s in syms if s.name == "WIN")
    assert (win.tick_size, win.lot_min, win.lot_step) == (5, 1, 1) and "fok" in win.filling_modes
    hb = Heartbeat.model_validate_json((st / "heartbeat.json").read_text())
    assert abs(hb.time - now_ms()) < 5_000
    # The EA says its server's offset (issue 16 #6); the paper twin has no server clock.
    assert hb.server_offset_s == (-10_800 if which == "ea" else None)
    AccountState.model_validate_json((st / "account.json").read_text())


# ---------------------------------------------------------------------- checks
@BOTH
@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"symbol": "PETR4"}, Reason.UNKNOWN_SYMBOL),
        ({"volume": 1.5}, Reason.INVALID_VOLUME),
        ({"volume": 50.0}, Reason.MAX_VOLUME),
        ({"sl": 120_100.0}, Reason.SL_WRONG_SIDE),
        ({"tp": 119_900.0}, Reason.TP_WRONG_SIDE),
        ({"sl": None}, Reason.MISSING_SL),
    ],
)
def test_checks_reject_with_the_same_reason(execs, which, over, reason):
    e = execs(which)
    fields = {"symbol": "WIN", "side": "buy", "volume": 1, "sl": 119_000.0, "tp": 121_000.0}
    fields = {k: v for k, v in (fields | over).items() if v is not None}
    res = send(e, "open", **fields)
    assert res.status is Status.REJECTED and res.reason is reason, res
    assert e.deals() == []


@BOTH
def test_expired_and_future_commands_are_refused(execs, which):
    e = execs(which)
    base = {"symbol": "WIN", "side": "buy", "volume": 1, "sl": 119_000.0}
    old = e.client.command("open", **base).model_copy(update={"created_at": now_ms() - 60_000})
    assert send_cmd(e, old).reason is Reason.EXPIRED
    fut = e.client.command("open", **base).model_copy(update={"created_at": now_ms() + 60_000})
    assert send_cmd(e, fut).reason is Reason.FUTURE_TIMESTAMP
    assert e.deals() == []


@BOTH
def test_duplicate_id_never_executes_twice(execs, which):
    e = execs(which)
    cmd = e.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    assert send_cmd(e, cmd).status is Status.FILLED
    # the same file again (a replay) and the same id under another seq
    atomic_write_bytes(e.root / "inbox" / cmd.file_name, cmd.model_dump_json().encode())
    e.deliver()
    other = cmd.model_copy(update={"seq": cmd.seq + 100})
    atomic_write_bytes(e.root / "inbox" / other.file_name, other.model_dump_json().encode())
    e.deliver()
    assert len(entries(e)) == 1
    res = e.client.result(cmd.id)
    assert res is not None and res.status is Status.FILLED and res.seq == cmd.seq
    dup = json.loads(
        (e.root / "journal" / "rejected" / f"{other.file_name[:-5]}.result.json").read_text()
    )
    assert dup["reason"] == "duplicate_id"


@BOTH
def test_kill_switch_flattens_and_refuses(execs, which):
    e = execs(which)
    assert open_(e).status is Status.FILLED
    (e.root / "KILL_SWITCH").write_text("now")
    assert open_(e).reason is Reason.KILL_SWITCH
    assert e.positions() == []
    (e.root / "KILL_SWITCH").unlink()
    assert open_(e).status is Status.FILLED


@BOTH
def test_log_only_sends_nothing(execs, which):
    e = execs(which, log_only=True)
    res = open_(e)
    assert res.status is Status.DRY_RUN and e.deals() == []


@BOTH
def test_invalid_files_are_rejected_by_name(execs, which):
    e = execs(which)
    cid = str(uuid.uuid4())
    atomic_write_bytes(e.root / "inbox" / f"{1:012d}-{cid}.json", b'{"v":1,')
    e.deliver()
    res = e.client.result(cid)
    assert res is not None and res.status is Status.REJECTED and res.reason is Reason.INVALID_JSON


def raw_open(**over: Any) -> dict[str, Any]:
    base = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "seq": 1,
        "created_at": now_ms(),
        "ttl_ms": 10_000,
        "kind": "open",
        "symbol": "WIN",
        "side": "buy",
        "volume": 1.0,
        "sl": 119_000.0,
    }
    return {k: v for k, v in (base | over).items() if v is not None}


@BOTH
@pytest.mark.parametrize(
    "over",
    [
        {"max_deviation_points": -5},  # review #28: (ulong)-5 = unlimited slippage
        {"max_deviation_points": 100_001},
        {"ttl_ms": 86_400_001},
        {"kind": "close", "ticket": "12abc", "symbol": None, "side": None, "volume": None},
        {"confidence": 1.5},
        {"strategy": "x" * 65},
        {"symbol": ""},
        {"magic": -1},
        {"id": str(uuid.uuid1())},
        {"expiry": -1},
    ],
    ids=lambda o: ",".join(o)[:30],
)
def test_fields_out_of_range_are_refused_by_both(execs, which, over):
    """Review #28: the EA validates every field like the pydantic model (invalid_field),
    never executes what the Python twin refuses."""
    e = execs(which)
    cmd = raw_open(seq=7, **over)
    atomic_write_bytes(e.root / "inbox" / f"{7:012d}-{cmd['id']}.json", json.dumps(cmd).encode())
    e.deliver()
    res = e.client.result(cmd["id"])
    assert res is not None and res.status is Status.REJECTED, res
    assert res.reason is Reason.INVALID_FIELD, res
    assert e.deals() == []


@BOTH
@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("{seq:012d}-{id}.json", b'{"v":1,"id":"\xff"}', Reason.INVALID_UTF8),
        ("{seq:012d}-{id}.json", b'{"v":1,', Reason.INVALID_JSON),
        ("{seq:012d}-{id}.json", b"[1,2]", Reason.INVALID_JSON),
        ("{seq:012d}-{id}.json", {"v": 2}, Reason.UNKNOWN_VERSION),
        ("{seq:012d}-{id}.json", {"kind": "explode"}, Reason.UNKNOWN_KIND),
        ("{seq:012d}-{id}.json", {"extra": 1}, Reason.INVALID_FIELD),
        ("{seq:012d}-{id}.json", {"volume": True}, Reason.INVALID_FIELD),  # the twin filled 1 lot
        ("{seq:012d}-{id}.json", {"sl": "119000"}, Reason.INVALID_FIELD),
        ("{seq:012d}-{id}.json", {"ttl_ms": 600000.0}, Reason.INVALID_FIELD),
        ("{seq:012d}-{id}.json", {"created_at": str(now_ms())}, Reason.INVALID_FIELD),
        ("{seq:012d}-{id}.json", {"v": 1.0}, Reason.UNKNOWN_VERSION),
        ("{other:012d}-{id}.json", {}, Reason.INVALID_NAME),
    ],
    ids=lambda v: v.value if isinstance(v, Reason) else None,
)
def test_malformed_files_are_rejected_with_the_same_reason(execs, which, name, data, reason):
    e = execs(which)
    cmd = raw_open(seq=3)
    if isinstance(data, dict):
        data = json.dumps(cmd | data).encode()
    fname = name.format(seq=3, other=4, id=cmd["id"])
    atomic_write_bytes(e.root / "inbox" / fname, data)
    e.deliver()
    res = e.client.result(cmd["id"])
    assert res is not None and res.status is Status.REJECTED and res.reason is reason, res
    assert e.deals() == []
    assert (e.root / "journal" / "rejected" / fname).exists()


@BOTH
def test_an_id_rejected_at_parse_time_is_never_executed_later(execs, which):
    """A truncated file is rejected under the id in its name; the same file rewritten
    complete, or the id under another seq, is never executed and never overwrites that
    result (the chaos check found the twin executing both)."""
    e = execs(which)
    cmd = raw_open(seq=3)
    name = f"{3:012d}-{cmd['id']}.json"
    atomic_write_bytes(e.root / "inbox" / name, json.dumps(cmd).encode()[:20])
    e.deliver()
    first = e.client.result(cmd["id"])
    assert first is not None and first.reason is Reason.INVALID_JSON, first
    atomic_write_bytes(e.root / "inbox" / name, json.dumps(cmd).encode())
    e.deliver()
    other = cmd | {"seq": 4}
    atomic_write_bytes(e.root / "inbox" / f"{4:012d}-{cmd['id']}.json", json.dumps(other).encode())
    e.deliver()
    assert e.deals() == [] and e.requests() == 0
    assert e.client.result(cmd["id"]) == first


@BOTH
def test_sl_tp_within_the_atr_limit(execs, which):
    """SL/TP farther than sl_tp_max_atr × ATR are refused (the EA computes the ATR from
    M5 bars whose true range is 100; the twin is given ATR 100)."""
    e = execs(which, atr=100.0, sl_tp_max_atr=2.0)
    assert open_(e).reason is Reason.SL_TP_TOO_FAR  # SL 1 005 points away > 2 × 100
    assert open_(e, sl=119_850.0, tp=120_150.0).status is Status.FILLED


@BOTH
def test_whitelist_and_max_positions(execs, which):
    e = execs(which, max_positions=1, symbols_allowed=("WDO",))
    assert open_(e).reason is Reason.SYMBOL_NOT_ALLOWED
    e2 = execs(which, max_positions=1)
    assert open_(e2).status is Status.FILLED
    assert open_(e2).reason is Reason.MAX_POSITIONS


@BOTH
@MODES
def test_second_entry_adds_a_position_or_grows_the_one(execs, which, mode):
    """Netting: one position per symbol, an opposite deal reduces or reverses it;
    hedging: one position per entry."""
    e = execs(which, mode)
    first = open_(e)
    second = open_(e)
    assert first.status is second.status is Status.FILLED
    if mode == "netting":
        (p,) = e.positions()
        assert p.volume == 2 and second.ticket == first.ticket
        rev = open_(e, side="sell", volume=3, sl=121_000.0, tp=119_000.0)
        assert rev.status is Status.FILLED, rev
        (p,) = e.positions()
        assert (p.side, p.volume) == ("sell", 1)
        assert [d.entry for d in e.deals()] == ["in", "in", "inout"]
    else:
        assert sorted(p.volume for p in e.positions()) == [1, 1]
        assert second.ticket != first.ticket


@BOTH
@MODES
@pytest.mark.parametrize("sltp_fails", [False, True], ids=["sl_set_again", "sl_refused"])
def test_a_stop_loss_the_broker_drops_on_a_fill_is_set_again_or_the_position_closed(
    execs, which, mode, sltp_fails
):
    """Review #11: the broker fills an entry without its stop loss. Checked after the fill:
    the SL is set again (filled); if that is refused, what the entry opened is closed and
    the result is failed/broker_error: never a naked position."""
    e = execs(which, mode)
    e.drop_sl(sltp_fails)
    res = open_(e)
    if not sltp_fails:
        assert res.status is Status.FILLED, res
        (p,) = e.positions()
        assert p.sl == 119_000.0
    else:
        assert (res.status, res.reason) == (Status.FAILED, Reason.BROKER_ERROR), res
        assert "position closed" in res.message and res.ticket is not None, res
        assert e.positions() == []
        assert [d.entry for d in e.deals()] == ["in", "out"]


@BOTH
def test_a_netting_add_keeps_the_levels_the_command_omits(execs, which):
    """Review #12: on netting an entry that grows our position sets the position's SL/TP
    from its own (MT5: the latest order's levels, zero deletes). A level the command
    omits keeps the position's current one: an add without `tp` never deletes the TP."""
    e = execs(which, "netting")
    assert open_(e).status is Status.FILLED
    res = send(e, "open", symbol="WIN", side="buy", volume=1, sl=119_500.0)
    assert res.status is Status.FILLED, res
    (p,) = e.positions()
    assert (p.volume, p.sl, p.tp) == (2, 119_500.0, 121_000.0)
    res = send(e, "open", symbol="WIN", side="buy", volume=1, sl=119_400.0, tp=120_900.0)
    (p,) = e.positions()
    assert (p.volume, p.sl, p.tp) == (3, 119_400.0, 120_900.0)


@BOTH
def test_close_all_flattens_and_cancels(execs, which):
    e = execs(which)
    open_(e)
    open_(e, side="sell", sl=121_000.0, tp=119_000.0)
    placed = send(
        e,
        "place",
        symbol="WIN",
        side="buy",
        order_type="stop",
        price=120_500.0,
        volume=1,
        sl=120_000.0,
        expiry=now_ms() + 3_600_000,
    )
    assert placed.status is Status.FILLED
    cmd = e.client.command("close_all")
    res = send_cmd(e, cmd)
    assert res.status is Status.FILLED and res.deal is None, res
    assert e.positions() == []
    assert [d.comment for d in e.deals() if d.entry == "out"] == [cmd.tag, cmd.tag]


# ---------------------------------------------------------------------- dead-man (#23)
@BOTH
def test_dead_man_accepts_a_fresh_heartbeat_and_refuses_a_stale_one(execs, which):
    """Review #23: a heartbeat written just before the command (Python's BridgeBroker
    does exactly that) is fresh, never 'negative age'."""
    e = execs(which, dead_man_ms=30_000)
    for _ in range(4):
        e.client.heartbeat()
        res = open_(e)
        assert res.status is Status.FILLED, res
    hb = json.loads((e.root / "state" / "python-heartbeat.json").read_text())
    hb["time"] -= 60_000
    (e.root / "state" / "python-heartbeat.json").write_text(json.dumps(hb))
    assert open_(e).reason is Reason.DEAD_MAN


# ---------------------------------------------------------------------- netting (#1)
@BOTH
@MODES
def test_partial_close_reduces_the_position(execs, which, mode):
    """Review #1: a partial close (close with volume) really reduces the position, on
    netting accounts too, and is tagged."""
    e = execs(which, mode)
    t = open_(e, volume=3).ticket
    cmd = e.client.command("close", ticket=t, volume=1)
    res = send_cmd(e, cmd)
    assert res.status is Status.FILLED and res.volume == 1, res
    (p,) = e.positions()
    assert p.volume == 2
    out = [d for d in e.deals() if d.entry == "out"]
    assert [(d.volume, d.comment) for d in out] == [(1.0, cmd.tag)]


# ---------------------------------------------------------------------- 10012 (#3)
@BOTH
@pytest.mark.parametrize("book", [True, False])
def test_timeout_is_never_sent_again(execs, which, book):
    """Review #3: a 10012 answer is settled by looking for the tag, never by sending
    the order again: booked → filled (recovered), not booked → unknown."""
    e = execs(which)
    e.fault("book" if book else "nobook")
    res = open_(e)
    assert e.requests() == 1
    if book:
        assert res.status is Status.FILLED and res.reason is Reason.RECOVERED, res
        assert len(entries(e)) == 1
    else:
        assert res.status is Status.UNKNOWN and res.retcode == 10012, res
        assert entries(e) == []


@BOTH
def test_ttl_is_checked_again_just_before_sending(execs, which):
    """A command that expires between its checks and its send is never executed late
    (the chaos check saw fills 1-3 ms after the deadline)."""
    e = execs(which)
    e.stall_after_begin(20_000)
    res = open_(e)
    assert res.status is Status.REJECTED and res.reason is Reason.EXPIRED, res
    assert e.deals() == [] and e.requests() == 0


# ---------------------------------------------------------------------- crashes
@BOTH
@pytest.mark.parametrize("point", ["after_begin", "after_execute", "after_finish", "after_result"])
def test_a_crash_at_every_point_executes_exactly_once(execs, which, point):
    """Kill the executor inside each window exactly-once depends on, restart it: the
    command ends with one final result and exactly one execution."""
    e = execs(which)
    e.crash_at(point)
    cmd = e.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    e.client.send(cmd)
    e.run_until_crash()
    e.restart()
    e.deliver()
    res = e.client.wait(cmd.id, timeout_s=10)
    assert res.status is Status.FILLED, res
    assert len(entries(e)) == 1 and e.requests() == 1
    assert not any(p for p in (e.root / "inbox").iterdir() if not p.name.startswith("."))


@BOTH
def test_a_crashed_entry_is_checked_again_before_it_is_sent(execs, which):
    """Review #21: an entry interrupted before it was sent, and not found at the broker,
    is a new decision on restart: a kill switch set meanwhile refuses it. (Both
    executors sent it blindly before.)"""
    e = execs(which)
    e.crash_at("after_begin")
    cmd = e.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    e.client.send(cmd)
    e.run_until_crash()
    (e.root / "KILL_SWITCH").write_text("operator")
    e.restart()
    e.deliver()
    res = e.client.wait(cmd.id, timeout_s=10)
    assert res.status is Status.REJECTED and res.reason is Reason.KILL_SWITCH, res
    assert entries(e) == [] and e.requests() == 0


@BOTH
def test_kill_switch_flattens_whatever_magic_the_command_named(execs, which):
    """Review #8: an order sent with another magic than the executor's is still closed
    by the kill switch and counted by the limits."""
    e = execs(which)
    assert open_(e, magic=123).status is Status.FILLED
    (e.root / "KILL_SWITCH").write_text("now")
    assert open_(e).reason is Reason.KILL_SWITCH
    assert e.positions() == []


# ---------------------------------------------------------------------- EA only
# What the paper broker has no notion of (a terminal that connects late, server time,
# symbol filling flags) is checked on the EA alone.


def _bridge(tmp: Path) -> Path:
    return tmp / "sandbox" / "MQL5" / "Files" / "mtponte"


def test_recovery_waits_for_the_terminal_connection(ea_exe, tmp_path):
    """Review #4: after a restart the EA resolves interrupted commands only once the
    terminal is connected: an order that was filled is found by its tag, not sent again
    (and not reported expired)."""
    client = BridgeClient(_bridge(tmp_path), journal_path=tmp_path / "client.sqlite")
    cmd = client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    raw = cmd.model_dump_json(exclude_none=True)
    journal = _bridge(tmp_path) / "journal" / "ea-journal.txt"
    journal.write_text(f"B\t{cmd.id}\t{cmd.seq}\t{raw}\n", encoding="utf-8")
    t = now_ms()
    account = h.Account(
        margin_mode=h.NETTING,
        connected=False,
        records=[
            f"deal\t5001\t5000\tWIN\t0\t0\t1\t120005\t0\t20251103\t5000\t{t}\t{cmd.tag}",
            f"position\t5000\t5000\tWIN\t0\t1\t120005\t119000\t0\t20251103\t{t}\t{cmd.tag}",
        ],
    )
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", account, {})
    ea.start()
    try:
        time.sleep(0.4)  # the terminal is still connecting
        ea.control("connected\t1")
        res = client.wait(cmd.id, timeout_s=10)
        assert res.status is Status.FILLED and res.reason is Reason.RECOVERED, res
        assert ea.terminal()["requests"] == [["0"]]
        assert len(ea.terminal()["deal"]) == 1
    finally:
        ea.stop()
        client.close()


def test_pending_expiry_is_sent_in_server_time(ea_exe, tmp_path):
    """Review #9: the protocol's expiry is UTC; MT5 expects server time. On a UTC-3
    server the order must expire at the UTC instant asked, not three hours later."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(server_offset_s=-10_800), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        expiry = now_ms() + 2_500
        res = client.call(
            "place",
            symbol="WIN",
            side="buy",
            order_type="stop",
            price=120_500.0,
            volume=1,
            sl=120_000.0,
            expiry=expiry,
            timeout_s=10,
        )
        assert res.status is Status.FILLED, res
        (order,) = ea.terminal()["order"]
        assert int(order[8]) == expiry // 1000 - 10_800  # ORDER_TIME_EXPIRATION, server time
        deadline = time.monotonic() + 6
        while ea.terminal().get("order"):
            assert time.monotonic() < deadline, "the pending order outlived its expiry"
            time.sleep(0.05)
        assert [r[5] for r in ea.terminal()["horder"]] == ["6"]  # ORDER_STATE_EXPIRED
    finally:
        ea.stop()
        client.close()


@pytest.mark.parametrize("path", ["no_specified", "booked_as_day"])
def test_a_pending_order_that_cannot_expire_at_its_expiry_is_never_left(ea_exe, tmp_path, path):
    """Review #9: a symbol whose SYMBOL_EXPIRATION_MODE lacks SPECIFIED is refused before
    sending (`invalid_field`, never placed as DAY); an order the server books with another
    ORDER_TYPE_TIME or a later ORDER_TIME_EXPIRATION (read back after placing) is
    cancelled and the result is failed (10022)."""
    spec = h.SymbolSpec(expiration=15 & ~4) if path == "no_specified" else h.SymbolSpec()
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(symbols=[spec]), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        if path == "booked_as_day":
            ea.control("fault\tpending_day\t1")
        res = client.call(
            "place",
            symbol="WIN",
            side="buy",
            order_type="stop",
            price=120_500.0,
            volume=1,
            sl=120_000.0,
            expiry=now_ms() + 60_000,
            timeout_s=10,
        )
        if path == "no_specified":
            assert (res.status, res.reason) == (Status.REJECTED, Reason.INVALID_FIELD), res
            assert "SYMBOL_EXPIRATION_MODE" in res.message
            assert ea.terminal()["requests"] == [["0"]]
        else:
            assert (res.status, res.reason, res.retcode) == (
                Status.FAILED,
                Reason.BROKER_ERROR,
                10022,
            ), res
            assert "cancelled" in res.message, res
        assert not ea.terminal().get("order")
    finally:
        ea.stop()
        client.close()


def test_return_only_symbol_fills_entries_and_closes(ea_exe, tmp_path):
    """Review #14: a symbol that allows neither FOK nor IOC (exchange execution) is
    traded with RETURN, for entries and for closes."""
    account = h.Account(symbols=[h.SymbolSpec(filling=0)])
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", account, {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        res = client.call("open", symbol="WIN", side="sell", volume=2, sl=121_000.0, timeout_s=10)
        assert res.status is Status.FILLED, res
        assert client.call("close", ticket=res.ticket, timeout_s=10).status is Status.FILLED
        assert "position" not in ea.terminal()
    finally:
        ea.stop()
        client.close()


def _journaled_open(tmp: Path, torn_done: bool = False) -> tuple[BridgeClient, Command, list[str]]:
    """A command the EA journaled (B) and sent before it died, and its deal at the broker."""
    client = BridgeClient(_bridge(tmp), journal_path=tmp / "client.sqlite")
    cmd = client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    raw = cmd.model_dump_json(exclude_none=True)
    lines = f"B\t{cmd.id}\t{cmd.seq}\t{raw}\n"
    if torn_done:  # a power cut in the middle of the D line
        lines += f'D\t{cmd.id}\t{cmd.seq}\t{{"v":1,"id":"{cmd.id}","seq":{cmd.seq},"sta'
    (_bridge(tmp) / "journal" / "ea-journal.txt").write_text(lines, encoding="utf-8")
    t = now_ms()
    records = [
        f"deal\t5001\t5000\tWIN\t0\t0\t1\t120005\t0\t20251103\t5000\t{t}\t{cmd.tag}",
        f"position\t5000\t5000\tWIN\t0\t1\t120005\t119000\t0\t20251103\t{t}\t{cmd.tag}",
    ]
    return client, cmd, records


def test_a_torn_journal_line_is_resolved_not_published(ea_exe, tmp_path):
    """Review #20: a D line cut by a power cut is not a final result: the command is
    resolved from the broker's records and a complete result is published."""
    client, cmd, records = _journaled_open(tmp_path, torn_done=True)
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(records=records), {})
    ea.start()
    try:
        res = client.wait(cmd.id, timeout_s=3)
        assert res.status is Status.FILLED and res.reason is Reason.RECOVERED, res
        assert ea.terminal()["requests"] == [["0"]]
    finally:
        ea.stop()
        client.close()


@pytest.mark.parametrize("rewrite", ["suffix: [b3]", "truncate:18"])
def test_a_timed_out_order_is_found_under_a_rewritten_comment(ea_exe, tmp_path, rewrite):
    """Review #6: the broker may append to or cut the comment; the tag is still found,
    so a 10012 whose order executed is reported filled, never sent again."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(comment_rewrite=rewrite), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        ea.control("fault\ttimeout_book\t1")
        res = client.call("open", symbol="WIN", side="buy", volume=1, sl=119_000.0, timeout_s=10)
        assert res.status is Status.FILLED and res.reason is Reason.RECOVERED, res
        assert ea.terminal()["requests"] == [["1"]]
    finally:
        ea.stop()
        client.close()


def test_a_second_ea_on_the_same_folder_refuses_to_start(ea_exe, tmp_path):
    """Review #7: two EAs on one bridge folder would both execute every command; the
    second one fails OnInit (journal/ea.lock is held by the first)."""
    first = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), {})
    first.start()
    try:
        second = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), {})
        second.start(wait=False)
        assert second.proc is not None
        assert second.proc.wait(timeout=10) == 3, second.log_text()  # OnInit failed
        second.proc = None
        client = BridgeClient(first.bridge, journal_path=tmp_path / "client.sqlite")
        assert client.call("ping", timeout_s=10).status is Status.FILLED
        client.close()
    finally:
        first.stop()


def test_no_order_without_its_journal_line(ea_exe, tmp_path):
    """Review #19: when the journal cannot be written the command is not sent and the
    EA stops (ExpertRemove), instead of trading without its durable record."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        ea.control("fault\tfail_open:ea-journal.txt\t1")
        cmd = client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
        client.send(cmd)
        assert ea.proc is not None
        assert ea.proc.wait(timeout=10) == 0  # ExpertRemove: OnDeinit, then exit
        ea.proc = None
        assert ea.terminal()["requests"] == [["0"]]
        assert "JOURNAL UNAVAILABLE" in ea.log_text()
    finally:
        if ea.proc is not None:
            ea.stop()
        client.close()


def test_a_placed_market_order_reports_its_real_deal(ea_exe, tmp_path):
    """Review #17: on exchange execution a market order may be answered 10008 (placed)
    with its deal arriving later; the result waits for the deal and reports it, never a
    'filled' without deal or price."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(margin_mode=h.NETTING), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        ea.control("history_delay\t3", "fault\tplaced_async\t1")
        res = client.call("open", symbol="WIN", side="buy", volume=2, sl=119_000.0, timeout_s=10)
        assert res.status is Status.FILLED, res
        (deal,) = ea.terminal()["deal"]
        assert (res.deal, res.price, res.volume) == (deal[0], ASK, 2.0)
        assert ea.terminal()["requests"] == [["1"]]
    finally:
        ea.stop()
        client.close()


def test_a_stop_loss_the_symbol_refuses_is_never_dropped(ea_exe, tmp_path):
    """Review #11: on a symbol whose SYMBOL_ORDER_MODE lacks SYMBOL_ORDER_SL, an entry
    with a stop is refused; it never opens a naked position."""
    account = h.Account(symbols=[h.SymbolSpec(order_mode=127 & ~16)])
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", account, {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        res = client.call("open", symbol="WIN", side="buy", volume=1, sl=119_000.0, timeout_s=10)
        assert res.status is Status.REJECTED and res.reason is Reason.MISSING_SL, res
        assert "position" not in ea.terminal()
    finally:
        ea.stop()
        client.close()


def test_kill_switch_closes_every_symbol_with_its_own_filling(ea_exe, tmp_path):
    """Review #13: the kill switch flattens a multi-symbol book, each close with a filling
    its symbol allows (not whatever the last command left), and it retries at most once
    a second."""
    symbols = [
        h.SymbolSpec(name="WIN", filling=1),  # FOK only
        h.SymbolSpec(name="WDO", digits=1, tick_size=0.5, filling=2, bid=5_000.0, ask=5_000.5),
    ]
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(symbols=symbols), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        for sym, sl in (("WIN", 119_000.0), ("WDO", 4_990.0)):
            res = client.call("open", symbol=sym, side="buy", volume=1, sl=sl, timeout_s=10)
            assert res.status is Status.FILLED, res
        (ea.bridge / "KILL_SWITCH").write_text("now")
        deadline = time.monotonic() + 5
        while "position" in ea.terminal():
            assert time.monotonic() < deadline, ea.terminal().get("position")
            time.sleep(0.02)
        time.sleep(0.3)
        assert int(ea.terminal()["requests"][0][0]) == 4  # two opens, two closes
        out = [d for d in ea.terminal()["deal"] if d[4] == "1"]
        assert sorted(d[11] for d in out) == ["mtp:kill", "mtp:kill"]
    finally:
        ea.stop()
        client.close()


def test_kill_9_at_random_moments_executes_each_command_exactly_once(ea_exe, tmp_path):
    """The crash drill on the compiled EA: commands stream in while the EA process is
    SIGKILLed at random moments and restarted, and also dies (exit 137) at random inside
    the windows exactly-once depends on (each crash point with probability 0.1). Every
    command ends with one final result; a filled one has exactly one deal with its tag,
    any other none; no deal is a phantom. ``MTPONTE_EA_DRILL_KILLS`` sets the number of
    kills (default 15)."""
    import os
    import random

    kills = int(os.environ.get("MTPONTE_EA_DRILL_KILLS", "15"))
    rng = random.Random(16)
    inputs = {"MaxPositions": "100000", "RecoverySettleMs": "200", "TimeoutGraceMs": "200"}
    env = {"MTPONTE_EA_CRASH_P": "0.1"}
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), inputs, env)
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    sent: list[Command] = []
    try:
        for _k in range(kills):
            for _ in range(rng.randint(1, 4)):
                buy = rng.random() < 0.5
                cmd = client.command(
                    "open",
                    ttl_ms=30_000,
                    symbol="WIN",
                    side="buy" if buy else "sell",
                    volume=1,
                    sl=119_000.0 if buy else 121_000.0,
                )
                client.send(cmd)
                sent.append(cmd)
            if ea.wait_exit(rng.uniform(0.02, 0.25)) is None:
                ea.kill9()
            ea.start()  # (or it died at a crash point by itself)
        ea.env.pop("MTPONTE_EA_CRASH_P")  # the last run settles everything
        ea.kill9()
        ea.start()
        results = {c.id: client.wait(c.id, timeout_s=20) for c in sent}
    finally:
        ea.stop()
        client.close()
    deals = [d for d in ea.terminal().get("deal", []) if d[3] in ("0", "1")]
    by_tag: dict[str, int] = {}
    for d in deals:
        by_tag[d[11]] = by_tag.get(d[11], 0) + 1
    tags = {c.tag: c.id for c in sent}
    assert set(by_tag) <= set(tags), "phantom deals"
    for c in sent:
        n = by_tag.get(c.tag, 0)
        if results[c.id].status is Status.FILLED:
            assert n == 1, (c.id, results[c.id], n)
        else:
            assert n == 0, (c.id, results[c.id], n)
    assert sum(r.status is Status.FILLED for r in results.values()) >= len(sent) // 2


@pytest.mark.parametrize(
    "bad", [{"AtrPeriod": "0"}, {"TimerMs": "0"}, {"TradingStart": "9:00", "TradingEnd": "17:00"}]
)
def test_invalid_inputs_fail_oninit(ea_exe, tmp_path, bad):
    """Review #31: inputs the EA cannot run with (a zero divide, no timer, "9:00" compared
    as a string with "09:00") fail OnInit instead of an EA that looks alive."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), bad)
    ea.start(wait=False)
    try:
        assert ea.wait_exit(10) == 3, ea.log_text()
    finally:
        if ea.proc is not None:
            ea.stop()


def test_an_inbox_file_that_cannot_be_opened_is_retried_not_rejected(ea_exe, tmp_path):
    """Review #18: a command file another process holds for a moment (antivirus,
    indexer) is read on a later tick; it is never answered 'rejected' (which Python
    would take as final while the file may still execute)."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        ea.control("fault\tfail_open:/inbox/\t3")
        res = client.call("open", symbol="WIN", side="buy", volume=1, sl=119_000.0, timeout_s=10)
        assert res.status is Status.FILLED, res
    finally:
        ea.stop()
        client.close()


def test_a_result_that_cannot_be_published_is_retried_every_tick(ea_exe, tmp_path):
    """Review #18: while Python holds `outbox/<id>.json` open the EA's rename onto it
    fails. The result is kept "to publish" and retried every tick, never lost: here the
    next 50 renames into the outbox fail (the `accepted` write and the final write each
    give up after 20 tries), and the final result still arrives, once, with the fill."""
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(), {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        ea.control("fault\tfail_move:/outbox/\t50")
        res = client.call("open", symbol="WIN", side="buy", volume=1, sl=119_000.0, timeout_s=10)
        assert res.status is Status.FILLED, res
        assert len(ea.terminal()["position"]) == 1
        assert "kept to publish" in ea.log_text(), ea.log_text()
        assert ea.terminal()["fault"] == [["fail_move:/outbox/", "0"]]
    finally:
        ea.stop()
        client.close()


def test_bar_snapshots_are_closed_bars_in_utc(ea_exe, tmp_path):
    """Review #26: bars-<SYMBOL>-<TF>.json holds the last closed bars, complete, with
    times in UTC epoch seconds although MT5 stamps them in server time (UTC-3 here)."""
    account = h.Account(server_offset_s=-10_800, records=m5_bars(100.0, -10_800, n=6))
    inputs = {"BarsSubscriptions": "WIN:M5", "BarsCount": "3"}
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", account, inputs)
    ea.start()
    try:
        path = ea.bridge / "state" / "bars-WIN-M5.json"
        deadline = time.monotonic() + 5
        while not path.exists():
            assert time.monotonic() < deadline, "no bar snapshot"
            time.sleep(0.02)
        bars = BarsState.model_validate_json(path.read_text()).bars
    finally:
        ea.stop()
    forming_utc = (now_ms() // 1000 - 10_800) // 300 * 300 + 10_800
    assert [b.time for b in bars] == [forming_utc - 900, forming_utc - 600, forming_utc - 300]
    assert all(
        (b.open, b.high, b.low, b.close) == (120_000, 120_050, 119_950, 120_000) for b in bars
    )


def test_netting_entries_never_merge_into_a_foreign_position(ea_exe, tmp_path):
    """Review #12: on a netting account an entry on a symbol where a manual (or another
    EA's) position exists would add to or reverse it; it is refused."""
    t = now_ms() - 10_800_000
    foreign = f"position\t777\t777\tWIN\t1\t2\t120500\t0\t0\t0\t{t}\tmanual"
    account = h.Account(margin_mode=h.NETTING, records=[foreign])
    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", account, {})
    ea.start()
    client = BridgeClient(ea.bridge, journal_path=tmp_path / "client.sqlite")
    try:
        res = client.call("open", symbol="WIN", side="buy", volume=1, sl=119_000.0, timeout_s=10)
        assert res.status is Status.REJECTED and res.reason is Reason.MAX_POSITIONS, res
        (p,) = ea.terminal()["position"]
        assert (p[0], p[4]) == ("777", "2")  # untouched
    finally:
        ea.stop()
        client.close()


@BOTH
@pytest.mark.parametrize("mode", ["hedging", "netting"])
def test_account_json_says_netting_or_hedging(execs, which, mode):
    """A follower or monitor over the bridge plans a netting account differently: both
    executors say which it is (MT5's ACCOUNT_MARGIN_MODE)."""
    e = execs(which, mode)
    assert open_(e).status is Status.FILLED
    if isinstance(e, PyExec):
        e.ex.write_state()
    path = e.root / "state" / "account.json"
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert AccountState.model_validate_json(path.read_text()).account_mode == mode


@pytest.mark.parametrize(("mode", "said"), [(0, "demo"), (1, "contest"), (2, "real")])
def test_the_ea_says_whether_the_account_is_a_demo(ea_exe, tmp_path, mode, said):
    """A live runner over the bridge trades a real account only when armed
    (``allow_real_account``): the EA publishes ACCOUNT_TRADE_MODE, and the bridge broker
    calls only a demo a demo."""
    from mtponte.brokers.bridge import BridgeBroker

    ea = h.EaProcess(ea_exe, tmp_path / "sandbox", h.Account(trade_mode=mode), {})
    ea.start()
    broker = BridgeBroker(ea.bridge)
    try:
        path = ea.bridge / "state" / "account.json"
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert AccountState.model_validate_json(path.read_text()).trade_mode == said
        assert broker.is_demo() is (said == "demo")
    finally:
        ea.stop()
        broker.close()


class _RealPaper(PaperBroker):
    def is_demo(self) -> bool:
        return False


@pytest.mark.parametrize(("broker_cls", "said"), [(PaperBroker, "demo"), (_RealPaper, "real")])
def test_the_python_executor_says_whether_the_account_is_a_demo(tmp_path, broker_cls, said):
    """The Python twin publishes its broker's ``is_demo()`` the same way."""
    from mtponte.brokers.bridge import BridgeBroker

    paper = broker_cls(tmp_path / "paper.sqlite")
    ex = Executor(tmp_path / "bridge", paper, ExecutorLimits())
    ex.write_state()
    broker = BridgeBroker(tmp_path / "bridge")
    try:
        state = AccountState.model_validate_json(
            (tmp_path / "bridge/state/account.json").read_text()
        )
        assert state.trade_mode == said
        assert broker.is_demo() is (said == "demo")
    finally:
        broker.close()


def test_an_executor_that_does_not_say_is_not_a_demo(tmp_path):
    """An older executor (no ``trade_mode``): the runner must be armed to trade."""
    from mtponte.brokers.bridge import BridgeBroker

    paper = PaperBroker(tmp_path / "paper.sqlite")
    Executor(tmp_path / "bridge", paper, ExecutorLimits()).write_state()
    path = tmp_path / "bridge/state/account.json"
    obj = json.loads(path.read_text())
    del obj["trade_mode"]
    path.write_text(json.dumps(obj))
    broker = BridgeBroker(tmp_path / "bridge")
    try:
        assert broker.is_demo() is False
    finally:
        broker.close()


@BOTH
def test_an_open_beyond_its_deviation_from_the_price_is_refused_in_points(execs, which):
    """Review #10: slippage protection in points (SYMBOL_POINT; WIN: 1 point, a tick is
    5). B3's exchange execution ignores the request's deviation, so the EA checks it."""
    e = execs(which)
    far = open_(e, price=ASK - 20, max_deviation_points=19)
    assert (far.status, far.reason, far.retcode) == (Status.FAILED, Reason.BROKER_ERROR, 10004)
    assert entries(e) == []
    near = open_(e, price=ASK - 20, max_deviation_points=20)
    assert near.status is Status.FILLED and near.price == ASK


@BOTH
@pytest.mark.parametrize("mode", ["hedging", "netting"])
def test_deals_json_lists_the_trades_in_utc_with_their_tags(execs, which, mode):
    """state/deals.json: how a client learns an exit it did not send (SL, TP, stop out);
    both executors list the same trade deals, tagged, in UTC (the EA's server is UTC-3),
    without the deposit."""
    from mtponte.bridge.protocol import DealsState, tag_for

    e = execs(which, mode)
    before = now_ms()
    opened = e.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    assert send_cmd(e, opened).status is Status.FILLED
    open_pos = None
    for _ in range(250):
        if isinstance(e, PyExec):
            e.ex.write_state()
        try:
            ps = PositionsState.model_validate_json((e.root / "state/positions.json").read_text())
            open_pos = next((p for p in ps.positions if p.comment == tag_for(opened.id)), None)
        except (FileNotFoundError, ValueError):
            pass
        if open_pos is not None:
            break
        time.sleep(0.02)
    assert open_pos is not None
    closing = e.client.command("close", ticket=open_pos.ticket)
    assert send_cmd(e, closing).status is Status.FILLED
    path = e.root / "state" / "deals.json"
    for _ in range(250):
        if isinstance(e, PyExec):
            e.ex.write_state()
        try:
            deals = DealsState.model_validate_json(path.read_text()).deals
            if len(deals) >= 2:
                break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.02)
    got = [(d.entry, d.side, d.volume, d.comment) for d in deals]
    assert got == [
        ("in", "buy", 1, tag_for(opened.id)),
        ("out", "sell", 1, tag_for(closing.id)),
    ]
    assert deals[0].position == deals[1].position
    assert all(before - 2_000 <= d.time <= now_ms() + 1_000 for d in deals)
    assert deals[0].price == ASK and deals[1].price == BID


def test_bridge_broker_finds_an_sl_exit_it_did_not_send(execs):
    """The runner over the bridge learns an SL exit from deals.json: the exit deal
    carries the server's comment ("[sl 119000]"), and deals(comment=tag) finds it
    through the position the tag opened."""
    from mtponte.bridge.protocol import tag_for
    from mtponte.brokers.bridge import BridgeBroker
    from mtponte.domain.bars import Bar

    e = execs("python")
    opened = e.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    assert send_cmd(e, opened).status is Status.FILLED
    t = datetime.now(UTC).replace(microsecond=0)
    e.broker.on_bar("WIN", Bar(t, 120_000, 120_010, 118_500, 118_700, 10, 0, 0))
    e.ex.write_state()
    broker = BridgeBroker(e.root)
    tag = tag_for(opened.id)
    got = [(d.entry, d.comment, d.price) for d in broker.deals(comment=tag)]
    assert got == [("in", tag, ASK), ("out", "[sl 119000]", 119_000)]
