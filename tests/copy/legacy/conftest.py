"""The legacy-EA suite: the EA models of ``ea.py`` against the real app (SQLite, and
PostgreSQL when ``MTPONTE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mtponte.copy.server import admin
from mtponte.copy.server.models import Account, Subscription
from tests.copy.legacy.ea import MasterEA, SlaveEA
from tests.copy.server.conftest import World, db_url, make_world  # noqa: F401  (fixture)


@dataclass
class Legacy:
    world: World
    master: MasterEA
    slave: SlaveEA

    def set(self, follower_id: int | None = None, partial: str | None = None, **settings: Any):
        """Replace the subscription's copy settings (and its partial-close rule)."""
        with self.world.client.app.state.sessions() as s:
            sub = (
                s.query(Subscription)
                .filter_by(
                    follower_id=follower_id or self.world.follower_id,
                    master_id=self.world.master_id,
                )
                .one()
            )
            sub.settings = settings
            sub.version += 1
            if partial is not None:
                sub.legacy_partial = partial
            s.commit()

    def account_type(self, account_id: int, kind: str) -> None:
        with self.world.client.app.state.sessions() as s:
            s.get(Account, account_id).account_type = kind
            s.commit()

    def other_slave(self, **kw: Any) -> SlaveEA:
        """A second follower of the same master, with its own Slave EA."""
        with self.world.client.app.state.sessions() as s:
            f = s.get(Account, self.world.other_follower_id)
            m = s.get(Account, self.world.master_id)
            admin.subscribe(s, f, m, kw.pop("settings", {}))
            s.commit()
        ea = SlaveEA(self.world.client, self.world.other_follow, email="other@x.io", **kw)
        ea.init()
        return ea

    def step(self, seconds: int = 1, polls: int = 1) -> None:
        """The master's timer for ``seconds``, then ``polls`` polls of the slave."""
        self.master.tick(seconds)
        for _ in range(polls):
            self.slave.poll()


@pytest.fixture
def legacy(db_url) -> Iterator[Legacy]:  # noqa: F811
    for world in make_world(db_url, master_stale_s=30):
        master = MasterEA(world.client, world.publish, email="master@x.io")
        slave = SlaveEA(world.client, world.follow)
        yield Legacy(world, master, slave)
