"""The follower conformance suite: the Python follower (``copy/follower``: Follower +
HttpLink + PaperBroker) and the MQL5 follower EA (``mql5/Experts/MtponteFollower.mq5``
compiled against the harness, its WebRequest answered by the real server) run the same
scenarios against a real ``mtponte server`` process on 127.0.0.1.

A master publishes events over HTTP; the server's engine decides the follower's book;
each twin reconciles its account to it. Every scenario states the positions the account
must hold (symbol, side, volume, SL, TP, magic, comment) and the reports the server
must have received: a twin that diverges fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.follower import Follower, FollowerOptions, HttpLink, LinkError
from mtponte.copy.server import admin
from mtponte.copy.server.db import open_database, session_factory
from mtponte.copy.server.models import ExecutionReport
from mtponte.domain.bars import Bar
from mtponte.domain.side import Side
from mtponte.domain.symbols import SymbolSpec as PySpec
from tests.integration.test_copy_push import free_port, wait_up
from tests.mql5._harness import HEDGING, NETTING, Account, EaProcess, SymbolSpec, build

MAGIC = 77
# MTPONTE_FOLLOWER_EA_SOURCE: build another copy of the EA (e.g. one with a rule broken,
# to check that a test fails without it)
FOLLOWER_EA = Path(
    os.environ.get("MTPONTE_FOLLOWER_EA_SOURCE")
    or Path(__file__).resolve().parents[2] / "mql5" / "Experts" / "MtponteFollower.mq5"
)
BID, ASK = 1.10000, 1.10002
Row = tuple[str, str, float, float, float, int, str]  # symbol side volume sl tp magic comment
# symbol kind volume price sl expiry (epoch s, 0 none) magic comment
OrderRow = tuple[str, str, float, float, float, int, int, str]
FOREIGN_ORDERS = [  # by hand (magic 5), and another follower's tag under another magic
    ("EURUSD", "buy_limit", 0.3, 1.08, 5, "manual"),
    ("EURUSD", "buy_limit", 0.3, 1.08, MAGIC + 1, "mtp:x"),
]


class Server:
    """``python -m mtponte server`` on a free port of 127.0.0.1 (killed by a finalizer)."""

    def __init__(self, db: str) -> None:
        self.db, self.port = db, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MTPONTE_MASTER_STALE_S": "600"}
        cmd = [sys.executable, "-m", "mtponte", "server", "--db", self.db]
        cmd += ["--port", str(self.port), "--no-access-log"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        wait_up(self.base, "/docs")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class World:
    """One master and one follower subscribed to it, on the module's server (fresh
    accounts per test: the server process starts once)."""

    _n = 0

    def __init__(self, server: Server, settings: dict[str, Any]) -> None:
        World._n += 1
        n = World._n
        self.db, self.server = server.db, server
        engine = open_database(self.db)
        with session_factory(engine)() as s:
            m = admin.add_account(s, "master", f"1{n:04d}", "Alpha")
            f = admin.add_account(s, "follower", f"2{n:04d}", "Beta")
            admin.subscribe(s, f, m, settings)
            self.publish_token = admin.issue_token(s, "publish", m)
            self.follow_token = admin.issue_token(s, "follow", f)
            s.commit()
            self.mid, self.fid = m.id, f.id
        engine.dispose()
        if server.proc is None:
            server.start()
        self.http = httpx.Client(base_url=self.server.base, timeout=10)
        self._key = 0

    def publish(self, kind: str, ticket: str, **body: Any) -> None:
        self._key += 1
        r = self.http.post(
            f"/api/v1/masters/{self.mid}/events",
            json={
                "kind": kind,
                "idempotency_key": f"k{self._key}",
                "ticket": ticket,
                "symbol": "EURUSD",
                "time": int(time.time() * 1000),
                **body,
            },
            headers={"Authorization": f"Bearer {self.publish_token}"},
        )
        assert r.status_code in (200, 201), r.text

    def snapshot(self, *positions: dict[str, Any]) -> None:
        """The master's full position set (how a netting add or a removed level
        reaches the server)."""
        r = self.http.post(
            f"/api/v1/masters/{self.mid}/snapshots",
            json={"positions": [{"symbol": "EURUSD", **p} for p in positions]},
            headers={"Authorization": f"Bearer {self.publish_token}"},
        )
        assert r.status_code == 204, r.text

    def book(self) -> dict[str, Any]:
        r = self.http.get(
            f"/api/v1/followers/{self.fid}/masters/{self.mid}/targets",
            headers={"Authorization": f"Bearer {self.follow_token}"},
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def reports(self) -> list[tuple[str, str, str, str]]:
        """(target id, action, status, reason) of every report the server stored."""
        engine = open_database(self.db)
        try:
            with session_factory(engine)() as s:
                rows = s.scalars(
                    select(ExecutionReport)
                    .where(ExecutionReport.follower_id == self.fid)
                    .order_by(ExecutionReport.id)
                )
                return [(r.target_id, r.action, r.status, r.reason) for r in rows]
        finally:
            engine.dispose()

    def close(self) -> None:
        self.http.close()
        if self.server.proc is None:  # a test killed it: the next one finds it running
            self.server.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    db = f"sqlite:///{tmp_path_factory.mktemp('copy-server') / 'copy.db'}"
    open_database(db).dispose()  # the schema, before the server and the tests use it
    srv = Server(db)
    srv.start()
    yield srv
    srv.kill()


# ---------------------------------------------------------------------- the twins
class PythonTwin:
    """Follower + HttpLink + PaperBroker (the reference)."""

    name = "python"

    def __init__(
        self,
        world: World,
        tmp: Path,
        mode: str,
        foreign: float = 0.0,
        foreign_orders: bool = False,
        reopen: bool = False,
    ) -> None:
        self.world, self.state = world, tmp / "py-state"
        self.reopen = reopen
        spec = PySpec("EURUSD", 0.00001, 1.0, 100_000, 5, 0.01, 100, 0.01, currency="BRL")
        self.broker = PaperBroker(
            symbols=[spec],
            currency="BRL",
            balance=100_000.0,
            account_mode=mode,  # type: ignore[arg-type]
        )
        self.broker.set_quote("EURUSD", BID, ASK)
        if foreign:  # a position opened by hand / another EA (magic 5)
            self.broker.market_order("EURUSD", Side.SELL, foreign, magic=5, comment="manual")
        for sym, kind, vol, px, magic, comment in FOREIGN_ORDERS if foreign_orders else []:
            side = Side.BUY if kind.startswith("buy") else Side.SELL
            self.broker.place_order(sym, side, kind[4:], vol, px, magic=magic, comment=comment)
        self.client = httpx.Client(base_url=world.server.base, timeout=10)
        self.follower: Follower | None = None

    def start(self) -> None:
        link = HttpLink(self.client, self.world.fid, self.world.mid, self.world.follow_token)
        opts = FollowerOptions(
            magic=MAGIC,
            state_dir=self.state,
            heartbeat_interval_s=0.5,
            reopen_closed_by_hand=self.reopen,
        )
        self.follower = Follower(self.broker, link, opts, name="f")
        self.follower.start()

    def sync(self) -> None:
        assert self.follower is not None
        for _ in range(2):
            self.follower.cycle()

    def sync_down(self) -> None:
        """Cycles while the server is unreachable: each fails, nothing is traded."""
        assert self.follower is not None
        for _ in range(3):
            with pytest.raises(LinkError):
                self.follower.cycle()

    def stop(self) -> None:
        self.follower = None

    def restart(self, lose_ledger: bool = False) -> None:
        self.stop()
        if lose_ledger:
            for f in self.state.glob("ledger-*.json"):
                f.unlink()
        self.start()

    def positions(self) -> list[Row]:
        return sorted(
            (
                p.symbol,
                "buy" if p.side is Side.BUY else "sell",
                round(p.volume, 8),
                p.sl or 0.0,
                p.tp or 0.0,
                p.magic,
                p.comment,
            )
            for p in self.broker.positions()
        )

    def tickets(self) -> list[str]:
        return [p.ticket for p in self.broker.positions()]

    def orders(self) -> list[tuple[str, str, float, float, int, str]]:
        return sorted(
            (
                o.symbol,
                ("buy_" if o.side is Side.BUY else "sell_") + o.order_type,
                round(o.volume, 8),
                o.price,
                o.magic,
                o.comment,
            )
            for o in self.broker.orders()
        )

    def pending(self) -> list[OrderRow]:
        return sorted(
            (
                o.symbol,
                ("buy_" if o.side is Side.BUY else "sell_") + o.order_type,
                round(o.volume, 8),
                o.price,
                o.sl or 0.0,
                0 if o.expiry is None else int(o.expiry.timestamp()),
                o.magic,
                o.comment,
            )
            for o in self.broker.orders()
        )

    def trade_through(self, low: float, high: float) -> None:
        """The market trades from ``low`` to ``high`` (fills what those prices trigger),
        then is quoted back at BID/ASK."""
        now = datetime.now(UTC).replace(microsecond=0)
        self.broker.on_bar("EURUSD", Bar(now, BID, high, low, BID))
        self.broker.set_quote("EURUSD", BID, ASK)

    def set_quote(self, bid: float, ask: float) -> None:
        self.broker.set_quote("EURUSD", bid, ask)

    def close_by_hand(self, ticket: str) -> None:
        self.broker.close_position(ticket)

    def order_tickets(self) -> list[str]:
        return [o.ticket for o in self.broker.orders()]

    def cancel_by_hand(self, ticket: str) -> None:
        assert self.broker.cancel_order(ticket).ok

    def entries(self) -> Counter[str]:
        return Counter(d.comment for d in self.broker.deals() if d.entry in ("in", "inout"))

    def close(self) -> None:
        self.client.close()


_KINDS = ["buy_limit", "sell_limit", "buy_stop", "sell_stop"]  # ORDER_TYPE 2..5


class EaTwin:
    """The compiled MtponteFollower.mq5 on a simulated terminal (harness)."""

    name = "ea"

    def __init__(
        self,
        world: World,
        tmp: Path,
        mode: str,
        foreign: float = 0.0,
        comment_rewrite: str = "",
        sandbox: str = "terminal",
        foreign_orders: bool = False,
        server_offset_s: int = 0,
        reopen: bool = False,
    ) -> None:
        self.world = world
        self.offset = server_offset_s
        self.sandbox = tmp / sandbox
        spec = SymbolSpec(
            name="EURUSD",
            digits=5,
            point=0.00001,
            tick_size=0.00001,
            tick_value=1.0,
            contract=100_000,
            vmin=0.01,
            vstep=0.01,
            vmax=100,
            exemode=2,
            bid=BID,
            ask=ASK,
        )
        account = Account(
            margin_mode=NETTING if mode == "netting" else HEDGING,
            symbols=[spec],
            comment_rewrite=comment_rewrite,
            server_offset_s=server_offset_s,
        )
        if foreign:  # a position opened by hand / another EA (magic 5)
            now = int(time.time() * 1000)
            account.records.append(
                f"position\t900\t900\tEURUSD\t1\t{foreign}\t{BID}\t0\t0\t5\t{now}\tmanual"
            )
        for n, (sym, kind, vol, px, magic, comment) in enumerate(
            FOREIGN_ORDERS if foreign_orders else []
        ):
            # ticket symbol type volume price sl tp type_time expiration magic time comment
            now = int(time.time() * 1000)
            account.records.append(
                f"order\t{910 + n}\t{sym}\t{_KINDS.index(kind) + 2}\t{vol}\t{px}\t0\t0\t0\t0"
                f"\t{magic}\t{now}\t{comment}"
            )
        self.ea = EaProcess(build(source=FOLLOWER_EA), self.sandbox, account, {})
        self.ea.inputs = {  # the follower's inputs only (not the bridge's defaults)
            "ServerUrl": world.server.base,
            "FollowerId": str(world.fid),
            "MasterId": str(world.mid),
            "Token": world.follow_token,
            "Magic": str(MAGIC),
            "PollWaitS": "0",
            "HeartbeatS": "1",
            "TimerMs": "20",
            "BackoffMaxS": "1",
            "ReopenClosedByHand": "true" if reopen else "false",
        }
        (self.sandbox / "webrequest.allowed").write_text(world.server.base + "\n")
        self.state = (
            self.sandbox / "MQL5" / "Files" / "MtponteFollower" / f"{world.fid}-{world.mid}"
        )

    def start(self) -> None:
        """Started once it holds the lease and read its first book (as the twin's
        ``start()`` heartbeats before the test goes on)."""
        before = int(self.status().get("cycles", "-1"))
        self.ea.start()
        deadline = time.monotonic() + 15
        while int(self.status().get("cycles", "-1")) == before:
            assert self.ea.proc is not None and self.ea.proc.poll() is None, self.ea.log_text()
            assert time.monotonic() < deadline, "EA never completed a cycle\n" + self.ea.log_text()
            time.sleep(0.01)

    def status(self) -> dict[str, str]:
        path = self.state / "status.txt"
        try:
            text = path.read_text()
        except OSError:
            return {}
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def sync(self, timeout: float = 20.0) -> None:
        """Until the EA has completed two cycles on the server's current book (as the
        twin's two cycles: a replaced order or a master-first fill takes both)."""
        version = int(self.world.book()["version"])
        start = int(self.status().get("cycles", "0"))
        first: int | None = None  # the first cycle seen on that book
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            cycles = int(st.get("cycles", "0"))
            # versions only grow: a newer one (the book moved on) is past ours too; the
            # status is written after a cycle, with the version that cycle planned on
            if int(st.get("version", "-1")) >= version:
                first = cycles if first is None else first
                if cycles >= first + 1 and cycles >= start + 2:
                    return
            assert self.ea.proc is not None and self.ea.proc.poll() is None, self.ea.log_text()
            assert time.monotonic() < deadline, (
                f"EA did not sync to {version}: {st}\n" + (self.ea.log_text()[-3000:])
            )
            time.sleep(0.02)

    def sync_down(self) -> None:
        """The server is unreachable: the EA keeps running and trades nothing."""
        time.sleep(1.5)
        assert self.ea.proc is not None and self.ea.proc.poll() is None, self.ea.log_text()

    def stop(self) -> None:
        if self.ea.proc is not None:
            assert self.ea.stop() == 0

    def restart(self, lose_ledger: bool = False) -> None:
        """Killed (-9, no OnDeinit: as a terminal crash) and started again."""
        if self.ea.proc is not None:
            self.ea.kill9()
        if lose_ledger:
            (self.state / "ledger.txt").unlink()
        self.start()

    def positions(self) -> list[Row]:
        rows = self.ea.terminal().get("position", [])
        # ticket identifier symbol type volume price sl tp magic time_msc comment
        return sorted(
            (
                r[2],
                "buy" if r[3] == "0" else "sell",
                round(float(r[4]), 8),
                float(r[6]),
                float(r[7]),
                int(r[8]),
                r[10],
            )
            for r in rows
        )

    def tickets(self) -> list[str]:
        return [r[0] for r in self.ea.terminal().get("position", [])]

    def orders(self) -> list[tuple[str, str, float, float, int, str]]:
        rows = self.ea.terminal().get("order", [])
        # ticket symbol type volume price sl tp type_time expiration magic time comment
        return sorted(
            (r[1], _KINDS[int(r[2]) - 2], round(float(r[3]), 8), float(r[4]), int(r[9]), r[11])
            for r in rows
        )

    def pending(self) -> list[OrderRow]:
        rows = self.ea.terminal().get("order", [])
        return sorted(
            (
                r[1],
                _KINDS[int(r[2]) - 2],
                round(float(r[3]), 8),
                float(r[4]),
                float(r[5]),
                # ORDER_TIME_SPECIFIED: the expiration is server time; GTC: none
                int(r[8]) - self.offset if r[7] == "2" else 0 if r[7] == "0" else -1,
                int(r[9]),
                r[11],
            )
            for r in rows
        )

    def trade_through(self, low: float, high: float) -> None:
        """The market trades from ``low`` to ``high`` (the harness fills what each quote
        triggers), then is quoted back at BID/ASK."""
        self.ea.control(f"quote\tEURUSD\t{low}\t{round(low + 0.00002, 5)}")
        self.ea.control(f"quote\tEURUSD\t{round(high - 0.00002, 5)}\t{high}")
        self.ea.control(f"quote\tEURUSD\t{BID}\t{ASK}")

    def set_quote(self, bid: float, ask: float) -> None:
        self.ea.control(f"quote\tEURUSD\t{bid}\t{ask}")

    def close_by_hand(self, ticket: str) -> None:
        self.ea.control(f"close_position\t{ticket}")

    def order_tickets(self) -> list[str]:
        return [r[0] for r in self.ea.terminal().get("order", [])]

    def cancel_by_hand(self, ticket: str) -> None:
        """Deleted by hand in the terminal (the harness's ``cancel_order``)."""
        self.ea.control(f"cancel_order\t{ticket}")

    def entries(self) -> Counter[str]:
        deals = self.ea.terminal().get("deal", [])
        # ticket order symbol type entry volume price profit magic position time comment
        return Counter(d[11] for d in deals if d[4] in ("0", "2"))

    def close(self) -> None:
        if self.ea.proc is not None and self.ea.proc.poll() is None:
            self.ea.kill9()


