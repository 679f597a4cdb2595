"""The ``csv_tail`` feed: closed bars from a bar file another program keeps appending to
(an MT5 script or EA exporting each bar as it closes, ``FileWrite`` + ``FileFlush``).

Each complete line (ended by a newline) is one closed bar; a last line without its
newline is a write still in progress (a torn write) and is read once it is complete.
The file's header is read once and kept: every chunk of new lines is parsed with it by
the same loader as ``mtponte backtest`` (:func:`mtponte.data.loaders.parse_text`: MT5
export, ``copy_rates`` CSV, generic CSV, with the same time-zone rules).

The newest bar is yielded with ``next_time`` = its end on the bars' grid and
``next_open`` unknown (a line is written when its bar has closed, before the next one
has a price); several bars read at once are each paired with the next one's open.
The :class:`~mtponte.live.pollfeeds.ClosedBars` rules apply: the lines present at the
start are :attr:`history` (unless ``backfill``), an identical duplicate is skipped, a
changed one or times going backwards raise :class:`~mtponte.errors.DataError`.
Duplicates and gaps (bars of one exchange date more than one bar apart) are logged and
kept in :attr:`CsvTailFeed.notes` (:func:`~mtponte.live.realtime.run_polled` journals
them). A file that shrinks or is replaced (rotation, truncation) is reopened from its
start: bars already accepted are skipped, new ones yielded; a replaced file whose bars
disagree with the accepted ones raises.

Changes are watched with ``watchfiles`` (native notifications, or its polling mode with
``force_polling``); if the watcher cannot start, or misses a change, the file is read
anyway every ``poll_s`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mtponte.data.loaders import parse_text
from mtponte.domain.bars import Bar
from mtponte.errors import DataError
from mtponte.live.feeds import BarEvent
from mtponte.live.pollfeeds import PolledFeed, timeframe_seconds

log = logging.getLogger(__name__)


def _encoding(head: bytes) -> tuple[str, int]:
    """The text encoding of a file starting with ``head`` and the BOM's length."""
    if head[:2] == b"\xff\xfe":
        return "utf-16-le", 2
    if head[:2] == b"\xfe\xff":
        return "utf-16-be", 2
    if head[:3] == b"\xef\xbb\xbf":
        return "utf-8", 3
    if len(head) > 3 and head[1:2] == b"\x00" and head[3:4] == b"\x00":
        return "utf-16-le", 0
    return "utf-8", 0


