"""The fast loader: Arrow reads typed columns as typed, numpy validates them at once.

It takes only what it can read exactly as the careful reader would: clean files of
the common layouts (Parquet and CSV ``copy_rates``, the MT5 export, generic CSV with
fixed-width ISO-8601 times, Parquet with timestamp columns). Anything else (another
time format, a stray space, a bad row, a time lost in a daylight-saving change) makes
:func:`load_fast` return ``None`` and the careful reader gives the same bars or the
precise error. So this module never raises :class:`DataError` itself.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mtponte.data._text import encoding, looks_like_rates, separator
from mtponte.data._tz import localize
from mtponte.domain.bars import Bars

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_HEAD = 1 << 16  # bytes sniffed for format detection


class _NoFastPath(Exception):
    """This file is for the careful reader (unusual layout or bad input)."""


def load_fast(p: Path, timezone: str, server_timezone: str | None, fmt: str) -> Bars | None:
    """Bars from ``p`` read the fast way, or ``None`` when the careful reader must do it.

    Parameters
    ----------
    p
        The file (arguments already checked by :func:`mtponte.data.loaders.load_bars`).
    timezone, server_timezone, fmt
        As :func:`mtponte.data.loaders.load_bars`.

    Returns
    -------
    Bars | None
        Exactly the bars the careful reader would return, or ``None``.
    """
    import pyarrow as pa

    try:
        return _load(p, timezone, server_timezone or timezone, fmt)
    except (_NoFastPath, pa.ArrowException, ValueError, OSError, OverflowError):
        return None


def _load(p: Path, tz: str, server_tz: str, fmt: str) -> Bars:
    with p.open("rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return _parquet(p, tz, server_tz, fmt)
    raw = p.read_bytes()
    enc = encoding(raw)
    if enc.startswith("utf-16"):
        raw = raw.decode(enc).encode("utf-8")  # Arrow reads UTF-8
    else:
        if enc == "utf-8-sig":
            raw = raw[3:]
        if not raw.isascii():
            raw.decode("utf-8")  # the careful reader rejects a bad byte anywhere
    head = raw[:_HEAD].decode("utf-8", errors="ignore")
    head = head.replace("\r\n", "\n").replace("\r", "\n")
    if not head.strip() or head != head.lstrip() or (len(raw) > _HEAD and head.count("\n") < 3):
        raise _NoFastPath
    first = head.split("\n", 1)[0]
    detected = fmt
    if fmt == "auto":
        if "<OPEN>" in first.upper():
            detected = "mt5"
        else:
            detected = "rates" if looks_like_rates(head) else "csv"
    sep = separator(first)
    header = [h.strip() for h in next(csv.reader([first], delimiter=sep))]
    src = _Csv(raw, sep, header, _columns(header))
    if detected == "mt5":
        return _mt5_csv(src, tz, server_tz)
    if detected == "rates":
        return _rates_csv(src, tz, server_tz)
    return _generic_csv(src, tz)


def _columns(names: list[str]) -> dict[str, str]:
    cols = {str(c).strip().lower().strip("<>"): c for c in names}
    if len(cols) != len(names):
        raise _NoFastPath  # two columns read as one name
    return cols


@dataclass(frozen=True)
class _Csv:
    raw: bytes  # UTF-8
    sep: str
    header: list[str]
    cols: dict[str, str]


def _read_csv(src: _Csv, types: dict[str, Any]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(
        pa.py_buffer(src.raw),
        read_options=pcsv.ReadOptions(column_names=src.header, skip_rows=1),
        parse_options=pcsv.ParseOptions(delimiter=src.sep),
        convert_options=pcsv.ConvertOptions(
            column_types=types, include_columns=list(types), strings_can_be_null=False
        ),
    )
    if table.num_rows == 0:
        raise _NoFastPath
    return table


def _mt5_csv(src: _Csv, tz: str, server_tz: str) -> Bars:
    import pyarrow as pa

    cols = src.cols

    if any(k not in cols for k in ("date", "open", "high", "low", "close")):
        raise _NoFastPath
    used = ("date", "time", "open", "high", "low", "close", "tickvol", "vol", "spread")
    text = ("date", "time")
    types = {cols[k]: pa.string() if k in text else pa.float64() for k in used if k in cols}
    t = _read_csv(src, types)
    date = _fixed(t.column(cols["date"]), "dddd.dd.dd")
    days = _days(date[:, 0:4], date[:, 5:7], date[:, 8:10])
    secs = np.zeros(len(days), np.int64)
    if "time" in cols:
        col = t.column(cols["time"])
        hms = _fixed(col, "dd:dd:dd" if _width(col) == 8 else "dd:dd")
        secs = _seconds(hms[:, 0:2], hms[:, 3:5], hms[:, 6:8] if hms.shape[1] == 8 else None)
    utc = _wall_to_utc(days * 86400 + secs, server_tz)
    return _build(
        t,
        cols,
        utc,
        tz,
        _num(t, cols, "tickvol"),
        _num(t, cols, "vol"),
        _num(t, cols, "spread"),
    )


def _rates_csv(src: _Csv, tz: str, server_tz: str) -> Bars:
    import pyarrow as pa

    cols = src.cols

    if any(k not in cols for k in ("time", "open", "high", "low", "close")):
        raise _NoFastPath
    used = ("time", "open", "high", "low", "close", "tick_volume", "real_volume", "spread")
    types = {cols[k]: pa.int64() if k == "time" else pa.float64() for k in used if k in cols}
    t = _read_csv(src, types)
    utc = _wall_to_utc(_ints(t.column(cols["time"])), server_tz)
    return _build(
        t,
        cols,
        utc,
        tz,
        _num(t, cols, "tick_volume"),
        _num(t, cols, "real_volume"),
        _num(t, cols, "spread"),
    )


# Fixed-width ISO-8601 times the careful reader reads with format="ISO8601".
_ISO = {
    10: "dddd-dd-dd",
    16: "dddd-dd-dd?dd:dd",
    19: "dddd-dd-dd?dd:dd:dd",
    25: "dddd-dd-dd?dd:dd:dd~dd:dd",
}


def _generic_csv(src: _Csv, tz: str) -> Bars:
    import pyarrow as pa

    cols = src.cols

    if "date" in cols and "time" in cols:
        raise _NoFastPath  # separate date and time columns
    tkey = next((k for k in ("datetime", "timestamp", "time", "date") if k in cols), None)
    if tkey is None or any(k not in cols for k in ("open", "high", "low", "close")):
        raise _NoFastPath
    used = ("open", "high", "low", "close", "volume", "tick_volume", "real_volume")
    types: dict[str, Any] = {cols[k]: pa.float64() for k in used if k in cols}
    types[cols[tkey]] = pa.string()
    t = _read_csv(src, types)
    col = t.column(cols[tkey])
    width = _width(col)
    if width not in _ISO:
        raise _NoFastPath
    s = _fixed(col, _ISO[width])
    wall = _days(s[:, 0:4], s[:, 5:7], s[:, 8:10]) * 86400
    if width > 10:
        wall += _seconds(s[:, 11:13], s[:, 14:16], s[:, 17:19] if width > 16 else None)
    if width == 25:
        off_h, off_m = _digits(s[:, 20:22]), _digits(s[:, 23:25])
        if (off_h > 14).any() or (off_m > 59).any():
            raise _NoFastPath
        sign = np.where(s[:, 19] == ord("-"), -1, 1)
        utc = wall - sign * (off_h * 3600 + off_m * 60)
    else:
        utc = _wall_to_utc(wall, tz)
    return _generic(t, cols, utc, tz)


def _parquet(p: Path, tz: str, server_tz: str, fmt: str) -> Bars:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "mt5":
        raise _NoFastPath  # the careful reader says why
    t = pq.ParquetFile(p).read()  # not read_table: it imports pyarrow.dataset (~0.5 s)
    names = t.column_names
    if any(n.startswith("__index_level_") for n in names):
        raise _NoFastPath  # an unnamed pandas index, which the careful reader drops
    cols = _columns(names)
    rates = fmt == "rates" or (
        fmt == "auto" and "tick_volume" in cols and "time" in cols and "volume" not in cols
    )
    if rates:
        if any(k not in cols for k in ("time", "open", "high", "low", "close")):
            raise _NoFastPath
        tcol = t.column(cols["time"])
        if pa.types.is_timestamp(tcol.type):
            utc = _timestamps(tcol, server_tz)
        elif pa.types.is_integer(tcol.type):
            utc = _wall_to_utc(_ints(tcol), server_tz)
        else:
            raise _NoFastPath
        return _build(
            t,
            cols,
            utc,
            tz,
            _num(t, cols, "tick_volume"),
            _num(t, cols, "real_volume"),
            _num(t, cols, "spread"),
        )
    if "date" in cols and "time" in cols:
        raise _NoFastPath
    tkey = next((k for k in ("datetime", "timestamp", "time", "date") if k in cols), None)
    if tkey is None or any(k not in cols for k in ("open", "high", "low", "close")):
        raise _NoFastPath
    tcol = t.column(cols[tkey])
    if not pa.types.is_timestamp(tcol.type):
        raise _NoFastPath
    utc = _timestamps(tcol, tz)
    return _generic(t, cols, utc, tz)


def _generic(t: Any, cols: dict[str, str], utc: I64, tz: str) -> Bars:
    """Bars of a generic layout: one ``volume`` column stands for both volumes."""
    vol = _num(t, cols, "volume")
    tickv = _num(t, cols, "tick_volume")
    realv = _num(t, cols, "real_volume")
    return _build(
        t,
        cols,
        utc,
        tz,
        tickv if tickv is not None else vol,
        realv if realv is not None else vol,
        None,
    )


# ------------------------------------------------------------------ columns


def _num(t: Any, cols: dict[str, str], key: str) -> F64 | None:
    """A numeric column as float64 (the careful reader's ``_col``), or ``None`` if absent."""
    import pyarrow as pa

    if key not in cols:
        return None
    col = t.column(cols[key])
    # float32 is not widened: the careful reader goes through its shortest text form.
    if col.null_count or not (pa.types.is_integer(col.type) or pa.types.is_float64(col.type)):
        raise _NoFastPath
    arr = _np(col)
    out = arr.astype(np.float64, copy=not arr.flags.writeable)  # writable, as pandas gives
    if not np.isfinite(out).all():
        raise _NoFastPath
    return out


_INTS = {f"{k}{w}": np.dtype(f"{k}{w}") for k in ("int", "uint") for w in (8, 16, 32, 64)}
_NUMPY = _INTS | {"double": np.dtype(np.float64)}  # Arrow type name → numpy dtype


def _np(col: Any) -> npt.NDArray[Any]:
    """A null-free integer or float64 column as one numpy array, from its buffers
    (Arrow's own ``to_numpy`` imports pandas, which costs about a second)."""
    parts = []
    for c in col.chunks:
        dtype = _NUMPY.get(str(c.type))
        if dtype is None or c.null_count:
            raise _NoFastPath
        parts.append(
            np.frombuffer(
                c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * dtype.itemsize
            )
        )
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0)


