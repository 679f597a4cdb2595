"""Wait for new files in a folder: OS file events via ``watchfiles`` (inotify,
ReadDirectoryChangesW, FSEvents), or plain polling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path


def changes(
    folder: Path,
    stop: threading.Event,
    *,
    polling: bool = False,
    poll_ms: int = 25,
    timeout_ms: int = 200,
) -> Iterator[bool]:
    """Yield ``True`` when something in ``folder`` changed, ``False`` every ``timeout_ms``
    without a change, until ``stop`` is set.

    With file events the latency is about a millisecond (``step=1``); with polling it
    is up to ``poll_ms``.
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
