"""The csv_tail feed: a bar file another program keeps appending to (issue 9)."""

from __future__ import annotations

import os
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from mtponte.backtest import run_backtest
from mtponte.data import synth_win
from mtponte.data.loaders import load_bars, save_bars_csv
from mtponte.domain import WIN
from mtponte.domain.bars import Bar
from mtponte.errors import DataError
from mtponte.live.csvtail import CsvTailFeed
from mtponte.live.feeds import BarEvent
from tests.live._lockstep import Market, Monitor, key, trading

TZ = WIN.timezone


def ohlc(b: Bar) -> tuple[object, ...]:
    return b.time, b.open, b.high, b.low, b.close


def lines_of(tmp_path: Path, days: int = 2, seed: int = 5) -> tuple[str, list[str]]:
    src = tmp_path / "src.csv"
    save_bars_csv(synth_win(days=days, seed=seed), src)
    header, *rows = src.read_text(encoding="utf-8").splitlines()
    return header, rows


def feed_of(path: Path, **kw: object) -> CsvTailFeed:
    return CsvTailFeed(path, "M5", TZ, poll_s=kw.pop("poll_s", 0.02), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("watch", [True, False])
def test_writer_thread_with_torn_writes_gives_the_files_bars(tmp_path: Path, watch: bool) -> None:
    header, rows = lines_of(tmp_path)
    path = tmp_path / "live.csv"
    path.write_text(header + "\n" + "\n".join(rows[:10]) + "\n", encoding="utf-8")
    feed = feed_of(path, watch=watch)

    def writer() -> None:
        with path.open("a", encoding="utf-8", newline="") as fh:
            for k, row in enumerate(rows[10:]):
                if k % 3 == 0:  # a torn write: half a line, flushed, the rest later
                    fh.write(row[: len(row) // 2])
                    fh.flush()
                    time.sleep(0.003)
                    fh.write(row[len(row) // 2 :] + "\n")
                else:
                    fh.write(row + "\n")
                fh.flush()
                if k % 7 == 0:
                    time.sleep(0.002)

    got: list[BarEvent] = []
    stop = threading.Event()
    got.extend(feed.poll())
    th = threading.Thread(target=writer)
    th.start()
    deadline = time.monotonic() + 60
    try:
        while len(got) < len(rows) - 10 and time.monotonic() < deadline:
            feed.wait(stop)
            got.extend(feed.poll())
    finally:
        th.join()
        feed.close()
    want = load_bars(path, timezone=TZ)
    assert [ohlc(b) for b in feed.history] == [ohlc(want.bar(i)) for i in range(10)]
    assert [ohlc(e.bar) for e in got] == [ohlc(want.bar(i)) for i in range(10, len(want))]
    for a, b in pairwise(got):  # each paired with the next open if known
        assert b.bar.time > a.bar.time
        assert a.next_time is not None and a.next_time <= b.bar.time
    assert feed.notes == []


def test_duplicates_gaps_and_bad_lines(tmp_path: Path) -> None:
    header, rows = lines_of(tmp_path, days=1)
    path = tmp_path / "live.csv"
    path.write_text(header + "\n" + rows[0] + "\n", encoding="utf-8")
    feed = feed_of(path, watch=False)
    assert feed.poll() == [] and len(feed.history) == 1

    def append(*lines: str) -> list[BarEvent]:
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
        return feed.poll()

    assert [ohlc(e.bar) for e in append(rows[1], rows[1])] == [ohlc(load_bar(rows[1], header))]
    assert feed.notes and "duplicate" in feed.notes[-1]
    assert append(rows[1]) == []  # the same bar once more, in a later write
    assert "duplicate" in feed.notes[-1]
    evs = append(rows[4])  # bars 2 and 3 never written
    assert [ohlc(e.bar) for e in evs] == [ohlc(load_bar(rows[4], header))]
    assert "gap: 2 bar(s) missing" in feed.notes[-1]
    with pytest.raises(DataError, match="after the newer"):
        append(rows[3])  # a late bar: a decision was already taken after it
    # a bar written again with other prices (a fresh file and feed)
    other = tmp_path / "other.csv"
    other.write_text(header + "\n" + rows[0] + "\n", encoding="utf-8")
    feed2 = feed_of(other, watch=False)
    feed2.poll()
    cells = rows[0].split(",")
    cells[2] = str(float(cells[2]) + 50)  # a higher high
    with other.open("a", encoding="utf-8") as fh:
        fh.write(",".join(cells) + "\n")
    with pytest.raises(DataError, match="other prices"):
        feed2.poll()
    # a line that does not parse: its file line in the error
    with other.open("w", encoding="utf-8") as fh:
        fh.write(header + "\n" + rows[0] + "\n")
    feed3 = feed_of(other, watch=False)
    feed3.poll()
    with other.open("a", encoding="utf-8") as fh:
        fh.write(rows[1] + "\n" + "2024-01-02T09:10:00-03:00,abc,1,1,1,0,0\n")
    with pytest.raises(DataError, match=r"other.csv:4: "):
        feed3.poll()


def load_bar(row: str, header: str) -> Bar:
    from mtponte.data.loaders import parse_text

    return parse_text(header + "\n" + row + "\n", "x", timezone=TZ).bar(0)


def test_rotation_and_truncation_reopen_or_refuse(tmp_path: Path) -> None:
    header, rows = lines_of(tmp_path, days=1)
    path = tmp_path / "live.csv"
    path.write_text(header + "\n" + "\n".join(rows[:5]) + "\n", encoding="utf-8")
    feed = feed_of(path, watch=False)
    feed.poll()
    # rotated: a new file (os.replace) holding the accepted bars again and two new ones
    new = tmp_path / "new.csv"
    new.write_text(header + "\n" + "\n".join(rows[:7]) + "\n", encoding="utf-8")
    os.replace(new, path)
    assert [ohlc(e.bar) for e in feed.poll()] == [ohlc(load_bar(r, header)) for r in rows[5:7]]
    assert any("reopened" in n for n in feed.notes)
    # truncated to only newer bars: reopened, the new bar yielded
    path.write_text(header + "\n" + rows[7] + "\n", encoding="utf-8")
    assert [ohlc(e.bar) for e in feed.poll()] == [ohlc(load_bar(rows[7], header))]
    assert "truncation" in feed.notes[-1]
    # truncated and rewritten with an accepted bar changed: refused
    bad = rows[7].split(",")
    bad[2] = str(float(bad[2]) + 50)
    path.write_text(header + "\n" + ",".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="other prices"):
        feed.poll()


@pytest.mark.parametrize("mode", ["stop", "next_open"])
def test_realtime_through_the_tail_trades_like_the_backtest(tmp_path: Path, mode: str) -> None:
    bars = synth_win(days=8, seed=12)
    cfg = trading(mode)
    expected = sorted(key(t) for t in run_backtest(bars, WIN, cfg.strategy).trades())
    src = tmp_path / "src.csv"
    save_bars_csv(bars, src)
    header, *rows = src.read_text(encoding="utf-8").splitlines()
    m = Market(bars)
    path = tmp_path / "live.csv"
    path.write_text(header + "\n" + "\n".join(rows[: m.warm]) + "\n", encoding="utf-8")
    feed = CsvTailFeed(path, "M5", TZ, poll_s=0.5)
    mon = Monitor(feed, cfg, m.paper, m)
    mon.start()  # the lines written so far are the history
    try:
        with path.open("a", encoding="utf-8") as fh:
            for j in range(m.warm, len(bars)):
                with mon.cond:  # the monitor is idle between bars
                    m.trade(j)
                row = rows[j]
                fh.write(row[:9])  # torn: the writer is mid-line
                fh.flush()
                fh.write(row[9:] + "\n")
                fh.flush()
                mon.wait_bar(j)
    finally:
        mon.stop()
        feed.close()
    got = sorted(key(t) for t in mon.result().runner.trades)
    start = bars.bar(m.warm).time
    want = [e for e in expected if e[0] >= start]
    assert got == want, "\n".join(["got:", *map(repr, got), "want:", *map(repr, want)])
    assert len(got) >= 3


def test_feed_notes_are_journaled_by_the_realtime_loop(tmp_path: Path) -> None:
    from mtponte.live.journal import open_journal
    from mtponte.live.journal.models import Heartbeat
    from mtponte.live.realtime import _journal_notes

    header, rows = lines_of(tmp_path, days=1)
    path = tmp_path / "live.csv"
    path.write_text(header + "\n" + rows[0] + "\n", encoding="utf-8")
    feed = feed_of(path, watch=False)
    feed.poll()
    with path.open("a", encoding="utf-8") as fh:
        fh.write(rows[0] + "\n" + rows[3] + "\n")
    feed.poll()
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run("trade", "bridge", "csv_tail", "WIN", {})
    _journal_notes(feed, j, 7)
    assert feed.notes == []
    with j.engine.connect() as c:
        notes = [r.note for r in c.execute(Heartbeat.__table__.select())]
    j.close()
    assert len(notes) == 2
    assert notes[0].startswith("feed: duplicate bar") and notes[1].startswith("feed: gap: 2 bar")
