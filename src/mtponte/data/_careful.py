"""The careful loader: pandas, row by row where needed, with the precise error.

:func:`mtponte.data.loaders.load_bars` tries the fast Arrow path first and comes here
when it cannot (an unusual layout) or when the file is malformed: this module names
the file, the line and the problem. The formats are described in
:mod:`mtponte.data.loaders`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from mtponte.data._text import decode as _decode
from mtponte.data._text import looks_like_rates as _looks_like_rates
from mtponte.data._text import separator as _separator
from mtponte.domain.bars import Bars
from mtponte.errors import DataError


def load_careful(
    p: Path, name: str, timezone: str, server_timezone: str | None, fmt: str, dayfirst: bool
) -> Bars:
    """Load ``p`` with pandas; raise a :class:`DataError` naming the line on bad input.

    Arguments as :func:`mtponte.data.loaders.load_bars` (already checked there).
    """
    if not p.is_file():
        raise DataError("file not found", name)
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", name)
    if raw[:4] == b"PAR1":
        df = _read_parquet(p, name)
        cols = _columns(df)
        rates = fmt == "rates" or (
            fmt == "auto" and "tick_volume" in cols and "time" in cols and "volume" not in cols
        )
        if fmt == "mt5":
            raise DataError("an MT5 export is a text file, not Parquet", name)
        if rates:
            return _from_rates(df, name, server_timezone or timezone, timezone)
        return _from_generic(df, name, timezone, dayfirst)
    return parse_text(_decode(raw, name), name, timezone, server_timezone, fmt, dayfirst)


def parse_text(
    text: str, name: str, timezone: str, server_timezone: str | None, fmt: str, dayfirst: bool
) -> Bars:
    """Bars from the decoded text of a bar file, header line first (see
    :func:`mtponte.data.loaders.parse_text`)."""
    first = text.lstrip().split("\n", 1)[0]
    detected = fmt
    if fmt == "auto":
        if "<OPEN>" in first.upper():
            detected = "mt5"
        else:
            detected = "rates" if _looks_like_rates(text) else "csv"
    if detected == "mt5":
        return _from_mt5(text, name, server_timezone or timezone, timezone)
    df = _read_csv(text, name)
    if detected == "rates":
        return _from_rates(df, name, server_timezone or timezone, timezone)
    return _from_generic(df, name, timezone, dayfirst)


def _read_csv(text: str, name: str) -> pd.DataFrame:
    sep = _separator(text.lstrip().split("\n", 1)[0])
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    skipped = 0
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
        skipped += 1
    header = [h.strip() for h in rows[0]]
    width = len(header)
    lines, body = [], []  # 1-based file line of each non-blank row, and the row
    for k, row in enumerate(rows[1:]):
        if not any(c.strip() for c in row):
            continue
        line = k + 2 + skipped
        if len(row) != width:
            raise DataError(f"expected {width} fields, found {len(row)}", name, line)
        lines.append(line)
        body.append(row)
    if not body:
        raise DataError("no data rows after the header", name)
    df = pd.DataFrame(body, columns=header, index=pd.Index(lines))
    df.attrs["header_line"] = 1 + skipped
    return df


def _read_parquet(p: Path, name: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"cannot read Parquet: {exc}", name) from None
    df = df.reset_index(drop=df.index.name is None)
    df.index = pd.RangeIndex(1, 1 + len(df))  # Parquet rows are 1-based "lines"
    return df


def _col(df: pd.DataFrame, name: str, key: str, label: str) -> np.ndarray:
    values = pd.to_numeric(df[key].astype(str).str.strip(), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"column {label}: not a finite number: {df[key].iloc[k]!r}", name, int(df.index[k])
        )
    return values


def _columns(df: pd.DataFrame) -> dict[str, str]:
    return {str(c).strip().lower().strip("<>"): c for c in df.columns}


def _require(
    df: pd.DataFrame, cols: dict[str, str], needed: list[str], name: str, label: str
) -> None:
    missing = [c for c in needed if c not in cols]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)} for {label} format "
            f"(found: {', '.join(cols) or 'none'})",
            name,
            df.attrs.get("header_line", 1),
        )


def _from_mt5(text: str, name: str, server_tz: str, tz: str) -> Bars:
    df = _read_csv(text, name)
    cols = _columns(df)
    _require(df, cols, ["date", "open", "high", "low", "close"], name, "MT5 export")
    date = df[cols["date"]].astype(str).str.strip()
    stamp = date + " " + df[cols["time"]].astype(str).str.strip() if "time" in cols else date
    fmt = "%Y.%m.%d %H:%M:%S" if "time" in cols else "%Y.%m.%d"
    local = pd.to_datetime(stamp, format=fmt, errors="coerce")
    if "time" in cols and local.isna().any():  # MT5 also writes HH:MM
        alt = pd.to_datetime(stamp, format="%Y.%m.%d %H:%M", errors="coerce")
        local = local.fillna(alt)
    _bad_times(local, stamp, name, "YYYY.MM.DD" + (" HH:MM:SS" if "time" in cols else ""))
    utc = _localize(local, server_tz, name, df.index)
    tickv = _col(df, name, cols["tickvol"], "<TICKVOL>") if "tickvol" in cols else None
    realv = _col(df, name, cols["vol"], "<VOL>") if "vol" in cols else None
    spread = _col(df, name, cols["spread"], "<SPREAD>") if "spread" in cols else None
    return _build(df, name, cols, utc, tz, tickv, realv, spread)


def _from_rates(df: pd.DataFrame, name: str, server_tz: str, tz: str) -> Bars:
    cols = _columns(df)
    _require(df, cols, ["time", "open", "high", "low", "close"], name, "copy_rates")
    tcol = df[cols["time"]]
    if isinstance(tcol.dtype, pd.DatetimeTZDtype):
        # Aware instants (someone already converted them): keep them as they are.
        utc = pd.Series(pd.DatetimeIndex(tcol).tz_convert("UTC"), index=df.index)
    else:
        if pd.api.types.is_datetime64_any_dtype(tcol):
            local = pd.Series(pd.to_datetime(tcol).to_numpy(), index=df.index)
        else:
            secs = _col(df, name, cols["time"], "time")
            local = pd.Series(pd.to_datetime(secs.astype(np.int64), unit="s"), index=df.index)
        # Server wall time written as if it were UTC: re-read it as wall time on the server.
        utc = _localize(local, server_tz, name, df.index)
    tickv = _col(df, name, cols["tick_volume"], "tick_volume") if "tick_volume" in cols else None
    realv = _col(df, name, cols["real_volume"], "real_volume") if "real_volume" in cols else None
    spread = _col(df, name, cols["spread"], "spread") if "spread" in cols else None
    return _build(df, name, cols, utc, tz, tickv, realv, spread)


def _from_generic(df: pd.DataFrame, name: str, tz: str, dayfirst: bool) -> Bars:
    cols = _columns(df)
    tkey: str | None
    if "date" in cols and "time" in cols:
        tkey = "date"  # separate date and time columns, combined below
    else:
        tkey = next((k for k in ("datetime", "timestamp", "time", "date") if k in cols), None)
    if tkey is None:
        raise DataError(
            "no time column (expected one of time, date, datetime, timestamp; "
            f"found: {', '.join(cols)})",
            name,
            df.attrs.get("header_line", 1),
        )
    _require(df, cols, ["open", "high", "low", "close"], name, "CSV")
    tcol = df[cols[tkey]]
    if isinstance(tcol.dtype, pd.DatetimeTZDtype):  # Parquet with aware times
        utc = pd.Series(pd.DatetimeIndex(tcol).tz_convert("UTC"), index=df.index)
    elif pd.api.types.is_datetime64_any_dtype(tcol):  # Parquet with naive times
        utc = _localize(pd.Series(tcol.to_numpy(), index=df.index), tz, name, df.index)
    else:
        stamp = tcol.astype(str).str.strip()
        if tkey == "date" and "time" in cols:
            stamp = stamp + " " + df[cols["time"]].astype(str).str.strip()
        utc = _parse_stamps(stamp, name, tz, dayfirst, df.index)
    vol = _col(df, name, cols["volume"], "volume") if "volume" in cols else None
    tickv = _col(df, name, cols["tick_volume"], "tick_volume") if "tick_volume" in cols else vol
    realv = _col(df, name, cols["real_volume"], "real_volume") if "real_volume" in cols else vol
    return _build(df, name, cols, utc, tz, tickv, realv, None)


_OFFSET = r"(?:[+-]\d{2}:?\d{2}|Z)$"


def _parse_stamps(
    stamp: pd.Series, name: str, tz: str, dayfirst: bool, index: pd.Index
) -> pd.Series:
    """Text times → UTC. One format for the whole column (ISO 8601, else the format
    inferred from the first row), so rows cannot be read day-first and month-first
    at once. Times with an offset keep it (offsets may change across DST); times
    without one are exchange-local. Mixing both is an error."""
    has_offset = stamp.str.contains(_OFFSET, regex=True).to_numpy()
    if has_offset.any() and not has_offset.all():
        k = int(np.argmax(has_offset != has_offset[0]))
        raise DataError(
            f"time {stamp.iloc[k]!r} {'has' if has_offset[k] else 'lacks'} a UTC "
            "offset unlike the first row; use one form for every row",
            name,
            int(index[k]),
        )
    aware = bool(has_offset.all())
    parsed = pd.to_datetime(stamp, errors="coerce", utc=aware, format="ISO8601")
    if parsed.isna().any():
        try:
            parsed = pd.to_datetime(stamp, errors="coerce", utc=aware, dayfirst=dayfirst)
        except (ValueError, TypeError):
            parsed = pd.Series(pd.NaT, index=index)
    _bad_times(parsed, stamp, name, "one date/time format for every row")
    if aware:
        return parsed.dt.tz_convert("UTC")
    return _localize(parsed, tz, name, index)


def _bad_times(parsed: pd.Series, raw: pd.Series, name: str, expected: str) -> None:
    bad = parsed.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"cannot read time {raw.iloc[k]!r} (expected {expected})", name, int(raw.index[k])
        )


def _localize(local: pd.Series, zone: str, name: str, index: pd.Index) -> pd.Series:
    s = pd.Series(
        pd.DatetimeIndex(local).tz_localize(ZoneInfo(zone), ambiguous="NaT", nonexistent="NaT"),
        index=index,
    )
    bad = s.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"local time {local.iloc[k]} does not exist or is ambiguous in {zone} "
            "(daylight-saving change); check the time zone",
            name,
            int(index[k]),
        )
    return s.dt.tz_convert("UTC")


def _build(
    df: pd.DataFrame,
    name: str,
    cols: dict[str, str],
    utc: pd.Series,
    tz: str,
    tickv: np.ndarray | None,
    realv: np.ndarray | None,
    spread: np.ndarray | None,
) -> Bars:
    o = _col(df, name, cols["open"], "open")
    h = _col(df, name, cols["high"], "high")
    lo = _col(df, name, cols["low"], "low")
    c = _col(df, name, cols["close"], "close")
    lines = df.index.to_numpy()
    for cond, msg in (
        (h < lo, "high is below low"),
        (h < np.maximum(o, c), "high is below open or close"),
        (lo > np.minimum(o, c), "low is above open or close"),
    ):
        if cond.any():
            k = int(np.argmax(cond))
            raise DataError(
                f"{msg} (open {o[k]}, high {h[k]}, low {lo[k]}, close {c[k]})", name, int(lines[k])
            )
    for arr, label in ((tickv, "tick volume"), (realv, "volume")):
        if arr is not None and (arr < 0).any():
            k = int(np.argmax(arr < 0))
            raise DataError(f"negative {label} {arr[k]}", name, int(lines[k]))
    secs = pd.DatetimeIndex(utc).as_unit("s").asi8.astype(np.int64)
    d = np.diff(secs)
    if (d <= 0).any():
        k = int(np.argmax(d <= 0)) + 1
        what = (
            "duplicate timestamp" if d[k - 1] == 0 else "timestamp is earlier than the line before"
        )
        raise DataError(
            f"{what} ({pd.DatetimeIndex(utc)[k].tz_convert(tz)}); bars must be "
            "sorted by time with no repeats",
            name,
            int(lines[k]),
        )
    n = len(secs)
    zeros = np.zeros(n)
    return Bars(
        time=secs,
        open=o,
        high=h,
        low=lo,
        close=c,
        tick_volume=tickv if tickv is not None else zeros.copy(),
        real_volume=realv if realv is not None else zeros.copy(),
        timezone=tz,
        spread=spread if spread is not None else zeros.copy(),
    )
