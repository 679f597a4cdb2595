"""The publisher's durable state: one SQLite file in the state folder.

It holds, changed together in one transaction,

- ``positions``: the position set the last diff was computed from (what the server
  has been, or is about to be, told);
- ``outbox``: events not yet delivered, in order, each with its idempotency key and
  the exact body to post (a resend posts the same bytes, so the server answers 200);
- ``meta``: the state's ``epoch`` (a random id drawn when the file is created) and the
  next event number.

and ``dead``: events the server refused for good (409, 4xx), kept for an operator.

Idempotency key: ``<epoch>-<n>-<kind>-<ticket>``, ``n`` the event's number in this
state. It is stored with the event before any HTTP call, so a resend after a crash or
an outage carries the same key; two different changes (SL moved A→B→A) have different
numbers, so their keys never collide. A new state folder draws a new epoch, so its keys
never collide with those of a lost one either.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtponte.copy.publisher._diff import Change, Pos
from mtponte.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (ticket TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
    queued_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    n INTEGER PRIMARY KEY, key TEXT NOT NULL, body TEXT NOT NULL,
    status INTEGER NOT NULL, reason TEXT NOT NULL, dead_ms INTEGER NOT NULL
);
"""
FILE_NAME = "publisher.sqlite"


@dataclass(frozen=True, slots=True)
class Queued:
    """An event waiting in the outbox."""

    n: int
    key: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event the server refused for good."""

    n: int
    key: str
    body: dict[str, Any]
    status: int
    reason: str


class Outbox:
    """Open (or create) the state in ``state_dir``.

    Parameters
    ----------
    state_dir
        Folder of ``publisher.sqlite`` (created when missing).
    master_id
        The master this state publishes for; a state folder of another master is
        refused (its keys and positions are that master's).
    """

    def __init__(self, state_dir: Path, master_id: int) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILE_NAME
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (secrets.token_hex(4),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('next_n', '1')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('master_id', ?)", (str(master_id),))
            self.epoch = self._meta(db, "epoch")
            stored = self._meta(db, "master_id")
        if stored != str(master_id):
            self._db.close()
            raise ConfigError(
                f"state folder {state_dir} belongs to master {stored}, not {master_id}"
            )

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str:
        return str(db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file (the state is durable at every commit; this only frees it)."""
        self._db.close()

    # ------------------------------------------------------------------ reads
    def positions(self) -> dict[str, Pos]:
        """The position set the last diff was computed from."""
        rows = self._db.execute("SELECT body FROM positions").fetchall()
        out = {}
        for (body,) in rows:
            p = Pos.from_json(json.loads(body))
            out[p.ticket] = p
        return out

    def initialized(self) -> bool:
        """Whether a position set was ever recorded (a first start diffs from empty)."""
        row = self._db.execute("SELECT 1 FROM meta WHERE key='recorded'").fetchone()
        return row is not None

    def pending(self, limit: int | None = None) -> list[Queued]:
        """Undelivered events, oldest first."""
        q = "SELECT n, key, body FROM outbox ORDER BY n"
        rows = self._db.execute(q + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [Queued(n, key, json.loads(body)) for n, key, body in rows]

    def pending_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def dead(self) -> list[DeadLetter]:
        """Events the server refused for good, oldest first."""
        rows = self._db.execute(
            "SELECT n, key, body, status, reason FROM dead ORDER BY n"
        ).fetchall()
        return [DeadLetter(n, k, json.loads(b), s, r) for n, k, b, s, r in rows]

    # ----------------------------------------------------------------- writes
    def record(
        self, changes: Sequence[Change], positions: Mapping[str, Pos], now_ms: int
    ) -> list[Queued]:
        """Queue ``changes`` and make ``positions`` the published set, atomically.

        Parameters
        ----------
        changes
            Events in publishing order.
        positions
            The position set they were computed from.
        now_ms
            Event time (epoch ms, UTC).

        Returns
        -------
        list of Queued
            The queued events with their keys.
        """
        queued: list[Queued] = []
        with self._tx() as db:
            n = int(self._meta(db, "next_n"))
            for c in changes:
                key = f"{self.epoch}-{n}-{c.kind}-{c.ticket}"
                body = {"idempotency_key": key, **c.body(), "time": now_ms}
                db.execute(
                    "INSERT INTO outbox VALUES (?, ?, ?, ?)",
                    (n, key, json.dumps(body, sort_keys=True), now_ms),
                )
                queued.append(Queued(n, key, body))
                n += 1
            db.execute("UPDATE meta SET value=? WHERE key='next_n'", (str(n),))
            db.execute("DELETE FROM positions")
            db.executemany(
                "INSERT INTO positions VALUES (?, ?)",
                [(t, json.dumps(p.as_json(), sort_keys=True)) for t, p in positions.items()],
            )
            db.execute("INSERT OR IGNORE INTO meta VALUES ('recorded', '1')")
        return queued

    def delivered(self, n: int) -> None:
        """Drop event ``n`` from the outbox (the server stored it)."""
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE n=?", (n,))

    def kill(self, item: Queued, status: int, reason: str, now_ms: int) -> None:
        """Move event ``item`` to the dead letters."""
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE n=?", (item.n,))
            db.execute(
                "INSERT OR REPLACE INTO dead VALUES (?, ?, ?, ?, ?, ?)",
                (item.n, item.key, json.dumps(item.body, sort_keys=True), status, reason, now_ms),
            )
