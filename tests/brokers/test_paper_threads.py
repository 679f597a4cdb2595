"""The paper broker read from one thread while another trades (a follower's heartbeat
reads the account while its executor trades): every read sees a committed state.

A race test: without the read lock it catches a half-written close (or sqlite3 refuses
the shared cursor) in most runs (equity seen going *up* while every round trip loses the
spread): it fails often, not always, when the lock is removed.
"""

from __future__ import annotations

import itertools
import sys
import threading

import pytest

from mtponte.brokers.paper import PaperBroker
from mtponte.domain import Side


@pytest.mark.parametrize("mode", ["hedging", "netting"])
def test_reads_never_see_a_trade_half_written(mode: str) -> None:
    b = PaperBroker(account_mode=mode)
    b.set_quote("WIN", 120_000, 120_005)  # every round trip loses the spread
    errors: list[BaseException] = []

    stop = threading.Event()
    trips = [0]

    def trade() -> None:
        try:
            while not stop.is_set():
                rep = b.market_order("WIN", Side.BUY, 1)
                b.close_position(rep.ticket)
                trips[0] += 1
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    t = threading.Thread(target=trade)
    try:
        t.start()
        equity: list[float] = []
        for _ in range(1500):  # a fixed number of reads, however loaded the machine
            equity.append(b.account().equity)
            assert len(b.positions()) <= 1
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert not errors
    assert trips[0] > 50  # the trading overlapped the reads
    rises = [(a, b_) for a, b_ in itertools.pairwise(equity) if b_ > a + 1e-9]
    assert rises == []