Twin = PythonTwin | EaTwin


@pytest.fixture(params=["python", "ea"])
def make(request, tmp_path, server) -> Iterator[Any]:
    made: list[tuple[World, Twin]] = []

    def factory(
        mode: str = "hedging",
        settings: dict[str, Any] | None = None,
        foreign: float = 0.0,
        before: list[dict[str, Any]] | None = None,
        foreign_orders: bool = False,
        server_offset_s: int = 0,
        reopen: bool = False,
    ) -> tuple[World, Twin]:
        """The server and a started twin; ``before``: master events published before
        the follower's first step (late join); ``foreign_orders``: the account holds
        FOREIGN_ORDERS; ``server_offset_s``: the EA's trade server time - UTC;
        ``reopen``: ``reopen_closed_by_hand``."""
        world = World(server, settings or {"volumeMode": "copy"})
        for ev in before or []:
            world.publish(**ev)
        twin: Twin
        if request.param == "python":
            twin = PythonTwin(world, tmp_path, mode, foreign, foreign_orders, reopen)
        else:
            twin = EaTwin(
                world,
                tmp_path,
                mode,
                foreign,
                foreign_orders=foreign_orders,
                server_offset_s=server_offset_s,
                reopen=reopen,
            )
        made.append((world, twin))
        twin.start()
        return world, twin

    yield factory
    for world, twin in made:
        twin.close()
        world.close()


