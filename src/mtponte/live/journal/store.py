"""Writing the journal: one connection, Core statements built once, writes batched.

Records are queued in memory, in order, and written (``executemany`` per run of the
same statement) and committed together. A command is written and committed *alone*
before its order is sent, so it survives a crash of the monitor; fills and trades are
committed at the end of the bar they happen in (:meth:`Journal.flush_urgent`); other
records every ``commit_every`` records, at heartbeats and on :meth:`Journal.close`.
Deciding a bar therefore costs list appends, and one small commit when an order goes
out. SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed row survives a
crash of the process (the case that matters for "resolve by comment tag after a
crash"); the last transactions may be lost if the *machine* loses power.

The journal's own connection never checkpoints the WAL inside a commit
(``wal_autocheckpoint=0``): SQLite's automatic checkpoint would run in whichever commit
crosses 1000 pages -- often the command row's, the one commit on the path from a closed
bar to its order, where it cost milliseconds (a write of the database file and its
sync). :meth:`Journal.flush` checkpoints instead (``PASSIVE``), after the bar was
decided, every ``CHECKPOINT_EVERY`` commits. A checkpoint only copies committed
transactions from the WAL into the database file, so what survives a crash is the
same either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mtponte.domain.bars import Bar
from mtponte.domain.orders import Signal, Trade
from mtponte.errors import ConfigError
from mtponte.live.journal.models import (
    AlertRow,
    BarSeen,
    CommandRow,
    ConfigChange,
    FillRow,
    Heartbeat,
    RiskDecisionRow,
    Run,
    SignalRow,
    TradeRow,
)
from mtponte.risk.rules import Decision

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``postgresql://`` is given the psycopg 3 driver; an SQLite
    file's folder is created)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if url.startswith("sqlite:///") and path and not path.startswith(":memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # checkpoints run from Journal.flush, off the command's commit (module doc)
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    """Apply the journal's Alembic migrations (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_journal(url: str) -> Journal:
    """Open (and migrate) the journal at ``url``; a bad URL is one :class:`ConfigError` line.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path/journal.sqlite`` (default form) or
        ``postgresql://user:pass@host/db``.

    Returns
    -------
    Journal
    """
    shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"bad journal URL {shown!r}: {str(exc).replace(url, shown)}") from None
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot open journal {shown}: {reason}") from None
    return Journal(engine)


def _now() -> datetime:
    return datetime.now(UTC)


CHECKPOINT_EVERY = 64  # commits between two WAL checkpoints (SQLite)


