"""Who may poll which master's ``slave-signals``, kept in memory by each worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

_log = logging.getLogger("mtponte.copy")

GrantKey = tuple[str, str, str | None]  # (token hash, master_account_id, master_email)


def signals_key(token_digest: str, query_string: bytes) -> GrantKey:
    """The key of a ``slave-signals`` request: the token (its hash) and the master asked
    for, read from the raw query string the same way by the route and the edge. The
    master is named by account number, else by e-mail (the other is then ignored), so
    every key names at most one real master and the table holds only real pairs. Blank
    values are kept and a repeated parameter's last value counts, as Starlette reads a
    query: ``?master_account_id=2002&master_account_id=`` names no account number."""
    q = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    account = q.get("master_account_id", "")
    return token_digest, account, None if account else q.get("master_email")


@dataclass(frozen=True, slots=True)
class Grant:
    """One follow token's right to poll one master."""

    master_id: int
    expires: float  # the token's expiry, wall clock (inf: none)
    sub_id: int = 0  # the subscription (what this follower was told is kept by it)


TableLoader = Callable[[], tuple[int, dict[GrantKey, Grant]]]  # (epoch, table)
EpochReader = Callable[[], int]


class Grants:
    """The table of poll authorizations.

    Read whole at start and again every ``reload_s``. In between, :meth:`watch` reads
    the database's authorization epoch every ``check_s``; when it has moved (a token
    revoked anywhere) the table is read again at once and ``on_change`` runs (open
    streams re-check their tokens). Polls never wait for either read, and neither a
    restart nor a revocation sends every slave to the database in the same second. A
    key missing from the table (a token issued since the last read) is authorized by
    the route and added with :meth:`put`.
    """

    MAX_KEYS = 1_000_000

    def __init__(self, reload_s: float, check_s: float) -> None:
        self.reload_s = reload_s
        self.check_s = check_s
        self.loader: TableLoader | None = None  # set when the app starts
        self.epoch_reader: EpochReader | None = None
        self.epoch = -1
        self._table: dict[GrantKey, Grant] = {}
        self._gen = 0
        self._lock = threading.Lock()
        self._reload_due = 0.0
        self._force = False
        self._kicks: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def get(self, key: GrantKey) -> Grant | None:
        """The grant for ``key`` if it has not expired (any thread)."""
        g = self._table.get(key)
        return g if g is not None and time.time() < g.expires else None

    def master_for(self, key: GrantKey) -> int | None:
        g = self.get(key)
        return None if g is None else g.master_id

    def generation(self) -> int:
        return self._gen

    def put(self, key: GrantKey, grant: Grant, gen: int) -> None:
        """Add a grant read at ``generation() == gen``; dropped if the table has been
        replaced since (the read may predate a revocation)."""
        with self._lock:
            if gen == self._gen and len(self._table) < self.MAX_KEYS:
                self._table[key] = grant

    def load_now(self) -> None:
        """Read the table (at start, before serving)."""
        assert self.loader is not None
        self._install(*self.loader())

    def refresh_soon(self) -> None:
        """A revocation in this process: re-read at once (any thread)."""
        self._force = True
        for loop, kick in list(self._kicks):
            loop.call_soon_threadsafe(kick.set)

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

    async def watch(self, on_change: Callable[[], None]) -> None:
        """Run for the app's life: re-read the epoch, and the table when due."""
        kick = asyncio.Event()
        entry = (asyncio.get_running_loop(), kick)
        self._kicks.append(entry)
        try:
            await self._watch(kick, on_change)
        finally:
            self._kicks.remove(entry)

    async def _watch(self, kick: asyncio.Event, on_change: Callable[[], None]) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.check_s)
            kick.clear()
            try:
                result = await asyncio.to_thread(self._work)
            except Exception as exc:
                # Cannot tell whether anything was revoked: stop trusting the table.
                _log.warning("re-reading poll authorizations failed: %r", exc)
                self._install(self.epoch, {})
                on_change()
                continue
            if result is not None:
                moved = result[0] != self.epoch
                self._install(*result)
                if moved:
                    on_change()