def tag(world: World) -> str:
    (t,) = world.book()["targets"]
    return "mtp:" + str(t["target_id"])


def copied(world: World) -> list[tuple[str, str]]:
    return [(a, s) for _, a, s, _ in world.reports()]


# ---------------------------------------------------------------------- scenarios
def test_master_trades_are_copied_tagged_sized_modified_reduced_closed(make):
    world, twin = make(settings={"volumeMultiplier": 2.0})
    world.publish("open", "501", side="buy", volume=0.15, price=1.1, sl=1.09)
    twin.sync()
    c = tag(world)
    assert twin.positions() == [("EURUSD", "buy", 0.3, 1.09, 0.0, MAGIC, c)]
    world.publish("modify", "501", sl=1.095, tp=1.12)
    twin.sync()
    assert twin.positions() == [("EURUSD", "buy", 0.3, 1.095, 1.12, MAGIC, c)]
    world.publish("partial_close", "501", volume=0.05)  # a third of the master's
    twin.sync()
    assert twin.positions() == [("EURUSD", "buy", 0.2, 1.095, 1.12, MAGIC, c)]
    world.publish("close", "501")
    twin.sync()
    assert twin.positions() == []
    tid = c[4:]
    reps = world.reports()
    assert [(t, a, s) for t, a, s, _ in reps] == [
        (tid, "open", "copied"),
        (tid, "modify", "copied"),
        (tid, "reduce", "copied"),
        (tid, "close", "copied"),
    ]