def _price(t: Any, cols: dict[str, str], key: str) -> F64:
    out = _num(t, cols, key)
    if out is None:
        raise _NoFastPath
    return out


def _ints(col: Any) -> I64:
    if col.null_count:
        raise _NoFastPath
    out = np.asarray(_np(col), dtype=np.int64)
    if out.max() >= 2**53 or out.min() <= -(2**53):  # the careful reader goes via float64
        raise _NoFastPath
    return out


_UNIT = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}


def _timestamps(col: Any, zone: str) -> I64:
    """Arrow timestamps → UTC seconds: aware ones as they are, naive ones in ``zone``."""
    import pyarrow as pa

    if col.null_count:
        raise _NoFastPath
    raw = np.asarray(_np(col.cast(pa.int64())), dtype=np.int64)
    unit = _UNIT[col.type.unit]
    if (raw % unit).any():
        raise _NoFastPath  # sub-second times
    secs = raw // unit
    return secs if col.type.tz is not None else _wall_to_utc(secs, zone)


def _width(col: Any) -> int:
    return len(col[0].as_py())  # the tables here are never empty


def _fixed(col: Any, pattern: str) -> npt.NDArray[np.uint8]:
    """A string column whose every value matches ``pattern`` as an (n, width) byte array.

    ``d`` is a digit, ``?`` is ``T`` or a space, ``~`` is ``+`` or ``-``; other
    characters stand for themselves.
    """
    arr = col.combine_chunks()
    n, width = len(arr), len(pattern)
    if arr.null_count:
        raise _NoFastPath
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + n + 1]
    if (np.diff(off) != width).any():
        raise _NoFastPath
    b = np.frombuffer(data, dtype=np.uint8)[off[0] : off[0] + n * width].reshape(n, width)
    for i, ch in enumerate(pattern):
        c = b[:, i]
        if ch == "d":
            ok = (c - np.uint8(48)) < 10  # wraps below '0'
        elif ch == "?":
            ok = (c == ord("T")) | (c == ord(" "))
        elif ch == "~":
            ok = (c == ord("+")) | (c == ord("-"))
        else:
            ok = c == ord(ch)
        if not ok.all():
            raise _NoFastPath
    return b


