"""The fast Arrow path gives exactly the careful reader's bars, or steps aside."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtponte.data import save_bars_csv, synth_win
from mtponte.data._careful import load_careful
from mtponte.data._fast import load_fast
from mtponte.data._tz import localize
from mtponte.domain.bars import Bars
from mtponte.errors import DataError
from tests.data.test_loaders import BAD, MT5_HEADER, MT5_ROWS, rates_frame

FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "real_volume", "spread")


def both(path: Path, tz: str = "America/Sao_Paulo", server_tz: str | None = None, fmt="auto"):
    fast = load_fast(path, tz, server_tz, fmt)
    try:
        careful: Bars | DataError = load_careful(path, str(path), tz, server_tz, fmt, False)
    except DataError as exc:
        careful = exc
    return fast, careful


def assert_same(fast: Bars | None, careful: Bars | DataError) -> None:
    assert isinstance(careful, Bars), careful
    assert fast is not None, "the fast path stepped aside on a clean file"
    assert fast.timezone == careful.timezone and len(fast) == len(careful)
    for f in FIELDS:
        a, b = getattr(fast, f), getattr(careful, f)
        assert a.dtype == b.dtype, f
        assert np.array_equal(a, b), f
        assert a.flags.writeable, f


def write(tmp_path: Path, text: str, name="bars.csv", encoding="utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


# ---------------------------------------------------------------- fixtures


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_mt5_export(tmp_path, encoding, eol):
    path = write(tmp_path, eol.join([MT5_HEADER, *MT5_ROWS]) + eol, encoding=encoding)
    assert_same(*both(path))


def test_mt5_daily_and_hhmm(tmp_path):
    daily = (
        "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2024.03.04\t1\t2\t0.5\t1.5\t10\t0\t0\n2024.03.05\t1.5\t2\t1\t1.8\t10\t0\t0\n"
    )
    assert_same(*both(write(tmp_path, daily)))
    hhmm = "\n".join([MT5_HEADER, *(r.replace(":00\t", "\t", 1) for r in MT5_ROWS)])
    assert "09:05\t" in hhmm
    assert_same(*both(write(tmp_path, hhmm, "m.csv")))


def test_server_timezone(tmp_path):
    path = write(tmp_path, "\n".join([MT5_HEADER, "2024.01.02\t10:00:00\t1\t2\t0.5\t1.5\t1\t1\t1"]))
    assert_same(*both(path, tz="UTC", server_tz="Europe/Athens"))


def test_rates_csv_and_parquet(tmp_path):
    df = rates_frame()
    df.to_csv(tmp_path / "r.csv", index=False)
    df.to_parquet(tmp_path / "r.parquet")
    df.to_parquet(tmp_path / "rows.parquet", row_group_size=1)  # one chunk per row
    for name in ("r.csv", "r.parquet", "rows.parquet"):
        assert_same(*both(tmp_path / name, tz="UTC", server_tz="Europe/Athens"))


def test_parquet_timestamps(tmp_path):
    idx = pd.date_range("2024-01-02 12:00", periods=3, freq="5min", tz="UTC")
    df = pd.DataFrame(
        {"time": idx, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}
    )
    df.to_parquet(tmp_path / "aware.parquet")
    df.assign(time=idx.tz_localize(None)).to_parquet(tmp_path / "naive.parquet")
    for name in ("aware.parquet", "naive.parquet"):
        assert_same(*both(tmp_path / name))


def test_generic_iso_layouts(tmp_path):
    bars = synth_win(days=3, seed=2)
    save_bars_csv(bars, tmp_path / "s.csv")  # ISO times with offsets
    assert_same(*both(tmp_path / "s.csv"))
    for k, stamp in enumerate(("2024-01-02 09:00:00", "2024-01-02T09:00", "2024-01-02")):
        text = f"time,open,high,low,close,volume\n{stamp},1,2,0.5,1.5,3\n"
        assert_same(*both(write(tmp_path, text, f"g{k}.csv")))


def test_real_export(win_h1_path):
    assert_same(*both(win_h1_path))


@pytest.mark.parametrize(("rows", "line", "message"), BAD)
def test_bad_files_go_to_the_careful_reader(tmp_path, rows, line, message):
    path = write(tmp_path, "\n".join([MT5_HEADER, *rows]) + "\n")
    fast, careful = both(path)
    assert fast is None and isinstance(careful, DataError)


def test_unusual_layouts_go_to_the_careful_reader(tmp_path):
    dayfirst = write(tmp_path, "Date;Open;High;Low;Close\n02/01/2024 09:00;1;2;0.5;1.5\n", "d.csv")
    df = rates_frame().astype({"open": "float32"})  # float32 is read through its text form
    df.to_parquet(tmp_path / "f32.parquet")
    for path in (dayfirst, tmp_path / "f32.parquet"):
        fast, careful = both(path, tz="UTC")
        assert fast is None and isinstance(careful, Bars)


def test_spaces_around_numbers(tmp_path):
    # The careful reader strips every field; Arrow reads " 100" as 100 too.
    assert_same(
        *both(write(tmp_path, "\n".join([MT5_HEADER, MT5_ROWS[0].replace("\t100", "\t 100 ")])))
    )


# ---------------------------------------------------------------- random valid files

ZONES = ["America/Sao_Paulo", "Europe/Athens", "America/New_York", "Australia/Lord_Howe", "UTC"]


@st.composite
def wall_bars(draw):
    """Increasing wall-clock times (some inside daylight-saving changes) and prices."""
    n = draw(st.integers(1, 40))
    start = draw(st.integers(1_400_000_000, 1_700_000_000)) // 60 * 60
    steps = draw(st.lists(st.integers(1, 3 * 1440), min_size=n, max_size=n))
    wall = start + 60 * np.cumsum(steps, dtype=np.int64)
    cents = st.integers(1, 10**7)
    o = np.array(draw(st.lists(cents, min_size=n, max_size=n))) / 100
    c = np.array(draw(st.lists(cents, min_size=n, max_size=n))) / 100
    up = np.array(draw(st.lists(st.integers(0, 10**4), min_size=n, max_size=n))) / 100
    h, lo = np.maximum(o, c) + up, np.minimum(o, c) - up / 2
    vol = np.array(draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)))
    return wall, o, h, lo, c, vol, draw(st.sampled_from(ZONES))


def wall_text(wall, fmt: str) -> list[str]:
    return [datetime.fromtimestamp(int(w), UTC).strftime(fmt) for w in wall]


@given(wall_bars(), st.sampled_from(["mt5", "mt5-utf16", "rates-csv", "rates-pq", "naive-csv"]))
def test_random_files(tmp_path_factory, data, layout):
    wall, o, h, lo, c, vol, zone = data
    path = tmp_path_factory.mktemp("r") / ("b.parquet" if layout == "rates-pq" else "b.csv")
    if layout.startswith("mt5"):
        rows = [
            "\t".join(
                [d, t, *(repr(float(x[i])) for x in (o, h, lo, c)), f"{vol[i]}\t{vol[i] * 2}\t1"]
            )
            for i, (d, t) in enumerate(
                zip(wall_text(wall, "%Y.%m.%d"), wall_text(wall, "%H:%M:%S"), strict=True)
            )
        ]
        enc = "utf-16" if layout.endswith("utf16") else "utf-8"
        path.write_bytes(("\r\n".join([MT5_HEADER, *rows]) + "\r\n").encode(enc))
    else:
        df = pd.DataFrame(
            {"open": o, "high": h, "low": lo, "close": c, "tick_volume": vol, "real_volume": vol}
        )
        if layout == "naive-csv":
            df.insert(0, "datetime", wall_text(wall, "%Y-%m-%d %H:%M:%S"))
            df.to_csv(path, index=False)
        else:
            df.insert(0, "time", wall)
            df["spread"] = np.int32(3)
            if layout == "rates-csv":
                df.to_csv(path, index=False)
            else:
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    fast, careful = both(path, tz=zone)
    if isinstance(careful, DataError):  # a wall time lost or doubled by a DST change
        assert fast is None and "daylight-saving" in str(careful)
    else:
        assert_same(fast, careful)


@given(
    st.sampled_from([*ZONES, "Asia/Gaza", "Africa/Casablanca", "Asia/Kolkata", "Europe/Dublin"]),
    st.lists(st.integers(-(10**9), 4 * 10**9), min_size=1, max_size=50),
)
def test_localize_matches_pandas(zone, walls):
    wall = np.array(sorted(walls), dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(wall, unit="s"))
    want = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    got = localize(wall, zone)
    if want.isna().any():
        assert got is None
    else:
        assert got is not None and np.array_equal(got, want.as_unit("s").asi8)


# ---------------------------------------------------------------- imports


def imported(code: str) -> set[str]:
    heavy = ["numba", "fastapi", "sqlalchemy", "pandas", "pyarrow", "httpx", "numpy"]
    code = f"import sys\n{code}\nprint(*[m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_fast_path_does_not_import_pandas(tmp_path):
    save_bars_csv(synth_win(days=2, seed=1), tmp_path / "s.csv")
    rates_frame().to_parquet(tmp_path / "r.parquet")
    for name in ("s.csv", "r.parquet"):
        mods = imported(f"from mtponte.data import load_bars\nload_bars({str(tmp_path / name)!r})")
        assert "pandas" not in mods and "pyarrow" in mods


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_bad_byte_in_an_unused_column(tmp_path, bom):
    text = "\n".join([MT5_HEADER + "\t<NOTE>", *(r + "\tok" for r in MT5_ROWS)]).encode()
    path = tmp_path / "b.csv"
    path.write_bytes(bom + text.replace(b"\tok", b"\t\xe9", 1))
    fast, careful = both(path)
    assert fast is None and "not valid utf-8" in str(careful)
    path.write_bytes(bom + text)
    assert_same(*both(path))