def test_volume_down_with_new_levels_modifies_only_what_stays_open(make):
    """A target held by two positions shrinks while its SL moves: the newest position
    is closed and only the one left is modified (no failed modify on a closed ticket)."""
    world, twin = make()
    world.publish("open", "7", side="buy", volume=0.1, price=1.1, sl=1.09)
    twin.sync()
    pos = {"ticket": "7", "side": "buy", "open_price": 1.1}
    world.snapshot({**pos, "volume": 0.3, "sl": 1.09})  # the master added (netting)
    twin.sync()
    c = tag(world)
    assert sorted(p[2] for p in twin.positions()) == [0.1, 0.2]
    world.snapshot({**pos, "volume": 0.1, "sl": 1.095})
    twin.sync()
    assert twin.positions() == [("EURUSD", "buy", 0.1, 1.095, 0.0, MAGIC, c)]
    assert [(a, s) for _, a, s, _ in world.reports()][-2:] == [
        ("close", "copied"),
        ("modify", "copied"),
    ]


def test_two_master_positions_each_get_their_own_copy(make):
    world, twin = make()
    world.publish("open", "1", side="buy", volume=0.1, price=1.1)
    world.publish("open", "2", side="sell", volume=0.2, price=1.1, tp=1.08)
    twin.sync()
    ids = sorted("mtp:" + t["target_id"] for t in world.book()["targets"])
    assert twin.positions() == sorted(
        [
            ("EURUSD", "buy", 0.1, 0.0, 0.0, MAGIC, ids[0]),
            ("EURUSD", "sell", 0.2, 0.0, 1.08, MAGIC, ids[1]),
        ]
    )
    world.publish("close", "1")
    twin.sync()
    assert twin.positions() == [("EURUSD", "sell", 0.2, 0.0, 1.08, MAGIC, ids[1])]


def test_a_copy_closed_by_hand_is_not_reopened_even_with_the_ledger_lost(make):
    world, twin = make()
    world.publish("open", "7", side="buy", volume=0.1, price=1.1)
    twin.sync()
    c = tag(world)
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    twin.sync()
    assert twin.positions() == []
    reason = "closed outside the follower (by hand, SL or TP)"
    assert (c[4:], "skip", "skipped", reason) in world.reports()
    twin.restart(lose_ledger=True)  # rebuilt from the history's tagged entry deal
    twin.sync()
    assert twin.positions() == []
    assert twin.entries() == Counter({c: 1})
    # the master closes: the target is gone and nothing is traded
    world.publish("close", "7")
    twin.sync()
    assert twin.positions() == []
    assert [a for _, a, s, _ in world.reports() if s != "skipped"] == ["open"]


def test_a_restart_keeps_its_lease_and_opens_nothing_twice(make):
    world, twin = make()
    world.publish("open", "8", side="sell", volume=0.3, price=1.1, sl=1.12)
    twin.sync()
    c = tag(world)
    before = twin.positions()
    assert before == [("EURUSD", "sell", 0.3, 1.12, 0.0, MAGIC, c)]
    twin.restart()  # same state folder: same instance id, the lease is taken back at once
    twin.sync()
    twin.restart(lose_ledger=True)
    twin.sync()
    assert twin.positions() == before
    assert twin.entries() == Counter({c: 1})
    world.publish("partial_close", "8", volume=0.1)
    twin.sync()
    assert twin.positions() == [("EURUSD", "sell", 0.2, 1.12, 0.0, MAGIC, c)]


def test_server_unreachable_leaves_the_account_as_it_is(make):
    world, twin = make()
    world.publish("open", "9", side="buy", volume=0.2, price=1.1, tp=1.2)
    twin.sync()
    c = tag(world)
    held = [("EURUSD", "buy", 0.2, 0.0, 1.2, MAGIC, c)]
    assert twin.positions() == held
    world.server.kill()
    twin.sync_down()
    assert twin.positions() == held  # never flattened because the network failed
    world.server.start()
    twin.sync()
    assert twin.positions() == held
    world.publish("close", "9")
    twin.sync()
    assert twin.positions() == []
    assert [(a, s) for _, a, s, _ in world.reports()] == [("open", "copied"), ("close", "copied")]


def test_netting_account_holds_the_net_volume(make):
    world, twin = make(mode="netting")
    world.publish("open", "1", side="buy", volume=0.3, price=1.1, sl=1.09)
    twin.sync()
    c = tag(world)
    assert twin.positions() == [("EURUSD", "buy", 0.3, 1.09, 0.0, MAGIC, c)]
    world.publish("open", "2", side="buy", volume=0.2, price=1.1, sl=1.09)  # add
    twin.sync()
    assert [r[:5] for r in twin.positions()] == [("EURUSD", "buy", 0.5, 1.09, 0.0)]
    world.publish("close", "1")  # reduce: SL kept
    twin.sync()
    assert [r[:6] for r in twin.positions()] == [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC)]
    world.publish("open", "3", side="sell", volume=0.5, price=1.1)  # flip to -0.3
    twin.sync()
    # the copies' levels differ (1.09 / none): the net position has none
    assert [r[:6] for r in twin.positions()] == [("EURUSD", "sell", 0.3, 0.0, 0.0, MAGIC)]
    world.publish("close", "2")  # add: -0.5
    twin.sync()
    assert [r[:6] for r in twin.positions()] == [("EURUSD", "sell", 0.5, 0.0, 0.0, MAGIC)]
    world.publish("close", "3")
    twin.sync()
    assert twin.positions() == []
    assert {s for _, _, s, _ in world.reports()} == {"copied"}
    assert [a for _, a, _, _ in world.reports()] == ["open"] * 5 + ["close"]


def test_netting_copy_closed_by_hand_is_not_reopened(make):
    world, twin = make(mode="netting")
    world.publish("open", "1", side="buy", volume=0.1, price=1.1)
    twin.sync()
    c = tag(world)
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    twin.sync()
    assert twin.positions() == []
    reps = world.reports()
    assert reps[-1] == (c[4:], "skip", "skipped", "closed outside the follower (by hand, SL or TP)")