def _digits(b: npt.NDArray[np.uint8]) -> I64:
    out = np.zeros(len(b), np.int64)
    for i in range(b.shape[1]):
        out = out * 10 + (b[:, i].astype(np.int64) - 48)
    return out


def _days(yb: Any, mb: Any, db: Any) -> I64:
    """Validated civil dates → days since 1970-01-01 (Hinnant's days_from_civil)."""
    y, m, d = _digits(yb), _digits(mb), _digits(db)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    dim = dim + ((m == 2) & leap)
    if ((y < 1900) | (y > 2200) | (m < 1) | (m > 12) | (d < 1) | (d > dim)).any():
        raise _NoFastPath
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int64)


def _seconds(hb: Any, mb: Any, sb: Any | None) -> I64:
    h, m = _digits(hb), _digits(mb)
    s = _digits(sb) if sb is not None else np.zeros(len(h), np.int64)
    if ((h > 23) | (m > 59) | (s > 59)).any():
        raise _NoFastPath
    return h * 3600 + m * 60 + s


# ------------------------------------------------------------------ bars


def _wall_to_utc(wall: I64, zone: str) -> I64:
    utc = localize(wall, zone)
    if utc is None:
        raise _NoFastPath  # a time lost or doubled by a DST change: the careful reader says so
    return utc


def _build(
    t: Any,
    cols: dict[str, str],
    utc: I64,
    tz: str,
    tickv: F64 | None,
    realv: F64 | None,
    spread: F64 | None,
) -> Bars:
    o, h, lo, c = (_price(t, cols, k) for k in ("open", "high", "low", "close"))
    if (
        (h < lo).any()
        or (h < np.maximum(o, c)).any()
        or (lo > np.minimum(o, c)).any()
        or (tickv is not None and (tickv < 0).any())
        or (realv is not None and (realv < 0).any())
        or (np.diff(utc) <= 0).any()
    ):
        raise _NoFastPath
    n = len(utc)
    zeros = np.zeros(n)
    return Bars(
        time=np.ascontiguousarray(utc, dtype=np.int64),
        open=o,
        high=h,
        low=lo,
        close=c,
        tick_volume=tickv if tickv is not None else zeros.copy(),
        real_volume=realv if realv is not None else zeros.copy(),
        timezone=tz,
        spread=spread if spread is not None else zeros.copy(),
    )
