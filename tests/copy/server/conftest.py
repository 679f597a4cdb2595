"""Copy-server fixtures: every test runs on SQLite, and on PostgreSQL when
``MTPONTE_TEST_DATABASE_URL`` is set (CI sets it; locally those runs skip)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mtponte.copy.server import admin
from mtponte.copy.server.app import create_app
from mtponte.copy.server.settings import ServerSettings

PG = os.environ.get("MTPONTE_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copy.db'}"
        return
    if not PG:
        pytest.skip("MTPONTE_TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)")
    from sqlalchemy import create_engine, text

    from mtponte.copy.server.db import make_engine

    name = f"mtp_{uuid.uuid4().hex[:12]}"
    root = make_engine(PG)
    with root.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base = root.url.set(database=name).render_as_string(hide_password=False)
    yield base
    root.dispose()
    eng = create_engine(
        PG.replace("postgresql://", "postgresql+psycopg://", 1)
        if PG.startswith("postgresql://")
        else PG
    )
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@dataclass
class World:
    client: TestClient
    master_id: int
    follower_id: int
    other_follower_id: int
    publish: str
    follow: str
    other_follow: str
    admin: str

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(db_url) -> Iterator[World]:
    yield from make_world(db_url)


def make_world(db_url: str, **settings: Any) -> Iterator[World]:
    """A server with one master, a follower of it and one that follows nobody."""
    cfg = ServerSettings(
        **({"database_url": db_url, "master_stale_s": 300, "retention_events": 50} | settings)
    )
    app = create_app(cfg)
    with TestClient(app) as client:
        with app.state.sessions() as s:
            m = admin.add_account(s, "master", "1001", "BrokerA", "master@x.io")
            f = admin.add_account(s, "follower", "2001", "BrokerB", "slave@x.io")
            g = admin.add_account(s, "follower", "2002", "BrokerB", "other@x.io")
            admin.subscribe(s, f, m, {"volumeMultiplier": 2.0})
            tokens = (
                admin.issue_token(s, "publish", m),
                admin.issue_token(s, "follow", f),
                admin.issue_token(s, "follow", g),
                admin.issue_token(s, "admin", None),
            )
            ids = (m.id, f.id, g.id)
            s.commit()
        yield World(client, *ids, *tokens)


def report_symbol(world: World, symbol: str = "EURUSD", netting: bool = False) -> None:
    """The follower reports its facts: one 5-digit symbol (a hedging account unless
    ``netting``)."""
    from mtponte.copy.server.schemas import SymbolSpecIn

    spec = SymbolSpecIn(name=symbol, tick_size=1e-5, tick_value=1.0, digits=5).model_dump()
    r = world.client.post(
        f"/api/v1/followers/{world.follower_id}/heartbeats",
        json={"instance": "a", "symbols": [spec], "netting": netting},
        headers=world.h(world.follow),
    )
    assert r.status_code == 204, r.text