def test_a_market_target_waits_while_the_price_is_too_far(make):
    world, twin = make(settings={"volumeMode": "copy", "maxDeviationPoints": 10})
    world.publish("open", "3", side="buy", volume=0.1, price=1.099)  # ask is 102 points away
    twin.sync()
    c = tag(world)
    assert twin.positions() == []
    twin.sync()  # said once
    waits = [r for r in world.reports() if r[1] == "wait"]
    assert [(t, s) for t, _, s, _ in waits] == [(c[4:], "skipped")]
    twin.set_quote(1.09898, 1.09900)  # 0 points away
    twin.sync()
    assert twin.positions() == [("EURUSD", "buy", 0.1, 0.0, 0.0, MAGIC, c)]
    assert [(a, s) for _, a, s, _ in world.reports()] == [("wait", "skipped"), ("open", "copied")]


def test_a_late_join_limit_target_is_one_pending_order(make):
    opened = {"kind": "open", "ticket": "4", "side": "buy", "volume": 0.2, "price": 1.095}
    world, twin = make(settings={"volumeMode": "copy", "lateJoin": "limit"}, before=[opened])
    twin.sync()
    c = tag(world)
    assert twin.positions() == []
    assert twin.orders() == [("EURUSD", "buy_limit", 0.2, 1.095, MAGIC, c)]
    twin.sync()
    assert len(twin.orders()) == 1  # never a second order while it works
    world.publish("close", "4")
    twin.sync()
    assert twin.orders() == []
    assert [(a, s) for _, a, s, _ in world.reports()] == [("limit", "copied"), ("cancel", "copied")]


@pytest.mark.parametrize("mode", ["hedging", "netting"])
def test_a_position_with_another_magic_is_never_traded(make, mode):
    world, twin = make(mode=mode, foreign=0.5)
    foreign = ("EURUSD", "sell", 0.5, 0.0, 0.0, 5, "manual")
    world.publish("open", "6", side="buy", volume=0.1, price=1.1)
    twin.sync()
    c = tag(world)
    if mode == "hedging":  # its own copy beside the other one
        assert twin.positions() == sorted([foreign, ("EURUSD", "buy", 0.1, 0.0, 0.0, MAGIC, c)])
    else:  # netting: one position per symbol, not ours: skipped
        assert twin.positions() == [foreign]
        reason = (
            "the account holds a EURUSD position the follower did not open "
            "(netting: one position per symbol)"
        )
        assert world.reports() == [(c[4:], "skip", "skipped", reason)]
    world.publish("close", "6")
    twin.sync()
    assert twin.positions() == [foreign]


def test_the_ea_long_polls_and_refuses_urls_not_allowed(tmp_path, server):
    """EA only: a change reaches it within its long poll (no fixed polling delay), and a
    server URL missing from the allowed list trades nothing (WebRequest error 4014)."""
    world = World(server, {"volumeMode": "copy"})
    twin = EaTwin(world, tmp_path, "hedging")
    try:
        twin.ea.inputs["PollWaitS"] = "3"
        twin.start()  # its first book read; the next GET waits for a change
        time.sleep(0.3)
        world.publish("open", "1", side="buy", volume=0.1, price=1.1)
        t0 = time.monotonic()
        while not twin.positions():
            assert time.monotonic() - t0 < 2.5, twin.ea.log_text()
            time.sleep(0.01)
        twin.stop()
        (twin.sandbox / "webrequest.allowed").write_text("http://127.0.0.1:1\n")
        world.publish("close", "1")
        twin.ea.start()
        time.sleep(1.0)
        assert len(twin.positions()) == 1
        assert "WebRequest error 4014" in twin.ea.log_text()
    finally:
        twin.close()
        world.close()


def ea_world(tmp_path: Path, server: Server, **kw: Any) -> tuple[World, EaTwin]:
    world = World(server, {"volumeMode": "copy"})
    return world, EaTwin(world, tmp_path, "hedging", **kw)


def test_the_ea_killed_right_after_sending_opens_nothing_twice(tmp_path, server):
    """EA only (the harness's crash point): killed between OrderSend and its ledger
    write, the restarted EA finds the tagged position and does not open it again."""
    world, twin = ea_world(tmp_path, server)
    try:
        twin.start()
        twin.ea.control("fault\tcrash_after_send\t1")
        world.publish("open", "1", side="buy", volume=0.1, price=1.1, sl=1.09)
        assert twin.ea.wait_exit(15) == 137, twin.ea.log_text()
        c = tag(world)
        assert twin.positions() == [("EURUSD", "buy", 0.1, 1.09, 0.0, MAGIC, c)]
        twin.start()
        twin.sync()
        world.publish("modify", "1", sl=1.095)
        twin.sync()
        assert twin.positions() == [("EURUSD", "buy", 0.1, 1.095, 0.0, MAGIC, c)]
        assert twin.entries() == Counter({c: 1})
        assert "opened" in (twin.state / "ledger.txt").read_text()
    finally:
        twin.close()
        world.close()


def test_the_ea_killed_before_its_reports_are_sent_reports_each_once(tmp_path, server):
    """EA only: killed after one execution (its report on disk) and before the report
    was sent, the restarted EA sends it first; the server stores each report once."""
    world, twin = ea_world(tmp_path, server)
    try:
        twin.start()
        twin.ea.control("fault\tcrash_before_send\t2")  # the second OrderSend dies
        pos = {"side": "buy", "open_price": 1.1}
        world.snapshot({**pos, "ticket": "1", "volume": 0.1}, {**pos, "ticket": "2", "volume": 0.2})
        assert twin.ea.wait_exit(15) == 137, twin.ea.log_text()
        assert len(twin.positions()) == 1  # one executed, its report not sent
        assert world.reports() == []
        (kept,) = (twin.state / "unsent.txt").read_text().splitlines()
        twin.start()
        twin.sync()
        tids = sorted(str(t["target_id"]) for t in world.book()["targets"])
        assert sorted(p[2] for p in twin.positions()) == [0.1, 0.2]
        assert sorted((t, a, s) for t, a, s, _ in world.reports()) == [
            (tids[0], "open", "copied"),
            (tids[1], "open", "copied"),
        ]
        assert json.loads(kept)["target_id"] in tids
        assert not (twin.state / "unsent.txt").exists()
    finally:
        twin.close()
        world.close()


