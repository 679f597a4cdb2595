from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mtponte.domain import Bar, Side
from mtponte.domain.orders import EntryKind, Signal, Trade
from mtponte.domain.side import ExitReason
from mtponte.errors import ConfigError
from mtponte.live.journal import open_journal
from mtponte.live.journal.models import (
    BarSeen,
    Base,
    CommandRow,
    ConfigChange,
    FillRow,
    Heartbeat,
    RiskDecisionRow,
    SignalRow,
    TradeRow,
)
from mtponte.live.journal.store import make_engine, upgrade
from mtponte.risk import Decision

PG = os.environ.get("MTPONTE_TEST_DATABASE_URL")
T = datetime(2024, 3, 4, 13, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'sub' / 'journal.sqlite').as_posix()}"
        return
    if not PG:
        pytest.skip("MTPONTE_TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)")
    from sqlalchemy import text

    name = f"mtp_{uuid.uuid4().hex[:12]}"
    root = make_engine(PG)
    with root.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield root.url.set(database=name).render_as_string(hide_password=False)
    with root.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    root.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "live_alembic_version"})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    # the copy server's tables may share the database; only ours are compared
    assert [d for d in diff if "live_" in str(d)] == []


def test_shares_a_database_with_the_copy_server(db_url: str) -> None:
    from mtponte.copy.server.db import upgrade as copy_upgrade

    engine = make_engine(db_url)
    copy_upgrade(engine)
    upgrade(engine)  # its own version table: no clash with the copy server's
    engine.dispose()
    open_journal(db_url).close()


def test_every_record_kind_round_trips(db_url: str) -> None:
    j = open_journal(db_url)
    j.start_run("trade", "paper", "replay", "WIN", {"runner": {"mode": "trade"}})
    j.bar(Bar(T, 1.0, 2.0, 0.5, 1.5, 10, 20))
    sig = Signal(T, T, Side.BUY, EntryKind.STOP, 2.0, 1.0, 4.0, None, None, 0.5)
    j.signal(sig, [Decision(True, "kill_switch", "off"), Decision(False, "max_trades", "x")], "r")
    j.command("c1", "mtp:abc", "stop", "WIN", side="buy", volume=1.0, price=2.0, sl=1.0, tp=4.0)
    j.command_result("c1", "done", 10008, "placed")
    j.fill("mtp:abc", "in", "buy", 1.0, 2.0, T, "100")
    trade = Trade(T, T, Side.BUY, 1.0, 2.0, 4.0, 1.0, 4.0, 2.0, 0.4, ExitReason.TP)
    j.trade(trade, "mtp:abc")
    j.heartbeat(1)
    j.config_change(False, ["risk.max_sl_atr: bad"])
    counts = {
        m.__name__: j.count(m)
        for m in (
            BarSeen,
            SignalRow,
            RiskDecisionRow,
            CommandRow,
            FillRow,
            TradeRow,
            Heartbeat,
            ConfigChange,
        )
    }
    assert counts == {
        "BarSeen": 1,
        "SignalRow": 1,
        "RiskDecisionRow": 2,
        "CommandRow": 1,
        "FillRow": 1,
        "TradeRow": 1,
        "Heartbeat": 1,
        "ConfigChange": 1,
    }
    assert j.unresolved_commands() == []
    j.command("c2", "mtp:def", "market", "WIN")
    assert j.unresolved_commands() == [("c2", "mtp:def", "market")]
    j.close()


def test_a_command_is_committed_before_it_returns(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}"
    j = open_journal(url)
    j.start_run("trade", "paper", "replay", "WIN", {})
    j.bar(Bar(T, 1.0, 2.0, 0.5, 1.5))
    j.command("c1", "mtp:abc", "market", "WIN")
    other = open_journal(url)  # another connection sees it: it is durable
    assert other.unresolved_commands() == [("c1", "mtp:abc", "market")]
    other.close()
    j.close()


def test_bad_url_is_one_line() -> None:
    with pytest.raises(ConfigError, match="bad journal URL 'nope://x:\\*\\*\\*@h/db'"):
        open_journal("nope://x:secret@h/db")


def test_the_command_commit_never_checkpoints_the_wal(tmp_path: Path) -> None:
    """SQLite's automatic WAL checkpoint is off on the journal's connection (it ran inside
    whichever commit crossed 1000 pages, often a command's, on the bar → order path);
    Journal.flush checkpoints every CHECKPOINT_EVERY commits instead, and close does."""
    from mtponte.live.journal import store

    wal = tmp_path / "journal.sqlite-wal"
    j = open_journal(f"sqlite:///{(tmp_path / 'journal.sqlite').as_posix()}")
    j.start_run("trade", "paper", "replay", "WIN", {})
    assert j._conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    ckpts: list[int] = []
    real = j.checkpoint

    def counted() -> None:
        ckpts.append(j._commits)
        real()

    j.checkpoint = counted  # type: ignore[method-assign]
    for _ in range(1500):  # > 1000 pages of WAL: SQLite alone would checkpoint in here
        j.command(str(uuid.uuid4()), "mtp:" + "a" * 20, "stop", "WIN", message="x" * 200)
    assert ckpts == []  # commands never checkpoint...
    assert wal.stat().st_size > 1000 * 4096  # ...not even SQLite's automatic one
    j.heartbeat(1)  # a flush after the bar: checkpoints (the commits are past due)
    assert ckpts == [1501]
    for k in range(store.CHECKPOINT_EVERY):
        j.heartbeat(k)
    assert len(ckpts) == 2
    j.close()