class Journal:
    """Append-only records of one or more runs.

    Parameters
    ----------
    engine
        A migrated engine (see :func:`open_journal`).
    commit_every
        Write and commit at the latest after this many queued records.
    """

    def __init__(self, engine: Engine, commit_every: int = 200) -> None:
        self.engine = engine
        self.commit_every = commit_every
        self._conn: Connection = engine.connect()
        self._stmts: dict[Any, Any] = {}
        # queued writes, in order: (statement, row) or (None, (signal row, decision rows))
        self._ops: list[tuple[Any, Any]] = []
        self._urgent = False  # fills or trades queued: commit at the end of the bar
        self._sqlite = engine.dialect.name == "sqlite"
        self._commits = 0  # since the last WAL checkpoint
        cmd = cast(Table, CommandRow.__table__)
        self._result_stmt = (
            update(cmd)
            .where(cmd.c.id == bindparam("cid"))
            .values(
                state=bindparam("state"),
                retcode=bindparam("retcode"),
                message=bindparam("message"),
                done_at=bindparam("done_at"),
            )
        )
        self.run_id = 0
        # Called with (record kind, values) after signal/fill/trade/command_result/alert are
        # queued: the alerts hook (mtponte.live.alerting). Must not block or raise.
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def _tell(self, kind: str, **values: Any) -> None:
        for listener in self.listeners:
            listener(kind, values)

    def close(self) -> None:
        """Commit what is queued, close the connection and dispose of the engine."""
        self.flush()
        self.checkpoint()
        self._conn.close()
        self.engine.dispose()

    def flush_urgent(self) -> None:
        """Write and commit if fills or trades are queued (the runner calls this once the
        bar is decided, so money records do not wait for the next heartbeat)."""
        if self._urgent:
            self.flush()

    def flush(self) -> None:
        """Write and commit every queued record."""
        self._urgent = False
        if not self._ops:
            return
        ops, self._ops = self._ops, []
        conn = self._conn
        i = 0
        while i < len(ops):
            stmt, row = ops[i]
            if stmt is None:
                sig, decisions = row
                sid = conn.execute(self._stmt(SignalRow), sig).inserted_primary_key[0]  # type: ignore[index]
                if decisions:
                    conn.execute(
                        self._stmt(RiskDecisionRow), [{**d, "signal_id": sid} for d in decisions]
                    )
                i += 1
                continue
            j = i + 1
            while j < len(ops) and ops[j][0] is stmt:
                j += 1
            conn.execute(stmt, [r for _, r in ops[i:j]] if j - i > 1 else row)
            i = j
        conn.commit()
        self._commits += 1
        if self._sqlite and self._commits >= CHECKPOINT_EVERY:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL's committed transactions into the SQLite file (``PASSIVE``: never
        waits for readers); nothing on other databases."""
        self._commits = 0
        if self._sqlite:
            self._conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.commit()

    def _stmt(self, model: Any) -> Any:
        stmt = self._stmts.get(model)
        if stmt is None:
            stmt = self._stmts[model] = insert(model.__table__)
        return stmt

    def _queue(self, stmt: Any, row: Any) -> None:
        self._ops.append((stmt, row))
        if len(self._ops) >= self.commit_every:
            self.flush()

    def _add(self, model: Any, **row: Any) -> None:
        self._queue(self._stmt(model), {"run_id": self.run_id, **row})

    def start_run(self, mode: str, broker: str, feed: str, symbol: str, config: Any) -> int:
        """Record the start of a run; later records belong to it."""
        self.flush()
        res = self._conn.execute(
            insert(Run).values(
                started_at=_now(),
                mode=mode,
                broker=broker,
                feed=feed,
                symbol=symbol,
                config=json.dumps(config, default=str, sort_keys=True),
            )
        )
        self._conn.commit()
        self.run_id = int(res.inserted_primary_key[0])  # type: ignore[index]
        return self.run_id

    def bar(self, bar: Bar) -> None:
        """A closed bar was handed to the strategy."""
        self._add(
            BarSeen,
            time=bar.time,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            tick_volume=bar.tick_volume,
            real_volume=bar.real_volume,
            seen_at=_now(),
        )

    def signal(self, sig: Signal, decisions: list[Decision], outcome: str) -> None:
        """A signal, every risk decision about it and what became of it."""
        row = {
            "run_id": self.run_id,
            "bar_time": sig.bar_time,
            "setup_time": sig.setup_time,
            "side": sig.side.name.lower(),
            "kind": sig.kind.value,
            "price": sig.price,
            "sl": sig.sl,
            "tp": sig.tp,
            "sl_distance": sig.sl_distance,
            "tp_distance": sig.tp_distance,
            "atr": sig.atr,
            "outcome": outcome[:40],
            "created_at": _now(),
        }
        decs = [
            {"run_id": self.run_id, "rule": d.rule, "allowed": d.allowed, "reason": d.reason[:300]}
            for d in decisions
        ]
        self._queue(None, (row, decs))
        if self.listeners:
            self._tell("signal", signal=sig, decisions=decisions, outcome=outcome)

    def command(self, cid: str, tag: str, kind: str, symbol: str, **fields: Any) -> None:
        """A command about to be sent (state ``pending``): written and committed alone,
        ahead of the records still queued, before this returns (so an order is never
        sent without its row; the queued records follow at the next flush)."""
        self._conn.execute(
            self._stmt(CommandRow),
            {
                "run_id": self.run_id,
                "id": cid,
                "tag": tag,
                "kind": kind,
                "symbol": symbol,
                "state": "pending",
                "message": "",
                "created_at": _now(),
                **fields,
            },
        )
        self._conn.commit()  # never checkpoints here (wal_autocheckpoint=0)
        self._commits += 1

    def command_result(self, cid: str, state: str, retcode: int | None, message: str) -> None:
        """The outcome of a command: ``done``, ``refused``, ``unknown`` or ``lost``."""
        self._queue(
            self._result_stmt,
            {
                "cid": cid,
                "state": state,
                "retcode": retcode,
                "message": message[:300],
                "done_at": _now(),
            },
        )
        if self.listeners:
            self._tell("command_result", cid=cid, state=state, retcode=retcode, message=message)

    def unresolved_commands(self) -> list[tuple[str, str, str]]:
        """``(id, tag, kind)`` of commands of any run still ``pending`` or ``unknown``."""
        self.flush()
        rows = self._conn.execute(
            select(CommandRow.id, CommandRow.tag, CommandRow.kind).where(
                CommandRow.state.in_(("pending", "unknown"))
            )
        ).all()
        self._conn.commit()
        return [(r[0], r[1], r[2]) for r in rows]

    def fill(
        self,
        tag: str,
        entry: str,
        side: str,
        volume: float,
        price: float,
        bar_time: datetime,
        ticket: str,
    ) -> None:
        """An execution seen on the broker."""
        self._urgent = True
        self._add(
            FillRow,
            tag=tag,
            entry=entry,
            side=side,
            volume=volume,
            price=price,
            bar_time=bar_time,
            ticket=ticket,
        )
        if self.listeners:
            self._tell(
                "fill", tag=tag, entry=entry, side=side, volume=volume, price=price, ticket=ticket
            )

    def trade(self, t: Trade, tag: str) -> None:
        """A closed round trip."""
        self._urgent = True
        self._add(
            TradeRow,
            tag=tag,
            entry_time=t.entry_time,
            exit_time=t.exit_time,
            side=t.side.name.lower(),
            volume=t.volume,
            entry_price=t.entry_price,
            exit_price=t.exit_price,
            sl=t.sl,
            tp=t.tp,
            pnl_points=t.pnl_points,
            pnl_money=t.pnl_money,
            exit_reason=t.exit_reason.value,
        )
        if self.listeners:
            self._tell("trade", trade=t, tag=tag)

    def heartbeat(self, bars_seen: int, note: str = "") -> None:
        """The monitor is alive (written and committed now)."""
        self._add(Heartbeat, time=_now(), bars_seen=bars_seen, note=note[:200])
        self.flush()

    def config_change(self, accepted: bool, changes: Any) -> None:
        """A configuration applied (``accepted``) or refused, with what changed or why."""
        self._add(
            ConfigChange,
            time=_now(),
            accepted=accepted,
            changes=json.dumps(changes, default=str, sort_keys=True),
        )
        self.flush()

    def alert(self, kind: str, message: str, data: Any) -> None:
        """An alert (``guard_tripped``, ``guard_reset``): written and committed now."""
        self._add(
            AlertRow,
            time=_now(),
            kind=kind,
            message=message[:500],
            data=json.dumps(data, default=str, sort_keys=True),
        )
        self.flush()
        if self.listeners:
            self._tell("alert", alert=kind, message=message, data=data)

    def count(self, model: Any) -> int:
        """Rows of ``model`` in this run (tests, reports)."""
        self.flush()
        n = self._conn.execute(
            select(func.count()).select_from(model).where(model.run_id == self.run_id)
        ).scalar_one()
        self._conn.commit()
        return int(n)
