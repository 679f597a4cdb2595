from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtponte.domain import Bar, Bars
from mtponte.domain.bars import local_calendar, local_parts
from mtponte.errors import DataError


@given(
    st.lists(st.integers(1_400_000_000, 1_800_000_000), min_size=1, max_size=50),
    st.sampled_from(
        [
            "America/Sao_Paulo",
            "America/New_York",
            "Europe/Athens",
            "UTC",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
        ]
    ),
)
def test_local_calendar_matches_zoneinfo(times, zone):
    t = np.array(sorted(set(times)), dtype=np.int64)
    day, tod = local_calendar(t, zone)
    for k, ts in enumerate(t):
        local = datetime.fromtimestamp(int(ts), tz=UTC).astimezone(ZoneInfo(zone))
        assert day[k] == (local.date() - datetime(1970, 1, 1).date()).days
        assert tod[k] == local.hour * 3600 + local.minute * 60 + local.second
        assert local_parts(datetime.fromtimestamp(int(ts), tz=UTC), zone) == (day[k], tod[k])


def test_sao_paulo_dst_2018():
    # Brazil was on -02:00 from 2018-11-04 to 2019-02-16: 09:00 local is 11:00 UTC.
    t = np.array(
        [
            int(datetime(2018, 11, 5, 11, 0, tzinfo=UTC).timestamp()),
            int(datetime(2019, 3, 5, 12, 0, tzinfo=UTC).timestamp()),
        ]
    )
    _, tod = local_calendar(t, "America/Sao_Paulo")
    assert list(tod) == [9 * 3600, 9 * 3600]


def test_bars_validation():
    z = np.zeros(2)
    with pytest.raises(DataError, match="strictly increasing"):
        Bars(time=np.array([2, 1]), open=z, high=z, low=z, close=z, tick_volume=z, real_volume=z)
    with pytest.raises(DataError, match="rows"):
        Bars(
            time=np.array([1, 2]),
            open=np.zeros(3),
            high=z,
            low=z,
            close=z,
            tick_volume=z,
            real_volume=z,
        )


def test_bar_validation():
    with pytest.raises(DataError, match="time zone"):
        Bar(datetime(2024, 1, 1), 1, 2, 0, 1)
    with pytest.raises(DataError, match="high/low"):
        Bar(datetime(2024, 1, 1, tzinfo=UTC), 1, 0.5, 0, 1)


def test_offset_change_off_the_quarter_hour():
    # St John's changed clocks at 00:01 local (1988-2011): still exact.
    zone = "America/St_Johns"
    start = int(datetime(1996, 10, 26, 0, 0, tzinfo=UTC).timestamp())
    t = np.arange(start, start + 2 * 86400, 60, dtype=np.int64)
    day, tod = local_calendar(t, zone)
    for k in range(0, len(t), 7):
        assert (day[k], tod[k]) == local_parts(datetime.fromtimestamp(int(t[k]), tz=UTC), zone)