def test_a_report_sent_again_after_a_lost_answer_is_stored_once(tmp_path, server):
    """EA only: the server stores the report, its answer is lost (a timeout); the EA
    sends it again (same report_id) and the server stores it once."""
    world, twin = ea_world(tmp_path, server)
    try:
        twin.start()
        twin.ea.control("fault\tlose_answer:/reports\t1")
        world.publish("open", "1", side="buy", volume=0.1, price=1.1)
        twin.sync()
        twin.sync()
        assert "/reports: WebRequest error 5202" in twin.ea.log_text()  # the answer lost
        assert [(a, s) for _, a, s, _ in world.reports()] == [("open", "copied")]
        assert twin.status()["unsent"] == "0"
        assert twin.entries() == Counter({tag(world): 1})
    finally:
        twin.close()
        world.close()


def test_a_second_ea_instance_is_refused_the_lease_and_trades_nothing(tmp_path, server):
    """EA only: another terminal with the same follower id gets 409 and never trades
    (the Python follower raises LeaseHeld, tested in tests/copy/follower)."""
    world, first = ea_world(tmp_path, server)
    second = EaTwin(world, tmp_path, "hedging", sandbox="terminal2")
    try:
        first.start()
        second.ea.start()
        world.publish("open", "1", side="buy", volume=0.1, price=1.1)
        first.sync()
        time.sleep(1.0)
        assert len(first.positions()) == 1
        assert second.positions() == []
        assert "HTTP 409" in second.ea.log_text()
        assert second.status() == {}  # it never read the book
    finally:
        second.close()
        first.close()
        world.close()


def test_a_broker_that_rewrites_comments_still_gets_its_copies_managed(tmp_path, server):
    """EA only (the paper broker keeps comments): the broker replaces every comment;
    the ledger's position tickets still name the copy, so it is modified and closed,
    never opened twice."""
    world, twin = ea_world(tmp_path, server, comment_rewrite="replace:from broker")
    try:
        twin.start()
        world.publish("open", "1", side="sell", volume=0.2, price=1.1)
        twin.sync()
        assert twin.positions() == [("EURUSD", "sell", 0.2, 0.0, 0.0, MAGIC, "from broker")]
        world.publish("modify", "1", tp=1.05)
        twin.sync()
        assert twin.positions() == [("EURUSD", "sell", 0.2, 0.0, 1.05, MAGIC, "from broker")]
        world.publish("close", "1")
        twin.sync()
        assert twin.positions() == []
        assert [(a, s) for _, a, s, _ in world.reports()] == [
            ("open", "copied"),
            ("modify", "copied"),
            ("close", "copied"),
        ]
    finally:
        twin.close()
        world.close()


# ---------------------------------------------------------------------- pending orders
# copy_pending: the master's pending orders are targets with an order_type; both twins
# place them as orders of their own, on hedging and netting accounts (_plan.py's rules).
PENDING = {"volumeMode": "copy", "copy_pending": True}
EXP = int(time.time()) // 60 * 60 + 30 * 86400  # a month ahead, whole minute
LIMIT7 = {"side": "buy", "order_type": "limit", "volume": 0.2, "price": 1.095, "sl": 1.09}
MODES = pytest.mark.parametrize("mode", ["hedging", "netting"])


def pend_tag(world: World, ticket: str) -> str:
    """The tag of the pending target copying the master's order ``ticket``."""
    (tid,) = [t["target_id"] for t in world.book()["targets"] if ticket in t["master_tickets"]]
    return "mtp:" + str(tid)


def placed(make: Any, mode: str) -> tuple[World, Any, str]:
    """A follower of ``mode`` with ``copy_pending``, once it has placed its copy of the
    master's buy limit ``7``: the world, the twin and the copy's tag."""
    world, twin = make(mode=mode, settings=PENDING)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    return world, twin, pend_tag(world, "7")


def acted(world: World) -> list[tuple[str, str]]:
    """(action, status) of every report but the skips."""
    return [(a, s) for _, a, s, _ in world.reports() if s != "skipped"]


@MODES
def test_a_pending_target_is_placed_once_with_tag_magic_and_expiry(make, mode):
    # the EA's trade server runs at UTC-3: the expiry is sent and read in server time
    world, twin = make(mode=mode, settings=PENDING, server_offset_s=-3 * 3600)
    world.publish("pending_place", "7", **LIMIT7, expiry=EXP)
    world.publish("pending_place", "9", side="sell", order_type="stop", volume=0.1, price=1.09)
    world.publish("open", "8", side="buy", volume=0.1, price=1.1)
    twin.sync()
    p7, p9, pos = pend_tag(world, "7"), pend_tag(world, "9"), pend_tag(world, "8")
    # the position target is copied as itself, never mixed with the orders (a netting
    # account nets position targets per symbol: the orders must not count)
    assert twin.positions() == [("EURUSD", "buy", 0.1, 0.0, 0.0, MAGIC, pos)]
    assert twin.pending() == [
        ("EURUSD", "buy_limit", 0.2, 1.095, 1.09, EXP, MAGIC, p7),
        ("EURUSD", "sell_stop", 0.1, 1.09, 0.0, 0, MAGIC, p9),  # good-till-cancelled
    ]
    twin.sync()
    assert len(twin.pending()) == 2  # never a second order while one works
    assert sorted((t, a, s) for t, a, s, _ in world.reports() if t in (p7[4:], p9[4:])) == [
        (p7[4:], "place", "copied"),
        (p9[4:], "place", "copied"),
    ]
    assert sorted(acted(world)) == [("open", "copied"), ("place", "copied"), ("place", "copied")]


@MODES
def test_a_pending_order_changed_at_the_master_is_replaced(make, mode):
    world, twin, c = placed(make, mode)
    world.publish("pending_modify", "7", **{**LIMIT7, "price": 1.094, "volume": 0.3})
    twin.sync()  # cancelled in one pass, placed again in the next
    assert twin.pending() == [("EURUSD", "buy_limit", 0.3, 1.094, 1.09, 0, MAGIC, c)]
    assert twin.positions() == []
    assert acted(world) == [("place", "copied"), ("cancel", "copied"), ("place", "copied")]


@MODES
def test_a_pending_order_cancelled_at_the_master_is_cancelled(make, mode):
    world, twin, _ = placed(make, mode)
    assert len(twin.pending()) == 1
    world.publish("pending_cancel", "7")
    twin.sync()
    assert twin.pending() == [] and twin.positions() == []
    assert acted(world) == [("place", "copied"), ("cancel", "copied")]


