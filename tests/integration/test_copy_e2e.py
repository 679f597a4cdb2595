"""Copy trading end to end: a real server process on 127.0.0.1, a master published from
a paper account, three Python followers on paper accounts with different specs (a
``.pro``-suffix standard account, a cent account, a netting account copying a fixed
lot), a random scenario of 500+ master actions, and chaos in the same run: the server
restarted mid-stream, followers killed and restarted (one with its ledger lost),
events posted twice, a master outage. The followers end holding exactly what the
master holds, sized and mapped by the rules, with no copy opened twice."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.follower import Follower, FollowerOptions, HttpLink, LinkError, StreamLink
from mtponte.copy.publisher import Publisher, PublisherSettings
from mtponte.copy.server import admin
from mtponte.copy.server.db import open_database, session_factory
from mtponte.copy.server.models import CopyDecision, ExecutionReport
from mtponte.domain.side import Side
from mtponte.domain.symbols import EURUSD
from tests.integration.test_copy_push import free_port, wait_up

STALE_S = 3
FIXED = 0.1


@dataclass
class Node:
    name: str
    broker: PaperBroker
    fid: int
    token: str
    state: Path
    follower: Follower | None = None


class Duplicating(httpx.HTTPTransport):
    """Sends some event posts twice, as a retry after a lost answer does: the server
    must store each once (the second answer is 200, "already stored")."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.twice = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        first = super().handle_request(request)
        if (
            request.method == "POST"
            and request.url.path.endswith("/events")
            and first.status_code == 201
            and self.rng.random() < 0.15
        ):
            first.read()
            again = super().handle_request(request)
            again.read()
            assert again.status_code == 200, again.text
            self.twice += 1
        return first


