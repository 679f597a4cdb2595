"""Wall clock → UTC on int64 arrays, once per file: the zone's offset changes are found
with :mod:`zoneinfo` (one lookup a day of data, bisected to the second), then every
time is converted with one ``searchsorted``. Same answers as pandas' ``tz_localize``
with ``ambiguous="NaT", nonexistent="NaT"``, without importing pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
# Zone offsets are sampled once a day, then bisected to the second: the offset changes
# in the tz database are at least 3.9 days apart (the closest: Africa/Freetown, 1939).
_STEP = 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _offset(zone: ZoneInfo, t: int) -> int:
    # Not fromtimestamp: it rejects times before 1970 on Windows.
    off = (_EPOCH + timedelta(seconds=t)).astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _transitions(zone: ZoneInfo, lo: int, hi: int) -> tuple[I64, I64]:
    """UTC instants where ``zone``'s offset changes in ``[lo, hi]`` and the offsets:
    ``offs[0]`` before the first change, ``offs[k + 1]`` from change ``k`` on."""
    grid = range(lo - 2 * 86400, hi + 2 * 86400 + _STEP, _STEP)
    offs = [_offset(zone, t) for t in grid]
    trans: list[int] = []
    out = [offs[0]]
    for k in range(1, len(offs)):
        if offs[k] != offs[k - 1]:
            a, b = grid[k - 1], grid[k]  # offset(a) != offset(b): bisect to the second
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(zone, mid) == offs[k - 1]:
                    a = mid
                else:
                    b = mid
            trans.append(b)
            out.append(offs[k])
    return np.array(trans, np.int64), np.array(out, np.int64)


def localize(wall: I64, zone_name: str) -> I64 | None:
    """Wall-clock seconds in ``zone_name`` → UTC seconds.

    Parameters
    ----------
    wall
        Local wall-clock times as epoch seconds (as if they were UTC).
    zone_name
        IANA zone.

    Returns
    -------
    I64 | None
        UTC epoch seconds, or ``None`` when a time does not exist or is ambiguous
        (daylight-saving change) or ``wall`` is empty.
    """
    if len(wall) == 0:
        return None
    zone = ZoneInfo(zone_name)
    trans, offs = _transitions(zone, int(wall.min()) - 86400, int(wall.max()) + 86400)
    if len(trans) == 0:
        return wall - offs[0]
    # Each change makes a band of wall times: skipped (clocks forward) or repeated (back).
    band_lo = trans + np.minimum(offs[:-1], offs[1:])
    band_hi = trans + np.maximum(offs[:-1], offs[1:])
    if (np.diff(band_lo) <= 0).any() or (band_lo[1:] < band_hi[:-1]).any():
        return None  # changes closer together than their own size
    j = np.searchsorted(band_lo, wall, side="right")
    if ((j > 0) & (wall < band_hi[np.maximum(j - 1, 0)])).any():
        return None
    return wall - offs[j]