@MODES
def test_own_fill_then_master_fill_is_one_position(make, mode):
    world, twin, c = placed(make, mode)
    twin.trade_through(1.0949, 1.1)  # ours fills before the master's
    twin.sync()
    held = [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, c)]
    assert twin.positions() == held and twin.pending() == []  # not placed again
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()  # the master's fill: the position we hold is the copy (no second open)
    twin.sync()
    assert twin.positions() == held and twin.pending() == []
    assert twin.entries() == Counter({c: 1})
    assert acted(world) == [("place", "copied")]


@MODES
def test_master_fill_first_cancels_ours_then_opens_once(make, mode):
    world, twin, _ = placed(make, mode)
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()  # cancel in one pass (never a deal with it), open in the next
    c = tag(world)  # hedging: the pending target's id; netting: the symbol's net target
    assert twin.pending() == []
    assert twin.positions() == [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, c)]
    twin.sync()
    assert twin.entries() == Counter({c: 1})
    assert acted(world) == [("place", "copied"), ("cancel", "copied"), ("open", "copied")]


@MODES
def test_a_pending_fill_here_closed_by_hand_is_not_placed_again_nor_opened(make, mode):
    world, twin, c = placed(make, mode)
    twin.trade_through(1.0949, 1.1)
    twin.sync()
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    twin.sync()
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []  # the master's still works
    twin.restart()  # the fill is found again in the history (an in deal of our order)
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []
    assert twin.entries() == Counter({c: 1})
    assert acted(world) == [("place", "copied")]
    if mode == "hedging":
        reason = "pending order filled here and closed since"
        assert (c[4:], "skip", "skipped", reason) in world.reports()
    # the master's fills: its position copy is the one closed by hand (hedging: the same
    # target id; netting: the symbol's net target, whose sources name the pending copy)
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, from_order="7")
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []
    copy = tag(world)
    assert (copy == c) == (mode == "hedging")
    reason = "closed outside the follower (by hand, SL or TP)"
    assert world.reports()[-1] == (copy[4:], "skip", "skipped", reason)
    assert acted(world) == [("place", "copied")]
    assert twin.entries() == Counter({c: 1})


@pytest.mark.parametrize("restart", ["none", "restart", "lose_ledger"])
def test_netting_own_fill_then_master_fill_closed_by_hand_is_not_reopened(make, restart):
    """Netting: ours fills, then the master's; the symbol's net target (a new id) names
    the pending copy in its sources, so the position we hold is that copy: closed by
    hand, it is never opened again (a restart in between, with or without the ledger,
    changes nothing: the fill is in the ledger and in the history)."""
    world, twin = make(mode="netting", settings=PENDING)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    c = pend_tag(world, "7")
    twin.trade_through(1.0949, 1.1)  # ours fills before the master's
    twin.sync()
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    net = tag(world)
    assert net != c and world.book()["targets"][0]["sources"] == [c[4:]]
    held = [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, c)]
    assert twin.positions() == held and twin.pending() == []
    if isinstance(twin, EaTwin):  # the fill is a ledger line older EAs skip
        assert f"filled\t{c[4:]}" in (twin.state / "ledger.txt").read_text().splitlines()
    if restart != "none":
        twin.restart(lose_ledger=restart == "lose_ledger")
        twin.sync()
        assert twin.positions() == held
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    twin.sync()
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []
    assert twin.entries() == Counter({c: 1})
    assert acted(world) == [("place", "copied")]
    reason = "closed outside the follower (by hand, SL or TP)"
    assert world.reports()[-1] == (net[4:], "skip", "skipped", reason)


def test_netting_master_fill_first_then_closed_by_hand_is_not_reopened(make):
    """Netting, our order never filled: the net target is opened once, by this follower
    (not adopted from a fill), and closed by hand it stays closed."""
    world, twin = make(mode="netting", settings=PENDING)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    net = tag(world)
    assert twin.positions() == [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, net)]
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []
    assert twin.entries() == Counter({net: 1})
    assert acted(world) == [("place", "copied"), ("cancel", "copied"), ("open", "copied")]


@MODES
def test_a_restart_places_no_second_pending_order(make, mode):
    world, twin = make(mode=mode, settings=PENDING)
    world.publish("pending_place", "7", **LIMIT7, expiry=EXP)
    twin.sync()
    c = pend_tag(world, "7")
    placed = [("EURUSD", "buy_limit", 0.2, 1.095, 1.09, EXP, MAGIC, c)]
    assert twin.pending() == placed
    twin.restart()
    twin.sync()
    twin.restart(lose_ledger=True)
    twin.sync()
    assert twin.pending() == placed
    twin.trade_through(1.0949, 1.1)  # filled after the restarts: held, not placed again
    twin.sync()
    twin.restart()
    twin.sync()
    assert twin.positions() == [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, c)]
    assert twin.pending() == []
    assert twin.entries() == Counter({c: 1})
    assert acted(world) == [("place", "copied")]


OUTSIDE = "pending order cancelled outside the follower"


@MODES
@pytest.mark.parametrize("restart", ["none", "restart"])
def test_a_pending_order_cancelled_by_hand_is_not_placed_again(make, mode, restart):
    world, twin = make(mode=mode, settings=PENDING)
    world.publish("pending_place", "7", **LIMIT7, expiry=EXP)
    twin.sync()
    c = pend_tag(world, "7")
    (ticket,) = twin.order_tickets()
    twin.cancel_by_hand(ticket)  # the master's order still works
    twin.sync()
    if restart == "restart":
        twin.restart()
    twin.sync()
    assert twin.pending() == [] and twin.positions() == []
    assert (c[4:], "skip", "skipped", OUTSIDE) in world.reports()
    # changed at the master: still not placed (as a position closed by hand)
    world.publish("pending_modify", "7", **{**LIMIT7, "price": 1.094, "volume": 0.3}, expiry=EXP)
    twin.sync()
    twin.sync()
    assert twin.pending() == [] and twin.positions() == []
    assert acted(world) == [("place", "copied")]
    assert twin.entries() == Counter()


@MODES
def test_a_pending_order_cancelled_by_hand_is_placed_again_when_configured(make, mode):
    world, twin = make(mode=mode, settings=PENDING, reopen=True)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    c = pend_tag(world, "7")
    (ticket,) = twin.order_tickets()
    twin.cancel_by_hand(ticket)
    twin.sync()
    twin.sync()
    assert twin.pending() == [("EURUSD", "buy_limit", 0.2, 1.095, 1.09, 0, MAGIC, c)]
    assert acted(world) == [("place", "copied"), ("place", "copied")]