class CsvTailFeed(PolledFeed):
    """Closed bars appended to ``path``.

    Parameters
    ----------
    path
        The bar file (created by the writer; a missing file yields nothing).
    timeframe
        ``M5``, ``H1`` ... (the end of the newest bar).
    timezone, server_timezone, fmt, dayfirst
        How to read the file, as ``mtponte backtest`` does.
    poll_s
        Longest wait between two reads (also the fallback when no change is notified).
    backfill
        Yield the bars present at the start too (default: :attr:`history` only).
    watch
        Wake on file changes through ``watchfiles`` (default); ``False``: read every
        ``poll_s`` only.
    force_polling
        ``watchfiles``' own polling mode (network drives, some Windows shares).
    stop, sleep
        See :class:`~mtponte.live.pollfeeds.PolledFeed`.
    """

    def __init__(
        self,
        path: Path,
        timeframe: str,
        timezone: str,
        server_timezone: str | None = None,
        fmt: str = "auto",
        dayfirst: bool = False,
        poll_s: float = 1.0,
        backfill: bool = False,
        watch: bool = True,
        force_polling: bool = False,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(poll_s, backfill, stop, sleep)
        self.path = Path(path)
        self.step = timedelta(seconds=timeframe_seconds(timeframe))
        self.zone = ZoneInfo(timezone)
        self._tz, self._server_tz, self._fmt, self._dayfirst = (
            timezone,
            server_timezone,
            fmt,
            dayfirst,
        )
        self._lines = 1  # lines consumed, the header included
        self.notes: list[str] = []
        self._offset = 0  # bytes consumed (complete lines only)
        self._ident: tuple[int, int] | None = None
        # mtime when everything in the file was consumed (None: unknown, e.g. mid-line)
        self._mtime: int | None = None
        self._header: str | None = None
        self._enc = "utf-8"
        self._newline = b"\n"
        self._reopened = False
        self._changed = threading.Event()
        self._quit = threading.Event()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(
                target=self._watch, args=(force_polling,), name="csv-tail-watch", daemon=True
            )
            self._watcher.start()

    # ------------------------------------------------------------------ waking up
    def _watch(self, force_polling: bool) -> None:
        import watchfiles

        target = self.path.resolve()
        try:
            for changes in watchfiles.watch(
                target.parent,
                watch_filter=lambda _c, p: Path(p).name == target.name,
                debounce=50,
                step=5,
                stop_event=self._quit,
                force_polling=force_polling,
                poll_delay_ms=max(10, int(self.poll_s * 500)),
                recursive=False,
                raise_interrupt=False,
            ):
                if changes:
                    self._changed.set()
        except Exception as exc:  # any watcher failure: the timed reads carry on
            log.warning("watching %s failed (%s): reading it every %.3gs", target, exc, self.poll_s)

    def wait(self, stop: threading.Event) -> bool:
        """Until the file changes, ``poll_s`` passes or ``stop`` is set (``True``)."""
        deadline = time.monotonic() + self.poll_s
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._changed.wait(min(left, 0.05)):
                break
        self._changed.clear()
        return stop.is_set()

    def close(self) -> None:
        """Stop the watcher thread."""
        self._quit.set()
        if self._watcher is not None:
            self._watcher.join(5)

    # ------------------------------------------------------------------ reading
    def _note(self, msg: str) -> None:
        log.warning("%s: %s", self.path.name, msg)
        self.notes.append(msg)

    def _reopen(self, why: str) -> None:
        self._note(f"{why}: reopened from its start")
        self._offset, self._header, self._reopened, self._lines = 0, None, True, 1

    def _chunk(self) -> str | None:
        """New complete lines since the last read (``None``: nothing new)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        ident = (st.st_dev, st.st_ino)
        if self._ident is not None and ident != self._ident and self._offset:
            self._reopen("file replaced (rotation)")
        elif st.st_size < self._offset:
            self._reopen(f"file shrank from {self._offset} to {st.st_size} bytes (truncation)")
        elif st.st_size == self._offset and self._mtime not in (None, st.st_mtime_ns):
            self._reopen("file rewritten at the same size")  # appending always grows it
        self._ident = ident
        if st.st_size == self._offset:
            return None
        try:
            with self.path.open("rb") as fh:
                if self._header is None:
                    raw = fh.read()
                    self._enc, bom = _encoding(raw[:4])
                    self._newline = "\n".encode(self._enc)
                    end = raw.find(self._newline, bom)
                    if end < 0:
                        return None  # the header itself is still being written
                    end += len(self._newline)
                    self._header = raw[bom:end].decode(self._enc).rstrip("\r\n")
                    self._offset = end
                    data = raw[end:]
                else:
                    fh.seek(self._offset)
                    data = fh.read()
                after = os.fstat(fh.fileno())
        except OSError as exc:
            raise DataError(f"cannot read: {exc.strerror or exc}", str(self.path)) from None
        cut = data.rfind(self._newline)
        if len(self._newline) == 2:
            while cut > 0 and cut % 2:  # a UTF-16 newline starts on an even byte
                cut = data.rfind(self._newline, 0, cut)
        if cut < 0:
            self._mtime = None
            return None  # only a torn line: read it when complete
        cut += len(self._newline)
        self._offset += cut
        self._mtime = after.st_mtime_ns if after.st_size == self._offset else None
        try:
            text = data[:cut].decode(self._enc)
        except UnicodeDecodeError as exc:
            raise DataError(f"not {self._enc} text: {exc}", str(self.path)) from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text if text.strip() else None

    def _parse(self, lines: list[str]) -> list[Bar]:
        assert self._header is not None
        bars = parse_text(
            self._header + "\n" + "\n".join(lines) + "\n",
            str(self.path),
            timezone=self._tz,
            server_timezone=self._server_tz,
            fmt=self._fmt,
            dayfirst=self._dayfirst,
        )
        return [bars.bar(i) for i in range(len(bars))]

    def _bars(self, text: str) -> list[Bar]:
        """The chunk's bars, in file order (repeats and disorder are judged after)."""
        lines = [ln for ln in text.split("\n") if ln.strip()]
        first = self._lines + 1  # file line of lines[0]
        self._lines += len(lines)
        try:
            return self._parse(lines)
        except DataError:
            pass  # the loader refuses repeated or unsorted times: one line at a time
        out = []
        for n, line in enumerate(lines, start=first):
            try:
                out.extend(self._parse([line]))
            except DataError as exc:
                msg = str(exc).split(": ", 1)[-1] if exc.path else str(exc)
                raise DataError(msg, str(self.path), n) from None
        return out

    def _split(self, bars: list[Bar], reopened: bool) -> list[Bar]:
        """The bars after the newest accepted one; the others must repeat accepted
        bars unchanged (noted as duplicates unless the file was reopened)."""
        last = self.tracker.last
        out: list[Bar] = []
        for bar in bars:
            if last is not None and bar.time <= last.time:
                seen = self.tracker.seen(bar.time)
                if seen is None and bar.time == last.time:
                    seen = last
                if seen is not None and seen != bar:
                    raise DataError(
                        f"bar {bar.time.isoformat()} written again with other prices",
                        str(self.path),
                    )
                if seen is None and not reopened:
                    raise DataError(
                        f"bar {bar.time.isoformat()} written after the newer "
                        f"{last.time.isoformat()}",
                        str(self.path),
                    )
                if not reopened:
                    self._note(f"duplicate bar {bar.time.isoformat()} skipped")
                continue
            if out and bar.time == out[-1].time and bar == out[-1]:
                self._note(f"duplicate bar {bar.time.isoformat()} skipped")
                continue
            prev = out[-1] if out else last
            if prev is not None and bar.time > prev.time + self.step and self._same_day(prev, bar):
                missing = int((bar.time - prev.time) / self.step) - 1
                self._note(
                    f"gap: {missing} bar(s) missing between {prev.time.isoformat()} and "
                    f"{bar.time.isoformat()}"
                )
            out.append(bar)
        return out

    def _same_day(self, a: Bar, b: Bar) -> bool:
        return a.time.astimezone(self.zone).date() == b.time.astimezone(self.zone).date()

    def poll(self) -> list[BarEvent]:
        """Read the lines completed since the last poll.

        Raises
        ------
        DataError
            A line that does not parse, a bar written again with other prices, a bar
            older than an accepted one, or a replaced file that contradicts accepted
            bars.
        """
        reopened = self._reopened
        text = self._chunk()
        reopened = reopened or self._reopened
        if text is None:
            if not self.tracker.started:
                return self.tracker.update([], None, None)  # the start: nothing before it
            return []
        self._reopened = False
        fresh = self._split(self._bars(text), reopened)
        if not fresh:
            return []
        last = self.tracker.last
        window = fresh if last is None else [last, *fresh]  # contiguous: no "missing" warning
        return self.tracker.update(window, fresh[-1].time + self.step, None)


__all__ = ["CsvTailFeed"]
