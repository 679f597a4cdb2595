"""Wait for new files in a folder: OS file events via ``watchfiles`` (inotify,
ReadDirectoryChangesW, FSEvents), or plain polling."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mtponte.bridge.fileio import is_temp


def _has_message(folder: Path) -> bool:
    try:
        return any(n.endswith(".json") and not is_temp(n) for n in os.listdir(folder))
    except FileNotFoundError:
        return False


def changes(
    folder: Path,
    stop: threading.Event,
    *,
    polling: bool = False,
    poll_ms: int = 25,
    timeout_ms: int = 100,
    burst_ms: int = 0,
) -> Iterator[bool]:
    """Yield ``True`` when ``folder`` may hold new messages, ``False`` every
    ``timeout_ms`` without a change, until ``stop`` is set.

    With file events a change is seen after about 1.4 ms (watchfiles' 1 ms ``step``
    confirmation window). ``burst_ms`` > 0 then keeps listing the folder every 0.2 ms
    for that long after activity, so commands that follow one another closely are
    seen in a fraction of a millisecond; an isolated command still pays the watcher's
    latency. With ``polling`` the latency is up to ``poll_ms``.
    """
    if polling:
        while not stop.is_set():
            stop.wait(poll_ms / 1000)
            yield True
        return
    from watchfiles import watch

    for batch in watch(
        folder,
        stop_event=stop,
        debounce=timeout_ms,
        step=1,
        rust_timeout=timeout_ms,
        yield_on_timeout=True,
        recursive=False,
        raise_interrupt=False,
    ):
        yield bool(batch)
        if batch and burst_ms > 0:
            end = time.perf_counter() + burst_ms / 1000
            while time.perf_counter() < end and not stop.is_set():
                time.sleep(0.0002)
                if _has_message(folder):
                    yield True
                    end = time.perf_counter() + burst_ms / 1000
            # Events during the window may be dropped when the watcher resumes: look once
            # more, so only a file landing in the next microseconds waits for timeout_ms.
            if _has_message(folder):
                yield True
