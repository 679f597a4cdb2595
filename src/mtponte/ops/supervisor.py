"""A watchdog: run a command as a child, restart it when it dies or stops beating.

The child (the monitor, a follower, the copy server) is started in its own process
group; it is restarted when it exits with a non-zero code, or when its heartbeat file
is older than ``stale_after_s`` (the child is killed first, with its whole tree). Waits
between restarts grow exponentially up to a cap, and start again from the base once a
child has run ``stable_s``. More than ``max_restarts`` restarts within ``window_s``:
the supervisor gives up. Each restart and the giving up send an alert. A child that
exits with code 0 has finished: the supervisor ends too.

Restarting never duplicates an order: the monitor journals each command before sending
it and resolves unknown outcomes by their tag, and a replay resumes from the persisted
paper account (see docs/live.md).

Windows: the child gets ``CREATE_NEW_PROCESS_GROUP`` and its tree is ended with
``taskkill /T``; POSIX: a new session and ``killpg``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mtponte.alerts.events import Alert, AlertKind
from mtponte.alerts.manager import AlertManager
from mtponte.errors import ConfigError

log = logging.getLogger("mtponte.supervisor")

WINDOWS = sys.platform == "win32"


@dataclass(frozen=True)
class SupervisorPolicy:
    """When to restart and when to give up.

    Attributes
    ----------
    max_restarts, window_s
        Give up after this many restarts within this many seconds.
    heartbeat
        A file the child touches while healthy (``None``: only crashes restart it).
    stale_after_s
        The heartbeat file (or, before it appears, the child's start) older than this
        means the child hangs.
    backoff_s, backoff_cap_s
        Wait before the n-th consecutive restart: ``backoff_s * 2**(n-1)``, capped.
    stable_s
        A child that ran this long resets the backoff.
    grace_s
        After asking the child to stop, wait this long before killing it.
    poll_s
        How often the child and its heartbeat are checked.
    """

    max_restarts: int = 5
    window_s: float = 600.0
    heartbeat: Path | None = None
    stale_after_s: float = 120.0
    backoff_s: float = 1.0
    backoff_cap_s: float = 60.0
    stable_s: float = 300.0
    grace_s: float = 10.0
    poll_s: float = 0.25

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.window_s <= 0 or self.stale_after_s <= 0:
            raise ConfigError("--max-restarts must be >= 0, --window and --stale-after > 0")
        if self.backoff_s < 0 or self.backoff_cap_s < 0 or self.poll_s <= 0:
            raise ConfigError("backoff values must be >= 0 and the poll interval > 0")


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    if WINDOWS:
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        return subprocess.Popen(list(command), creationflags=flags)
    return subprocess.Popen(list(command), start_new_session=True)


def stop_tree(proc: subprocess.Popen[bytes], grace_s: float, force: bool = False) -> int | None:
    """End ``proc`` and its children: ask, wait ``grace_s``, then kill.

    Parameters
    ----------
    proc
        A child started by the supervisor (its own process group).
    grace_s
        Seconds between the polite request and the kill.
    force
        Kill at once (a hung child).

    Returns
    -------
    int or None
        The child's exit code.
    """
    if proc.poll() is not None:
        return proc.returncode
    if not force:
        try:
            if WINDOWS:
                proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
            else:
                os.killpg(proc.pid, signal.SIGTERM)
            return proc.wait(grace_s)
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        if WINDOWS:
            subprocess.run(
                ["taskkill", "/PID", str(proc.pid), "/T", "/F"], capture_output=True, check=False
            )
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        return proc.wait(max(grace_s, 5.0))
    except subprocess.TimeoutExpired:
        return None


class Supervisor:
    """Keep ``command`` running (see the module docstring).

    Parameters
    ----------
    command
        The child's argv.
    policy
        Restart rules.
    alerts
        Where restart and give-up alerts go (``None``: logged only).
    on_spawn
        Called with each new child (tests use it to kill the child).
    """

    def __init__(
        self,
        command: Sequence[str],
        policy: SupervisorPolicy,
        alerts: AlertManager | None = None,
        on_spawn: Callable[[subprocess.Popen[bytes]], None] | None = None,
    ) -> None:
        if not command:
            raise ConfigError("no command to supervise (put it after --)")
        self.command = list(command)
        self.policy = policy
        self.alerts = alerts
        self.on_spawn = on_spawn
        self.restarts = 0
        self.reasons: list[str] = []
        self._recent: deque[float] = deque()
        self._stop = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to stop the child and return (any thread)."""
        self._stop.set()

    def _heartbeat_age(self, started: float) -> float:
        hb = self.policy.heartbeat
        assert hb is not None
        try:
            mtime = hb.stat().st_mtime
        except OSError:
            return time.time() - started
        return time.time() - max(mtime, started)

    def _watch(self, proc: subprocess.Popen[bytes], started: float) -> str | None:
        """Wait until the child needs a restart (its reason), exits 0 or a stop is asked
        (``None``)."""
        p = self.policy
        while not self._stop.wait(p.poll_s):
            rc = proc.poll()
            if rc is not None:
                return None if rc == 0 else f"exit code {rc}"
            if p.heartbeat is not None:
                age = self._heartbeat_age(started)
                if age > p.stale_after_s:
                    log.error("heartbeat %s is %.0f s old: killing the child", p.heartbeat, age)
                    stop_tree(proc, p.grace_s, force=True)
                    return f"heartbeat stale {age:.0f} s"
        return None

    def _emit(self, alert: Alert) -> None:
        if self.alerts is not None:
            self.alerts.emit(alert)

    def run(self) -> int:
        """Supervise until the child exits 0 (returns 0), a stop is asked (Ctrl-C,
        :meth:`stop`: the child is stopped, returns 130) or the restarts run out (1)."""
        try:
            return self._run()
        except KeyboardInterrupt:
            if self.child is not None:
                log.warning("interrupted: stopping pid %d", self.child.pid)
                stop_tree(self.child, self.policy.grace_s)
            return 130

    def _run(self) -> int:
        p = self.policy
        failures = 0
        while True:
            started = time.time()
            proc = self.child = _spawn(self.command)
            log.info("started pid %d: %s", proc.pid, " ".join(self.command))
            if self.on_spawn is not None:
                self.on_spawn(proc)
            reason = self._watch(proc, started)
            if self._stop.is_set():
                log.warning("stopping pid %d", proc.pid)
                stop_tree(proc, p.grace_s)
                return 130
            if reason is None:
                log.info("child exited with code 0: done")
                return 0
            ran = time.time() - started
            failures = 1 if ran >= p.stable_s else failures + 1
            now = time.monotonic()
            while self._recent and now - self._recent[0] > p.window_s:
                self._recent.popleft()
            if len(self._recent) >= p.max_restarts:
                log.critical(
                    "%s; %d restarts within %.0f s: giving up",
                    reason,
                    len(self._recent),
                    p.window_s,
                )
                self._emit(
                    Alert(
                        AlertKind.SUPERVISOR_GAVE_UP,
                        {"count": len(self._recent), "window_s": f"{p.window_s:g}"},
                        key=f"gave-up:{self.restarts}",
                    )
                )
                return 1
            self._recent.append(now)
            self.restarts += 1
            self.reasons.append(reason)
            wait = min(p.backoff_cap_s, p.backoff_s * 2 ** (failures - 1))
            log.warning("%s: restart %d in %.2f s", reason, self.restarts, wait)
            self._emit(
                Alert(
                    AlertKind.MONITOR_RESTARTED,
                    {"reason": reason, "count": self.restarts},
                    key=f"restart:{self.restarts}",
                )
            )
            if self._stop.wait(wait):
                return 130
