"""Execution reports with a client-generated ``report_id``: stored once per follower
(a resend after a lost answer or a crash), reports without one unchanged; the
migration from the previous head (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from mtponte.copy.server.models import ExecutionReport
from mtponte.copy.server.routers import followers
from tests.copy.server.conftest import World

RID = "0123456789abcdef0123456789abcdef"


def post(world: World, **body: Any) -> int:
    r = world.client.post(
        f"/api/v1/followers/{world.follower_id}/reports",
        headers=world.h(world.follow),
        json={"master_id": world.master_id, "status": "copied", "action": "open"} | body,
    )
    return r.status_code


def stored(world: World) -> list[tuple[str, str | None]]:
    with world.client.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(ExecutionReport.target_id, ExecutionReport.report_id))
        return sorted((t, r) for t, r in rows)


def test_a_report_sent_again_with_its_id_is_stored_once(world: World) -> None:
    assert post(world, target_id="s1t1", report_id=RID) == 204
    assert post(world, target_id="s1t1", report_id=RID) == 204
    assert post(world, target_id="s1t2", report_id=RID[::-1]) == 204
    assert stored(world) == [("s1t1", RID), ("s1t2", RID[::-1])]


def test_reports_without_an_id_are_each_stored(world: World) -> None:
    assert post(world, target_id="s1t1") == 204
    assert post(world, target_id="s1t1") == 204
    assert stored(world) == [("s1t1", None), ("s1t1", None)]


@pytest.mark.parametrize("rid", ["short", "x" * 65, "0123456789abcdef-"])
def test_a_malformed_report_id_is_refused(world: World, rid: str) -> None:
    assert post(world, report_id=rid) == 422
    assert stored(world) == []


def test_two_copies_racing_past_the_check_store_one_and_answer_204(world, monkeypatch) -> None:
    assert post(world, target_id="s1t1", report_id=RID) == 204
    real = followers._report_seen
    calls: list[int] = []

    def late(session, follower_id: int, report_id: str) -> bool:
        calls.append(1)
        # the first look misses the other copy (committed just after it)
        return False if len(calls) == 1 else real(session, follower_id, report_id)

    monkeypatch.setattr(followers, "_report_seen", late)
    assert post(world, target_id="s1t1", report_id=RID) == 204
    assert len(calls) == 2  # the unique index refused the insert, then it was found
    assert stored(world) == [("s1t1", RID)]


def test_the_migration_adds_the_id_to_existing_reports(db_url) -> None:
    from alembic import command
    from alembic.config import Config

    from mtponte.copy.server.db import MIGRATIONS, make_engine, upgrade
    from mtponte.copy.server.models import Account

    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")  # the previous head
    cols = {c["name"] for c in inspect(engine).get_columns("execution_reports")}
    assert "report_id" not in cols
    acct = Account.__table__
    rep = ExecutionReport.__table__
    with engine.begin() as conn:
        aid = conn.execute(
            insert(acct)
            .values(role="follower", account_number="1", broker="B", email="a@x.io")
            .returning(acct.c.id)
        ).scalar_one()
        old = {c.name for c in rep.columns} - {"id", "report_id"}
        row = {"follower_id": aid, "master_id": aid, "status": "copied", "reason": ""}
        conn.execute(insert(rep).values({k: v for k, v in row.items() if k in old}))
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(select(rep.c.report_id)).scalars().all() == [None]
        conn.execute(insert(rep).values(row))  # NULL ids never collide
        conn.execute(insert(rep).values(row | {"report_id": RID}))
        assert conn.execute(select(func.count()).select_from(rep)).scalar_one() == 3
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(rep).values(row | {"report_id": RID}))
    engine.dispose()