class Server:
    def __init__(self, db: str, port: int) -> None:
        self.db, self.port = db, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MTPONTE_MASTER_STALE_S": str(STALE_S)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mtponte",
                "server",
                "--db",
                self.db,
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wait_up(self.base, "/docs")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        """Kill the process if it still runs (the test's finalizer)."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def paper(name: str, mode: str = "hedging", balance: float = 10_000.0) -> PaperBroker:
    b = PaperBroker(
        symbols=[EURUSD.with_name(name)], currency="USD", balance=balance, account_mode=mode
    )  # type: ignore[arg-type]
    b.set_quote(name, 1.10000, 1.10002)
    return b


def step_master(b: PaperBroker, rng: random.Random) -> None:
    ps = b.positions()
    roll = rng.random()
    if not ps or roll < 0.32:
        side = rng.choice([Side.BUY, Side.SELL])
        bid, ask = b.quote("EURUSD")
        px = ask if side is Side.BUY else bid
        sl = round(px - side * rng.choice([0.001, 0.002]), 5) if rng.random() < 0.7 else None
        tp = round(px + side * rng.choice([0.001, 0.003]), 5) if rng.random() < 0.5 else None
        b.market_order("EURUSD", side, rng.choice([0.1, 0.2, 0.3, 0.5, 1.0]), sl=sl, tp=tp)
        return
    p = rng.choice(ps)
    if roll < 0.55:
        b.close_position(p.ticket)
    elif roll < 0.75:
        part = round(rng.choice([0.1, 0.2, 0.5]) * p.volume, 2)
        if 0 < part < p.volume:
            b.close_position(p.ticket, part)
    else:
        bid, ask = b.quote("EURUSD")
        ref = bid if p.side is Side.BUY else ask
        sl = round(ref - p.side * rng.choice([0.0005, 0.001, 0.002]), 5)
        tp = round(ref + p.side * rng.choice([0.0005, 0.001, 0.002]), 5)
        b.modify_position(p.ticket, sl, tp if rng.random() < 0.5 else None)


def move_price(brokers: list[PaperBroker], rng: random.Random, px: list[float]) -> None:
    px[0] = round(px[0] + rng.choice([-1, 1]) * 0.00005, 5)
    for b in brokers:
        name = next(iter(b.symbols()))
        b.set_quote(name, px[0], round(px[0] + 0.00002, 5))


def floor_step(v: float, step: float) -> float:
    return round(math.floor(v / step + 1e-9) * step, 8)


def expected(master: PaperBroker, v0: dict[str, float]) -> dict[str, object]:
    ps = master.positions()
    a = sorted((("EURUSD.pro", int(p.side), p.volume, p.sl, p.tp) for p in ps), key=repr)
    c = sorted(
        (("EURUSDc", int(p.side), round(p.volume * 100, 8), p.sl, p.tp) for p in ps), key=repr
    )
    net = 0.0
    for p in ps:  # fixed lot, partial closes in proportion, never under the minimum
        net += int(p.side) * max(0.01, floor_step(FIXED * p.volume / v0[p.ticket], 0.01))
    n = round(net, 8)
    sls, tps = {p.sl for p in ps}, {p.tp for p in ps}
    # Netting: one SL/TP per symbol, each the copies' common level or none.
    lv = (sls.pop() if len(sls) == 1 else None, tps.pop() if len(tps) == 1 else None)
    return {"A": a, "B": c, "C": (n, lv if n else None)}


def actual(nodes: dict[str, Node]) -> dict[str, object]:
    def hold(b: PaperBroker):
        return sorted(
            ((p.symbol, int(p.side), p.volume, p.sl, p.tp) for p in b.positions()), key=repr
        )

    cp = nodes["C"].broker.positions()
    n = round(sum(int(p.side) * p.volume for p in cp), 8)
    return {
        "A": hold(nodes["A"].broker),
        "B": hold(nodes["B"].broker),
        "C": (n, (cp[0].sl, cp[0].tp) if cp else None),
    }


def diff(got: dict[str, object], want: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k in got:
        g, w = got[k], want[k]
        if g != w:
            out[k] = (
                {"extra": [x for x in g if x not in w], "missing": [x for x in w if x not in g]}
                if isinstance(g, list) and isinstance(w, list)
                else (g, w)
            )
    return out


def test_random_master_three_followers_with_chaos_end_exact(tmp_path, request):
    db = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = open_database(db)
    with session_factory(engine)() as s:
        m = admin.add_account(s, "master", "1001", "Alpha")
        fa = admin.add_account(s, "follower", "2001", "BetaPro")
        fb = admin.add_account(s, "follower", "2002", "CentFx")
        fc = admin.add_account(s, "follower", "2003", "B3net")
        admin.subscribe(s, fa, m, {"volumeMode": "copy"})
        admin.subscribe(s, fb, m, {"volumeMode": "copy"})
        admin.subscribe(s, fc, m, {"volumeMode": "fixed", "volumeFixed": FIXED})
        pub_token = admin.issue_token(s, "publish", m)
        tokens = [admin.issue_token(s, "follow", f) for f in (fa, fb, fc)]
        ids = (m.id, fa.id, fb.id, fc.id)
        s.commit()
    engine.dispose()
    mid = ids[0]
    server = Server(db, free_port())
    request.addfinalizer(server.stop)  # stopped even when an assertion fails
    server.start()
    client = httpx.Client(base_url=server.base, timeout=10)
    dup = Duplicating(random.Random(7))
    pub_client = httpx.Client(base_url=server.base, timeout=10, transport=dup)
    master = paper("EURUSD", balance=100_000)
    nodes = {
        "A": Node("A", paper("EURUSD.pro"), ids[1], tokens[0], tmp_path / "A"),
        "B": Node("B", paper("EURUSDc"), ids[2], tokens[1], tmp_path / "B"),
        "C": Node("C", paper("EURUSD", "netting"), ids[3], tokens[2], tmp_path / "C"),
    }

    links: list[StreamLink] = []

    def start(n: Node) -> None:
        # The production link: pushed changes, the full book at start and after a gap.
        link = StreamLink(HttpLink(client, n.fid, mid, n.token))
        links.append(link)
        opts = FollowerOptions(
            magic=99, state_dir=n.state, cent=n.name == "B", heartbeat_interval_s=0.5
        )
        n.follower = Follower(n.broker, link, opts, name=n.name)
        n.follower.start()

    cfg = PublisherSettings(
        server_url=server.base,
        master_id=mid,
        token=pub_token,
        snapshot_interval_s=0.5,
        backoff_initial_s=0.01,
        backoff_max_s=0.2,
    )
    publisher = Publisher(master, pub_client, mid, tmp_path / "pub", cfg)
    for n in nodes.values():
        start(n)

    v0: dict[str, float] = {}  # master volume when the publisher first saw a position

    def poll() -> None:
        publisher.poll_once()
        for p in master.positions():
            v0.setdefault(p.ticket, p.volume)

    def sync(rounds: int = 40) -> None:
        """Deliver what the master did and let every follower reconcile (twice)."""
        for _ in range(rounds):
            poll()
            if publisher.outbox.pending_count() == 0:
                break
            time.sleep(0.02)
        assert publisher.outbox.pending_count() == 0
        for _ in range(2):
            for n in nodes.values():
                assert n.follower is not None
                n.follower.cycle()

    chaos: list[str] = []

    def once(what: str) -> bool:
        if what in chaos:
            return False
        chaos.append(what)
        return True

    rng = random.Random(20261130)
    px = [1.10000]
    brokers = [master] + [n.broker for n in nodes.values()]
    actions = 0
    checks = 0
    while actions < 520:
        for _ in range(rng.choice([1, 1, 2, 3, 5])):  # several in one poll interval
            step_master(master, rng)
            actions += 1
        move_price(brokers, rng, px)

        if actions >= 150 and once("restart B"):  # follower B killed and restarted (ledger kept)
            nodes["B"].follower = None
            start(nodes["B"])
        if actions >= 350 and once("restart C, ledger lost"):
            for f in nodes["C"].state.glob("ledger-*.json"):
                f.unlink()
            start(nodes["C"])
        if actions >= 250 and once("server killed"):  # the server dies mid-stream
            server.kill()
            for _ in range(3):
                step_master(master, rng)
                actions += 1
                poll()  # queued on disk
                for n in nodes.values():
                    assert n.follower is not None
                    with pytest.raises(LinkError):
                        n.follower.cycle()
            assert publisher.outbox.pending_count() > 0
            server.start()
        if actions >= 420 and once("master outage"):  # publisher silent
            frozen = actual(nodes)
            step_master(master, rng)
            actions += 1
            time.sleep(STALE_S + 0.5)
            for n in nodes.values():
                assert n.follower is not None
                n.follower.cycle()
            assert actual(nodes) == frozen  # a stale master freezes its followers
        sync()
        want, got = expected(master, v0), actual(nodes)
        assert got == want, f"after {actions} actions: {diff(got, want)}"
        checks += 1

    assert checks > 100 and actions >= 500 and dup.twice > 20
    assert len(chaos) == 4, chaos
    for link in links:
        link.close()
    client.close()
    pub_client.close()
    server.kill()
    # No copy was ever opened twice: one entry deal per target id on the hedging ones.
    for name in ("A", "B"):
        ins = Counter(d.comment for d in nodes[name].broker.deals() if d.entry == "in")
        assert ins and max(ins.values()) == 1, (name, ins.most_common(3))
    # Every skip is explained.
    engine = open_database(db, migrate=False)
    with session_factory(engine)() as s:
        skips = list(s.scalars(select(CopyDecision).where(CopyDecision.action == "skip")))
        reports = list(s.scalars(select(ExecutionReport)))
    engine.dispose()
    assert all(d.reason for d in skips)
    assert all(r.reason for r in reports if r.status != "copied")
    assert sum(r.status == "copied" for r in reports) > 300
