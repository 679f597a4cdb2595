"""Crash-safe SQLite journals of the executor and of the Python client.

Every state change is one committed transaction in WAL mode, which survives a
``kill -9``. The changes that exactly-once rests on also survive a power cut: they
commit with ``synchronous=FULL`` (an fsync of the WAL, which also persists every
earlier transaction). The others (``sent``, results, ``done``) commit with
``NORMAL``: after a power cut they are rebuilt from the files and the broker's
records, which is what recovery does anyway. The
standard library's ``sqlite3`` is used directly (not SQLAlchemy): these are local,
single-writer files next to the terminal with a fixed two-table schema, and the
fewer moving parts on the trading machine the better.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from mtponte.bridge.protocol import Result

_EXECUTOR = """
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, file TEXT NOT NULL, state TEXT NOT NULL,
    command TEXT, result TEXT, seen_at INTEGER NOT NULL, done_at INTEGER);
"""
_CLIENT = """
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, state TEXT NOT NULL, command TEXT NOT NULL,
    result TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def _connect(path: Path | str, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


def _durable(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> None:
    """Execute one statement as a transaction that is on disk when this returns."""
    db.execute("PRAGMA synchronous=FULL")
    try:
        db.execute(sql, args)
    finally:
        db.execute("PRAGMA synchronous=NORMAL")


class ExecutorJournal:
    """Which command ids the executor has seen, is executing, or has finished.

    States: ``executing`` (journaled before acting: a crash here leaves an unknown
    outcome to resolve from the broker's records) and ``done`` (final result stored).
    """

    def __init__(self, path: Path | str) -> None:
        self._db = _connect(path, _EXECUTOR)
        self._lock = threading.Lock()

    def get(self, cid: str) -> tuple[int, str, str | None, str | None] | None:
        """(seq, state, command json, result json) of ``cid``."""
        row = self._db.execute(
            "SELECT seq, state, command, result FROM commands WHERE id=?", (cid,)
        ).fetchone()
        return (int(row[0]), row[1], row[2], row[3]) if row else None

    def begin(self, cid: str, seq: int, file: str, command: str, now: int) -> None:
        """Durably record that ``cid`` is about to be executed (before acting)."""
        with self._lock:
            _durable(
                self._db,
                "INSERT INTO commands (id, seq, file, state, command, seen_at)"
                " VALUES (?,?,?,?,?,?)",
                (cid, seq, file, "executing", command, now),
            )

    def finish(self, result: Result, file: str, command: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO commands (id, seq, file, state, command, result, seen_at, done_at)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET state='done',"
                " result=excluded.result, done_at=excluded.done_at",
                (
                    result.id,
                    result.seq if result.seq is not None else -1,
                    file,
                    "done",
                    command,
                    result.model_dump_json(exclude_none=True),
                    result.seen_at,
                    result.done_at,
                ),
            )

    def recent_results(self, limit: int) -> list[tuple[str, str]]:
        """(id, result json) of the last ``limit`` finished commands."""
        return [
            (r[0], r[1])
            for r in self._db.execute(
                "SELECT id, result FROM commands WHERE state='done' AND result IS NOT NULL"
                " ORDER BY rowid DESC LIMIT ?",
                (limit,),
            )
        ]

    def unfinished(self) -> list[tuple[str, str, str]]:
        """(id, file, command json) of commands journaled as executing."""
        return [
            (r[0], r[1], r[2])
            for r in self._db.execute(
                "SELECT id, file, command FROM commands WHERE state='executing' ORDER BY seq"
            )
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM commands").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class ClientJournal:
    """The Python side: pending → sent → accepted → final status of every command."""

    def __init__(self, path: Path | str) -> None:
        self._db = _connect(path, _CLIENT)
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        """Allocate the next sequence number (made durable by the ``add`` that follows)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
            n = (int(row[0]) if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (n,))
            self._db.execute("COMMIT")
            return n

    def add(self, cid: str, seq: int, command: str, created_at: int) -> None:
        """Durably record a command before its file is written (also persists its seq)."""
        with self._lock:
            _durable(
                self._db,
                "INSERT INTO commands VALUES (?,?,?,?,?,?)",
                (cid, seq, "pending", command, None, created_at),
            )

    def set_state(self, cid: str, state: str, result: str | None = None) -> None:
        with self._lock:
            if result is None:
                self._db.execute("UPDATE commands SET state=? WHERE id=?", (state, cid))
            else:
                self._db.execute(
                    "UPDATE commands SET state=?, result=? WHERE id=?", (state, result, cid)
                )

    def state(self, cid: str) -> str | None:
        row = self._db.execute("SELECT state FROM commands WHERE id=?", (cid,)).fetchone()
        return row[0] if row else None

    def unfinished(self) -> list[tuple[str, str, str]]:
        """(id, state, command json) not yet final, in seq order."""
        return [
            (r[0], r[1], r[2])
            for r in self._db.execute(
                "SELECT id, state, command FROM commands"
                " WHERE state IN ('pending','sent','accepted') ORDER BY seq"
            )
        ]

    def filled(self) -> list[tuple[str, str, str]]:
        """(id, command json, result json) of every filled command, in seq order."""
        return [
            (r[0], r[1], r[2])
            for r in self._db.execute(
                "SELECT id, command, result FROM commands WHERE state='filled'"
                " AND result IS NOT NULL ORDER BY seq"
            )
        ]

    def all(self) -> list[tuple[str, int, str, str | None]]:
        return [
            (r[0], int(r[1]), r[2], r[3])
            for r in self._db.execute("SELECT id, seq, state, result FROM commands ORDER BY seq")
        ]

    def close(self) -> None:
        self._db.close()
