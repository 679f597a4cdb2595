"""Who may poll which master's ``slave-signals``, kept in memory by each worker."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from mtponte.copy.server.security import token_hash

_log = logging.getLogger("mtponte.copy")

GrantKey = tuple[str, str, str | None]  # (token hash, master_account_id, master_email)


def signals_key(token: str, query_string: bytes) -> GrantKey:
    """The key of a ``slave-signals`` request: the token and the master asked for, read
    from the raw query string the same way by the route and the edge."""
    q = dict(parse_qsl(query_string.decode("latin-1")))
    return token_hash(token), q.get("master_account_id", ""), q.get("master_email")


@dataclass(frozen=True, slots=True)
class Grant:
    """One follow token's right to poll one master."""

    master_id: int
    expires: float  # the token's expiry, wall clock (inf: none)


TableLoader = Callable[[], tuple[int, dict[GrantKey, Grant]]]  # (epoch, table)
EpochReader = Callable[[], int]


class Grants:
    """The table of poll authorizations.

    Read whole at start and again every ``reload_s``. In between, the database's
    authorization epoch is read in the background at most every ``check_s``; when it
    has moved (a token revoked anywhere) the table is read again at once. Polls never
    wait for either read, and neither a restart nor a revocation sends every slave to
    the database in the same second. A key missing from the table (a token issued
    since the last read) is authorized by the route and added with :meth:`put`.
    """

    def __init__(self, reload_s: float, check_s: float) -> None:
        self.reload_s = reload_s
        self.check_s = check_s
        self.loader: TableLoader | None = None  # set when the app starts
        self.epoch_reader: EpochReader | None = None
        self.epoch = -1
        self._table: dict[GrantKey, Grant] = {}
        self._gen = 0
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._reload_due = 0.0
        self._force = False
        self._busy = False

    def get(self, key: GrantKey) -> Grant | None:
        """The grant for ``key`` if it has not expired (any thread)."""
        g = self._table.get(key)
        return g if g is not None and time.time() < g.expires else None

    def master_for(self, key: GrantKey) -> int | None:
        """:meth:`get` for the edge (event loop): also starts a due background check."""
        if time.monotonic() >= self._next_check and not self._busy and self.loader is not None:
            self._check()
        g = self.get(key)
        return None if g is None else g.master_id

    def generation(self) -> int:
        return self._gen

    def put(self, key: GrantKey, grant: Grant, gen: int) -> None:
        """Add a grant read at ``generation() == gen``; dropped if the table has been
        replaced since (the read may predate a revocation)."""
        with self._lock:
            if gen == self._gen:
                self._table[key] = grant

    def load_now(self) -> None:
        """Read the table (at start, before serving)."""
        assert self.loader is not None
        self._install(*self.loader())

    def refresh_soon(self) -> None:
        """A revocation in this process: re-read the table on the next poll."""
        self._force = True
        self._next_check = 0.0

    def _install(self, epoch: int, table: dict[GrantKey, Grant]) -> None:
        with self._lock:
            self._table = table
            self._gen += 1
            self.epoch = epoch
            self._reload_due = time.monotonic() + self.reload_s

    def _work(self) -> tuple[int, dict[GrantKey, Grant]] | None:
        assert self.loader is not None and self.epoch_reader is not None
        due = self._force or time.monotonic() >= self._reload_due
        if not due and self.epoch_reader() == self.epoch:
            return None
        self._force = False
        return self.loader()

    def _check(self) -> None:
        self._busy = True
        self._next_check = time.monotonic() + self.check_s
        fut = asyncio.ensure_future(asyncio.to_thread(self._work))

        def done(f: asyncio.Future[tuple[int, dict[GrantKey, Grant]] | None]) -> None:
            self._busy = False
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                # Cannot tell whether anything was revoked: stop trusting the table.
                _log.warning("re-reading poll authorizations failed: %r", exc)
                self._install(self.epoch, {})
                return
            result = f.result()
            if result is not None:
                self._install(*result)

        fut.add_done_callback(done)
