from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mtponte.data import load_bars, save_bars_csv, synth_win
from mtponte.errors import DataError

MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"
MT5_ROWS = [
    "2024.03.04\t09:00:00\t100\t110\t95\t105\t10\t20\t1",
    "2024.03.04\t09:05:00\t105\t112\t100\t101\t11\t21\t1",
    "2024.03.04\t09:10:00\t101\t103\t99\t102\t12\t22\t1",
]


def write(tmp_path, text, name="bars.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def utc(*a):
    return int(datetime(*a, tzinfo=UTC).timestamp())


# ---------------------------------------------------------------- real MT5 export


def test_real_export(win_h1_path):
    bars = load_bars(win_h1_path)
    assert len(bars) == 11_758
    # 2018-02-15 was still Brazilian summer time (UTC−2): 09:00 local = 11:00 UTC.
    assert bars.time[0] == utc(2018, 2, 15, 11)
    # After DST ended (2018-02-18) 09:00 local = 12:00 UTC; the window logic sees 09:00.
    i = int(np.searchsorted(bars.time, utc(2018, 3, 1)))
    assert bars.time[i] == utc(2018, 3, 1, 12) and bars.tod[i] == 9 * 3600
    assert bars.real_volume[0] == 204_816 and bars.tick_volume[0] == 65_636


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le"])
def test_mt5_encodings(tmp_path, encoding):
    text = "\r\n".join([MT5_HEADER, *MT5_ROWS]) + "\r\n"
    bars = load_bars(write(tmp_path, text, encoding=encoding))
    assert len(bars) == 3 and bars.close.tolist() == [105, 101, 102]
    assert bars.time[0] == utc(2024, 3, 4, 12)  # São Paulo is UTC−3 in 2024


def test_mt5_daily_variant(tmp_path):
    text = (
        "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2024.03.04\t1\t2\t0.5\t1.5\t10\t0\t0\n2024.03.05\t1.5\t2\t1\t1.8\t10\t0\t0\n"
    )
    bars = load_bars(write(tmp_path, text))
    assert bars.time.tolist() == [utc(2024, 3, 4, 3), utc(2024, 3, 5, 3)]


def test_server_timezone_differs_from_exchange(tmp_path):
    # A broker whose server clock is Athens time (UTC+2 in winter) stamps a bar that
    # opened at 08:00 UTC as "10:00".
    text = "\n".join([MT5_HEADER, "2024.01.02\t10:00:00\t1\t2\t0.5\t1.5\t1\t1\t1"])
    bars = load_bars(write(tmp_path, text), timezone="UTC", server_timezone="Europe/Athens")
    assert bars.time[0] == utc(2024, 1, 2, 8)
    # Wrongly assuming the server runs on São Paulo time moves the bar by 5 hours.
    wrong = load_bars(
        write(tmp_path, text, "w.csv"), timezone="UTC", server_timezone="America/Sao_Paulo"
    )
    assert wrong.time[0] - bars.time[0] == 5 * 3600
    # Without a server zone, the server clock is assumed to be the exchange's.
    assert load_bars(write(tmp_path, text, "d.csv"), timezone="UTC").time[0] == utc(2024, 1, 2, 10)


# ---------------------------------------------------------------- copy_rates layout


def rates_frame():
    # Server wall time written as if it were UTC (how MT5 returns copy_rates).
    return pd.DataFrame(
        {
            "time": [utc(2024, 1, 2, 10), utc(2024, 1, 2, 10, 5)],
            "open": [1.1, 1.2],
            "high": [1.3, 1.3],
            "low": [1.0, 1.1],
            "close": [1.2, 1.25],
            "tick_volume": [5, 6],
            "spread": [2, 2],
            "real_volume": [0, 0],
        }
    )


def test_rates_csv_and_parquet(tmp_path):
    df = rates_frame()
    csv_path = tmp_path / "r.csv"
    df.to_csv(csv_path, index=False)
    pq_path = tmp_path / "r.parquet"
    df.to_parquet(pq_path)
    for path in (csv_path, pq_path):
        bars = load_bars(path, timezone="UTC", server_timezone="Europe/Athens")
        assert bars.time.tolist() == [utc(2024, 1, 2, 8), utc(2024, 1, 2, 8, 5)]
        assert bars.tick_volume.tolist() == [5, 6]


# ---------------------------------------------------------------- generic CSV


def test_generic_semicolon_dayfirst(tmp_path):
    text = (
        "Date;Open;High;Low;Close;Volume\n02/01/2024 09:00;1;2;0.5;1.5;10\n"
        "02/01/2024 09:05;1.5;2;1;1.8;12\n"
    )
    bars = load_bars(write(tmp_path, text), dayfirst=True)
    assert bars.time[0] == utc(2024, 1, 2, 12)
    assert bars.real_volume.tolist() == [10, 12] and bars.tick_volume.tolist() == [10, 12]


def test_generic_with_offsets_and_separate_time(tmp_path):
    text = (
        "DATETIME,OPEN,HIGH,LOW,CLOSE,TICK_VOLUME,REAL_VOLUME\n"
        "2024-01-02T09:00:00-03:00,1,2,0.5,1.5,3,10\n"
    )
    bars = load_bars(write(tmp_path, text))
    assert bars.time[0] == utc(2024, 1, 2, 12) and bars.tick_volume[0] == 3
    text2 = "date,time,open,high,low,close,volume\n2024-01-02,09:00,1,2,0.5,1.5,1\n"
    assert load_bars(write(tmp_path, text2, "b.csv")).time[0] == utc(2024, 1, 2, 12)


def test_synthetic_round_trip(tmp_path):
    bars = synth_win(days=3, seed=2)
    save_bars_csv(bars, tmp_path / "s.csv")
    back = load_bars(tmp_path / "s.csv")
    assert np.array_equal(back.time, bars.time) and np.array_equal(back.close, bars.close)
    assert np.array_equal(back.real_volume, bars.real_volume)


# ---------------------------------------------------------------- bad input

BAD = [
    ([MT5_ROWS[1], MT5_ROWS[0]], 3, "earlier than the line before"),
    ([MT5_ROWS[0], MT5_ROWS[0]], 3, "duplicate timestamp"),
    ([MT5_ROWS[0], "2024.03.04\t09:05:00\t105\t90\t100\t101\t11\t21\t1"], 3, "high is below low"),
    (
        [MT5_ROWS[0], "2024.03.04\t09:05:00\t105\tnan\t100\t101\t11\t21\t1"],
        3,
        "not a finite number",
    ),
    (
        [MT5_ROWS[0], "2024.03.04\t09:05:00\t105\tabc\t100\t101\t11\t21\t1"],
        3,
        "not a finite number",
    ),
    ([MT5_ROWS[0], "2024.13.04\t09:05:00\t105\t112\t100\t101\t11\t21\t1"], 3, "cannot read time"),
    ([MT5_ROWS[0], "2024.03.04\t09:05:00\t105\t112\t100"], 3, "expected 9 fields"),
    (
        [MT5_ROWS[0], "2024.03.04\t09:05:00\t105\t106\t100\t107\t11\t21\t1"],
        3,
        "high is below open or close",
    ),
    (
        [MT5_ROWS[0], "2024.03.04\t09:05:00\t105\t112\t100\t101\t-1\t21\t1"],
        3,
        "negative tick volume",
    ),
]


@pytest.mark.parametrize(("rows", "line", "message"), BAD)
def test_bad_rows_name_file_and_line(tmp_path, rows, line, message):
    path = write(tmp_path, "\n".join([MT5_HEADER, *rows]) + "\n")
    with pytest.raises(DataError, match=message) as exc:
        load_bars(path)
    assert str(exc.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(exc.value)


def test_missing_columns(tmp_path):
    path = write(tmp_path, "time,open,high,close\n2024-01-02 09:00,1,2,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) low"):
        load_bars(path)
    with pytest.raises(DataError, match="no time column"):
        load_bars(write(tmp_path, "open,high,low,close\n1,2,0,1\n", "n.csv"))


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_bars(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="empty"):
        load_bars(write(tmp_path, "  \n", "e.csv"))
    p = tmp_path / "latin1.csv"
    p.write_bytes("time,open,high,low,close\n2024-01-02 09:00,1,2,0,1\n\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid utf-8") as exc:
        load_bars(p)
    assert ":3:" in str(exc.value)
    with pytest.raises(DataError, match="unknown time zone"):
        load_bars(p, timezone="Mars/Olympus")
    with pytest.raises(DataError, match="no data rows"):
        load_bars(write(tmp_path, MT5_HEADER + "\n", "h.csv"))


def test_nonexistent_local_time(tmp_path):
    # 2018-11-04 00:00–00:59 did not exist in São Paulo (clocks jumped to 01:00).
    text = "\n".join([MT5_HEADER, "2018.11.04\t00:30:00\t1\t2\t0.5\t1.5\t1\t1\t1"])
    with pytest.raises(DataError, match="does not exist or is ambiguous"):
        load_bars(write(tmp_path, text))


# ---------------------------------------------------------------- review findings


def test_round_trip_across_dst(tmp_path):
    # Offsets change from -03:00 to -02:00 in Nov 2018: rows carry different offsets.
    from tests.conftest import make_bars

    bars = make_bars(
        [("2018-11-02 09:00", 1, 2, 0.5, 1.5, 1), ("2018-11-05 09:00", 1, 2, 0.5, 1.5, 1)]
    )
    save_bars_csv(bars, tmp_path / "dst.csv")
    assert "-02:00" in (tmp_path / "dst.csv").read_text()
    back = load_bars(tmp_path / "dst.csv")
    assert np.array_equal(back.time, bars.time)


def test_mixed_offset_and_naive_rows(tmp_path):
    text = (
        "time,open,high,low,close\n2024-01-02T09:00:00-03:00,1,2,0.5,1.5\n"
        "2024-01-02T09:05:00,1,2,0.5,1.5\n"
    )
    with pytest.raises(DataError, match="lacks a UTC offset") as exc:
        load_bars(write(tmp_path, text))
    assert ":3:" in str(exc.value)


def test_one_date_format_per_file(tmp_path):
    # Month-first inferred from the first row: 13/01 cannot silently flip to day-first.
    text = "time,open,high,low,close\n12/01/2024 09:00,1,2,0.5,1.5\n13/01/2024 09:00,1,2,0.5,1.5\n"
    with pytest.raises(DataError, match="cannot read time '13/01/2024 09:00'"):
        load_bars(write(tmp_path, text))
    ok = load_bars(write(tmp_path, text, "d.csv"), dayfirst=True)
    assert ok.time[1] - ok.time[0] == 86400


def test_parquet_generic_and_aware_times(tmp_path):
    idx = pd.date_range("2024-01-02 12:00", periods=2, freq="5min", tz="UTC")
    df = pd.DataFrame(
        {
            "time": idx,
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.5, 1.5],
            "volume": [10.0, 12.0],
        }
    )
    df.to_parquet(tmp_path / "g.parquet")
    bars = load_bars(tmp_path / "g.parquet")  # aware instants are kept, never re-read
    assert bars.time[0] == utc(2024, 1, 2, 12) and bars.real_volume.tolist() == [10, 12]
    df["tick_volume"] = [1, 2]
    df.drop(columns="volume").to_parquet(tmp_path / "r.parquet")
    assert load_bars(tmp_path / "r.parquet").time[0] == utc(2024, 1, 2, 12)


def test_missing_column_names_the_header_line(tmp_path):
    with pytest.raises(DataError) as exc:
        load_bars(write(tmp_path, "\n\ntime,open,high,close\n2024-01-02 09:00,1,2,1\n"))
    assert ":3: missing column(s) low" in str(exc.value)
