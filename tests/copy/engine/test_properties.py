"""Invariants of step() over random master books (hypothesis)."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from mtponte.copy.engine import BookState, CopySettings, MasterPosition, step, targets_of
from tests.copy.engine.helpers import T0, follower, settings, view

SYMBOLS = ["EURUSD", "GBPUSD", "XAUUSD"]  # XAUUSD unknown to the follower

position = st.builds(
    MasterPosition,
    ticket=st.integers(1, 12).map(str),
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from(["buy", "sell"]),
    volume=st.sampled_from([0.001, 0.01, 0.05, 0.3, 1.0, 2.5]),
    open_price=st.just(1.1),
    sl=st.sampled_from([None, 1.09, 1.095]),
    tp=st.sampled_from([None, 1.11, 1.2]),
)
book = st.lists(position, max_size=8, unique_by=lambda p: p.ticket)
cfg = st.builds(
    settings,
    volumeMultiplier=st.sampled_from([0.1, 1.0, 3.0]),
    maxOpenPositions=st.sampled_from([0, 3]),
    maxDailyTrades=st.sampled_from([0, 5]),
    belowMin=st.sampled_from(["skip", "min"]),
    invert=st.booleans(),
    lateJoin=st.sampled_from(["skip", "limit", "market"]),
)


@given(books=st.lists(book, min_size=1, max_size=6), s=cfg, netting=st.booleans())
def test_book_invariants(books: list[list[MasterPosition]], s: CopySettings, netting: bool) -> None:
    facts = follower("EURUSD", "GBPUSD", netting=netting)
    state = BookState(prefix="p")
    for i, positions in enumerate(books):
        r = step(state, view(*positions), s, facts, T0 + i)
        state = r.state
        tickets = {p.ticket for p in positions}
        assert set(state.copies) <= tickets
        assert not set(state.copies) & set(state.skipped)
        assert set(state.copies) | set(state.skipped) == tickets
        for c in state.copies.values():
            steps = c.volume / 0.01
            assert abs(steps - round(steps)) < 1e-6
            assert 0.01 <= c.volume <= 100.0
            assert c.target_id == f"pt{c.master_ticket}"
        assert r.targets == targets_of(state, netting)
        if netting:
            for t in r.targets:
                net = sum(
                    c.volume if c.side == "buy" else -c.volume
                    for c in state.copies.values()
                    if c.symbol == t.symbol
                )
                assert math.isclose(abs(net), t.volume, abs_tol=1e-8)
        assert BookState.from_json(json.loads(json.dumps(state.to_json()))) == state
        again = step(state, view(*positions), s, facts, T0 + i)
        assert again.decisions == ()
        assert again.state == state
