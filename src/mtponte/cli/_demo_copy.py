"""The copy-trading part of ``mtponte demo``: the live monitor's paper account is
published as a master to a copy server on 127.0.0.1, and three followers copy it."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec

log = logging.getLogger("mtponte.demo")


@dataclass
class FollowerRun:
    """One demo follower and what it did."""

    label: str
    symbol: str
    settings: dict[str, Any]
    mode: str
    cent: bool
    broker: Any = None
    follower: Any = None
    account_id: int = 0


FOLLOWERS = [
    FollowerRun("standard, .pro broker", "WIN.pro", {"volumeMode": "copy"}, "hedging", False),
    FollowerRun("cent account", "WINc", {"volumeMode": "copy"}, "hedging", True),
    FollowerRun(
        "fixed 2 lots, netting",
        "WIN",
        {"volumeMode": "fixed", "volumeFixed": 2.0},
        "netting",
        False,
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """The copy server (uvicorn) in a thread on 127.0.0.1; stopped by :meth:`stop`."""

    def __init__(self, db_url: str) -> None:
        import uvicorn

        from mtponte.copy.server.app import create_app
        from mtponte.copy.server.settings import ServerSettings

        self.port = _free_port()
        app = create_app(ServerSettings(database_url=db_url, master_stale_s=600))
        cfg = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, name="copy-server", daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                from mtponte.errors import MtponteError

                raise MtponteError("the demo copy server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def run_copy_demo(out: Path, bars: Bars, spec: SymbolSpec, on_bar: Any = None) -> dict[str, Any]:
    """Replay ``bars`` through the live runner on a netting paper account published as
    a master, with three followers copying it; return the summary.

    Parameters
    ----------
    out
        Folder for the server's database, the publisher's and followers' state.
    bars
        The bars the monitor trades (the demo takes the last sessions).
    spec
        The master's symbol.
    on_bar
        Called after each bar (progress).
    """
    import httpx
    from pydantic import SecretStr

    from mtponte.brokers.paper import PaperBroker
    from mtponte.copy.follower import Follower, FollowerOptions, HttpLink
    from mtponte.copy.publisher import Publisher, PublisherSettings
    from mtponte.copy.server import admin
    from mtponte.copy.server.db import open_database, session_factory
    from mtponte.copy.server.models import Event, ExecutionReport
    from mtponte.live.config import LiveConfig, RunnerSection
    from mtponte.live.replay import ReplayClock, replay_paper

    root = out / "copy"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    db = f"sqlite:///{(root / 'copy-server.sqlite').as_posix()}"
    engine = open_database(db)
    with session_factory(engine)() as s:
        master = admin.add_account(s, "master", "1001", "B3 demo broker")
        pub_token = admin.issue_token(s, "publish", master)
        tokens = []
        for i, f in enumerate(FOLLOWERS):
            acc = admin.add_account(
                s, "follower", str(2001 + i), f.label, account_type="cent" if f.cent else "standard"
            )
            admin.subscribe(s, acc, master, f.settings)
            tokens.append(admin.issue_token(s, "follow", acc))
            f.account_id = acc.id
        master_id = master.id
        s.commit()
    engine.dispose()

    server = _Server(db)
    base = server.start()
    client = httpx.Client(base_url=base, timeout=10)
    clock = ReplayClock()
    master_broker = PaperBroker(
        symbols=[spec], currency=spec.currency, clock=clock, account_mode="netting"
    )
    publisher = Publisher(
        master_broker,
        client,
        master_id,
        root / "publisher",
        PublisherSettings(server_url=base, master_id=master_id, token=SecretStr(pub_token)),
    )
    for f, token in zip(FOLLOWERS, tokens, strict=True):
        f.broker = PaperBroker(
            symbols=[spec.with_name(f.symbol)],
            currency=spec.currency,
            account_mode=f.mode,  # type: ignore[arg-type]
            balance=100_000.0,
        )
        link = HttpLink(client, f.account_id, master_id, token)
        opts = FollowerOptions(state_dir=root / f"follower-{f.account_id}", cent=f.cent)
        f.follower = Follower(f.broker, link, opts, name=str(f.account_id))
        f.follower.start()

    def sync() -> None:
        q = master_broker.quote(spec.name)
        for f in FOLLOWERS:
            if q is not None:
                f.broker.set_quote(f.symbol, q[0], q[1])
            f.follower.cycle()

    held: tuple[tuple[str, float, float | None, float | None], ...] = ()
    bars_seen = 0

    def hook(_ev: Any) -> None:
        nonlocal held, bars_seen
        bars_seen += 1
        now = tuple((p.ticket, p.volume, p.sl, p.tp) for p in master_broker.positions())
        if now != held or bars_seen % 50 == 0:
            held = now
            publisher.poll_once()
            sync()
        if on_bar is not None:
            on_bar()

    cfg = LiveConfig(runner=RunnerSection(mode="trade"))
    try:
        run = replay_paper(bars, spec, cfg, broker=master_broker, clock=clock, on_event=hook)
        publisher.poll_once()
        sync()
        sync()
        engine = open_database(db, migrate=False)
        with session_factory(engine)() as s:
            reports = list(s.query(ExecutionReport).all())
            published = s.query(Event).filter(Event.kind == "open").count()
        engine.dispose()
    finally:
        publisher.close()
        client.close()
        server.stop()

    summary: dict[str, Any] = {
        "master_trades": len(run.trades),
        "published_opens": published,
        "master_positions": _net(master_broker),
        "followers": [],
    }
    for f in FOLLOWERS:
        mine = [r for r in reports if r.follower_id == f.account_id]
        lat = sorted(r.latency_ms for r in mine if r.latency_ms is not None)
        opened = Counter(d.comment for d in f.broker.deals() if d.entry in ("in", "inout"))
        vols = sorted({round(d.volume, 8) for d in f.broker.deals() if d.entry == "in"})
        summary["followers"].append(
            {
                "label": f.label,
                "symbol": f.symbol,
                "copies": sum(opened.values()),
                "lots": vols,
                "copied": sum(r.status == "copied" for r in mine),
                "skipped": sum(r.status == "skipped" for r in mine),
                "failed": sum(r.status == "failed" for r in mine),
                "latency_p50_ms": _pct(lat, 0.5),
                "latency_p99_ms": _pct(lat, 0.99),
                "positions": _net(f.broker),
            }
        )
    return summary


def _net(b: Any) -> float:
    return round(sum(int(p.side) * p.volume for p in b.positions()), 8)


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return round(xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)], 1)
