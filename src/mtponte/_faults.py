"""Crash points for the crash drill (fault injection).

``MTPONTE_CRASH_POINTS="executor.after_begin:0.05,client.after_add:0.05"`` makes the
process ``SIGKILL`` itself at those named points with those probabilities, so a test
can land crashes exactly inside the windows that exactly-once depends on. Unset (the
normal case) every call is a dictionary lookup that does nothing.
"""

from __future__ import annotations

import os
import random
import signal

_points: dict[str, float] | None = None


def _load() -> dict[str, float]:
    out: dict[str, float] = {}
    for item in os.environ.get("MTPONTE_CRASH_POINTS", "").split(","):
        name, _, p = item.partition(":")
        if name.strip():
            out[name.strip()] = float(p or 1.0)
    return out


def crashpoint(name: str) -> None:
    """Die here (SIGKILL, no cleanup) with the configured probability."""
    global _points
    if _points is None:
        _points = _load()
    p = _points.get(name)
    if p and random.random() < p:
        log = os.environ.get("MTPONTE_CRASH_LOG")
        if log:  # so the drill can count which windows were hit
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(name + "\n")
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
