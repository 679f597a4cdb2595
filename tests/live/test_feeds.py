from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from mtponte.data import synth_win
from mtponte.domain.bars import Bar
from mtponte.errors import DataError
from mtponte.live.feeds import BarEvent, ReplayFeed, events, in_order

T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


def bar(k: int, close: float = 100.0) -> Bar:
    return Bar(T0 + timedelta(minutes=5 * k), 100.0, 110.0, 90.0, close)


def test_exact_duplicate_is_skipped_or_refused() -> None:
    seq = [bar(0), bar(1), bar(1), bar(2)]
    assert [b.time for b in in_order(seq)] == [bar(0).time, bar(1).time, bar(2).time]
    with pytest.raises(DataError, match="duplicate"):
        list(in_order(seq, duplicates="error"))


def test_changed_duplicate_and_out_of_order_always_raise() -> None:
    with pytest.raises(DataError, match="different prices"):
        list(in_order([bar(0), bar(1), bar(1, close=101.0)]))
    with pytest.raises(DataError, match="out-of-order"):
        list(in_order([bar(0), bar(2), bar(1)]))


def test_events_pair_each_bar_with_the_next_open() -> None:
    evs = list(events([bar(0), bar(1), bar(2)]))
    assert evs[0] == BarEvent(bar(0), bar(1).time, bar(1).open)
    assert evs[-1] == BarEvent(bar(2), None, None)
    assert list(events([])) == []


def test_replay_feed_in_order_and_at_a_speed_factor() -> None:
    bars = synth_win(days=2, seed=1)
    slept: list[float] = []
    feed = ReplayFeed(bars, speed=60.0, sleep=slept.append)
    evs = list(feed)
    assert len(evs) == len(feed) == len(bars)
    assert all(a.bar.time < b.bar.time for a, b in pairwise(evs))
    assert all(e.next_time == n.bar.time for e, n in pairwise(evs))
    assert slept[0] == pytest.approx(300 / 60)  # one M5 bar at 60x
    assert max(slept) > 300 / 60  # the overnight gap, scaled too
    assert list(ReplayFeed(bars, speed=0.0, sleep=slept.append)) == evs
    with pytest.raises(ValueError):
        ReplayFeed(bars, speed=-1)


def test_bar_equality_is_by_value() -> None:
    assert replace(bar(1)) == bar(1)