@MODES
def test_our_own_replace_is_not_taken_for_a_cancel_by_hand(make, mode):
    world, twin, c = placed(make, mode)
    world.publish("pending_modify", "7", **{**LIMIT7, "price": 1.094})
    twin.sync()
    twin.restart()  # the ledger knows the cancel was ours
    twin.sync()
    assert twin.pending() == [("EURUSD", "buy_limit", 0.2, 1.094, 1.09, 0, MAGIC, c)]
    assert acted(world) == [("place", "copied"), ("cancel", "copied"), ("place", "copied")]
    (ticket,) = twin.order_tickets()
    twin.cancel_by_hand(ticket)  # the replacement, deleted by hand: not placed again
    twin.sync()
    twin.sync()
    assert twin.pending() == []
    assert world.reports()[-1] == (c[4:], "skip", "skipped", OUTSIDE)


@MODES
def test_a_pending_order_cancelled_at_the_master_places_nothing(make, mode):
    world, twin = make(mode=mode, settings=PENDING, reopen=True)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    world.publish("pending_cancel", "7")
    twin.sync()
    twin.restart()
    twin.sync()
    assert twin.pending() == [] and twin.positions() == []
    assert acted(world) == [("place", "copied"), ("cancel", "copied")]


@MODES
def test_orders_not_ours_are_never_touched(make, mode):
    world, twin = make(mode=mode, settings=PENDING, foreign_orders=True)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    c = pend_tag(world, "7")
    assert twin.orders() == sorted([*FOREIGN_ORDERS, ("EURUSD", "buy_limit", 0.2, 1.095, MAGIC, c)])
    world.publish("pending_cancel", "7")
    twin.sync()
    assert twin.orders() == sorted(FOREIGN_ORDERS)
    assert acted(world) == [("place", "copied"), ("cancel", "copied")]


def test_netting_a_pending_fill_into_the_symbols_position_is_found_by_its_deal(make):
    """Netting: our order fills into the position another target holds (the position
    keeps that target's tag); the fill is known from its in deal, so the order is not
    placed again and the net is not reduced back."""
    world, twin = make(mode="netting", settings=PENDING)
    world.publish("open", "8", side="buy", volume=0.1, price=1.1, sl=1.09)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    net = "mtp:" + next(t["target_id"] for t in world.book()["targets"] if "order_type" not in t)
    assert twin.positions() == [("EURUSD", "buy", 0.1, 1.09, 0.0, MAGIC, net)]
    assert len(twin.pending()) == 1
    twin.trade_through(1.0949, 1.1)
    twin.sync()
    twin.sync()
    held = [("EURUSD", "buy", 0.3, 1.09, 0.0, MAGIC, net)]
    assert twin.positions() == held and twin.pending() == []
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    assert twin.positions() == held and twin.pending() == []
    assert sorted(acted(world)) == [("open", "copied"), ("place", "copied")]


def test_the_ea_finds_its_pending_orders_and_fills_under_rewritten_comments(tmp_path, server):
    """EA only (the paper broker keeps comments): on a netting account whose broker
    replaces every comment, the EA's order is still known as its own (the ledger's order
    ticket: not placed twice) and its fill into another target's position still counts
    (the in deal's DEAL_ORDER), so nothing is placed again or reduced back."""
    world = World(server, PENDING)
    twin = EaTwin(world, tmp_path, "netting", comment_rewrite="replace:from broker")
    try:
        twin.start()
        world.publish("open", "8", side="buy", volume=0.1, price=1.1, sl=1.09)
        world.publish("pending_place", "7", **LIMIT7)
        twin.sync()
        twin.sync()
        assert twin.pending() == [
            ("EURUSD", "buy_limit", 0.2, 1.095, 1.09, 0, MAGIC, "from broker")
        ]
        twin.restart()  # the ledger on disk names the order
        twin.sync()
        assert len(twin.pending()) == 1
        twin.trade_through(1.0949, 1.1)
        twin.sync()
        twin.restart()  # the fill found again in the history
        twin.sync()
        assert twin.pending() == []
        assert [r[:3] for r in twin.positions()] == [("EURUSD", "buy", 0.3)]
        assert sorted(acted(world)) == [("open", "copied"), ("place", "copied")]
    finally:
        twin.close()
        world.close()


CLOSED = "closed outside the follower (by hand, SL or TP)"


@MODES
@pytest.mark.parametrize("restart", ["none", "restart"])
def test_a_pending_order_cancelled_by_hand_is_not_opened_when_the_masters_fills(
    make, mode, restart
):
    """Our order deleted by hand, then the master's fills: the position copy (hedging:
    the same target id; netting: the net target naming it in its sources) is the copy
    the user removed, never opened at market (a restart in between changes nothing)."""
    world, twin, c = placed(make, mode)
    (ticket,) = twin.order_tickets()
    twin.cancel_by_hand(ticket)
    twin.sync()
    assert (c[4:], "skip", "skipped", OUTSIDE) in world.reports()
    if restart == "restart":
        twin.restart()
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    twin.sync()
    copy = tag(world)
    assert (copy == c) == (mode == "hedging")
    assert twin.positions() == [] and twin.pending() == []
    assert world.reports()[-1] == (copy[4:], "skip", "skipped", CLOSED)
    assert acted(world) == [("place", "copied")]
    assert twin.entries() == Counter()


@MODES
def test_a_pending_order_cancelled_by_hand_is_opened_when_the_masters_fills_if_configured(
    make, mode
):
    world, twin = make(mode=mode, settings=PENDING, reopen=True)
    world.publish("pending_place", "7", **LIMIT7)
    twin.sync()
    (ticket,) = twin.order_tickets()
    twin.cancel_by_hand(ticket)  # deleted by hand as the master's fills
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    twin.sync()
    copy = tag(world)
    assert twin.positions() == [("EURUSD", "buy", 0.2, 1.09, 0.0, MAGIC, copy)]
    assert twin.pending() == []
    assert twin.entries() == Counter({copy: 1})


@MODES
def test_a_pending_fill_closed_as_the_masters_fills_is_not_opened(make, mode):
    """Ours fills and is closed (SL/TP; here by hand) while the master's fills too: the
    follower may see none of it until the master's position target; not opened."""
    world, twin, c = placed(make, mode)
    twin.trade_through(1.0949, 1.1)
    (ticket,) = twin.tickets()
    twin.close_by_hand(ticket)
    world.publish("open", "70", side="buy", volume=0.2, price=1.095, sl=1.09, from_order="7")
    twin.sync()
    twin.sync()
    assert twin.positions() == [] and twin.pending() == []
    assert acted(world) == [("place", "copied")]
    assert twin.entries() == Counter({c: 1})
    assert world.reports()[-1] == (tag(world)[4:], "skip", "skipped", CLOSED)
