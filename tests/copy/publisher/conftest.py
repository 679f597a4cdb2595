"""Publisher fixtures: a real in-process copy server (``make_world``), a transport that
fails on demand in front of it, and a paper master account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mtponte.brokers.paper import PaperBroker
from mtponte.copy.publisher import Publisher, PublisherSettings
from mtponte.copy.server.models import Account, Event
from mtponte.copy.server.service import current_book
from mtponte.domain.symbols import EURUSD
from tests.copy.server.conftest import World, make_world

TOKEN_MARK = "publish"


class Crash(BaseException):
    """A simulated process death (not an Exception: nothing may catch it)."""


@dataclass
class Flaky(httpx.BaseTransport):
    """Forwards requests to the in-process server; ``plan`` decides, per request,
    ``"ok"``, ``"down"`` (ConnectError, never sent), ``"lost"`` (sent and stored, the
    answer lost: ReadError), ``"503"``, or ``"crash"``/``"crash_after"`` (a
    :class:`Crash` before/after the server saw it)."""

    inner: httpx.Client
    plan: Callable[[httpx.Request], str] = lambda _r: "ok"
    seen: list[tuple[str, str]] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        what = self.plan(request)
        self.seen.append((request.url.path, what))
        if what == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if what == "crash":
            raise Crash("killed before send")
        if what == "503":
            return httpx.Response(503, json={"detail": "maintenance"}, request=request)
        r = self.inner.send(request)
        if what == "lost":
            raise httpx.ReadError("connection reset", request=request)
        if what == "crash_after":
            raise Crash("killed after send")
        return httpx.Response(r.status_code, headers=r.headers, content=r.content, request=request)


@dataclass
class Rig:
    world: World
    transport: Flaky
    client: httpx.Client
    broker: PaperBroker
    state_dir: Path
    settings: PublisherSettings

    def publisher(self, **kw: Any) -> Publisher:
        import random

        from pydantic import SecretStr

        if "token" in kw:
            kw["token"] = SecretStr(kw["token"])
        return Publisher(
            self.broker,
            self.client,
            self.world.master_id,
            self.state_dir,
            self.settings.model_copy(update=kw),
            rng=random.Random(1),
        )

    def events(self) -> list[Event]:
        app = self.world.client.app
        with app.state.sessions() as s:  # type: ignore[attr-defined]
            rows = list(
                s.query(Event).filter(Event.master_id == self.world.master_id).order_by(Event.seq)
            )
            s.expunge_all()
        return rows

    def book(self) -> list[dict[str, Any]]:
        app = self.world.client.app
        with app.state.sessions() as s:  # type: ignore[attr-defined]
            m = s.get(Account, self.world.master_id)
            _, positions = current_book(s, m)
        return positions


@pytest.fixture
def rig_factory(tmp_path) -> Iterator[Callable[..., Rig]]:
    worlds: list[Iterator[World]] = []

    def make(account_mode: str = "hedging", **server: Any) -> Rig:
        gen = make_world(
            f"sqlite:///{tmp_path / 'copy.db'}", **({"retention_events": 100_000} | server)
        )
        world = next(gen)
        worlds.append(gen)
        transport = Flaky(world.client)
        client = httpx.Client(transport=transport, base_url="http://testserver")
        broker = PaperBroker(symbols=[EURUSD], account_mode=account_mode)  # type: ignore[arg-type]
        broker.set_quote("EURUSD", 1.1000, 1.1002)
        settings = PublisherSettings(
            server_url="http://testserver",
            master_id=world.master_id,
            token=world.publish,
            backoff_initial_s=0.5,
            backoff_max_s=4.0,
        )
        return Rig(world, transport, client, broker, tmp_path / "state", settings)

    yield make
    for gen in worlds:
        for _ in gen:
            pass


@pytest.fixture
def rig(rig_factory) -> Rig:
    return rig_factory()
