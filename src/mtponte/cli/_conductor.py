"""The conductor of a simulated market behind the file bridge: the reference executor
runs as a child process (``mtponte bridge market``) on a paper account, and this
process steps its market bar by bar while the monitor trades it through the bridge in
lockstep, both on the market's clock. Shared by ``mtponte demo`` and
``mtponte replay --via bridge``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import MtponteError

if TYPE_CHECKING:
    from mtponte.brokers.bridge import BridgeBroker
    from mtponte.live.config import LiveConfig
    from mtponte.live.pollfeeds import PolledFeed
    from mtponte.live.realtime import RealtimeRun
    from mtponte.live.replay import ReplayClock
    from mtponte.live.runner import Runner

WAIT_S = 30.0  # the longest a step may take before giving up (a stuck child)


def spawn_market(
    bdir: Path,
    market: Path,
    warm: int,
    log_path: Path,
    symbol: str = "WIN",
    timeframe: str = "M5",
) -> subprocess.Popen[bytes]:
    """``mtponte bridge market`` as a child process (the terminal's stand-in)."""
    cmd = [
        sys.executable,
        "-m",
        "mtponte",
        "bridge",
        "market",
        "--dir",
        str(bdir),
        "--bars-file",
        str(market),
        "--warm",
        str(warm),
        "--symbol",
        symbol,
        "--timeframe",
        timeframe,
    ]
    with log_path.open("wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)


def wait_for(cond: Callable[[], bool], what: str, alive: Callable[[], str | None]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        problem = alive()
        if problem is not None:
            raise MtponteError(f"{what}: {problem}")
        if time.monotonic() > deadline:
            raise MtponteError(f"{what}: nothing after {WAIT_S:.0f}s")
        time.sleep(0.0005)


def bridge_folder(root: Path) -> tuple[Path, bool]:
    """Where the bridge folder lives during the run: a RAM disk when there is one.

    Every state snapshot is a rename over the previous file, and on ext4 that rename
    flushes the new file's data first (``auto_da_alloc``): about 3 ms each on this
    machine's shared disk, seven per bar. The folder is copied to ``root`` afterwards.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="mtponte-demo-bridge-", dir=shm)), True
    return root / "mt5-files", False


def conduct(
    bars: Bars,
    warm: int,
    spec: SymbolSpec,
    cfg: LiveConfig,
    bdir: Path,
    feed: PolledFeed,
    broker: BridgeBroker,
    clock: ReplayClock,
    child: Callable[[], str | None],
    journal_url: str,
    logs_dir: Path,
    label: str,
    *,
    after_bar: Callable[[int], None] | None = None,
    on_start: Callable[[Runner, Any], None] | None = None,
    around: AbstractContextManager[Any] | None = None,
) -> RealtimeRun:
    """Step the market in ``bdir`` through ``bars[warm:]`` with the monitor in lockstep.

    The monitor (:func:`~mtponte.live.realtime.run_polled` with the journal, log, trade
    CSV and alerts of ``mtponte live``) runs in a thread on ``feed`` and ``broker``;
    this thread moves ``clock`` to the close of bar *j*, asks the market process to
    trade it (``market/step``), and waits until the monitor has handled it.

    Parameters
    ----------
    child
        ``None`` while the market process is well, else what went wrong.
    after_bar
        Called with *j* once the monitor handled bar *j*.
    on_start
        Called with the runner and the monitor's records once it has reconciled.
    around
        A context entered around the stepping (a live dashboard).

    Raises
    ------
    MtponteError
        The market process or the monitor stopped, or a bar was not handled within
        ``WAIT_S``.
    """
    from mtponte.cli._demo_market import write_step
    from mtponte.cli.live import _monitor
    from mtponte.live.realtime import run_polled
    from mtponte.live.replay import timeframe_of

    step = timedelta(seconds=timeframe_of(bars))
    handled = [0]
    cond = threading.Condition()
    started = threading.Event()
    stop = threading.Event()
    result: list[RealtimeRun] = []
    errors: list[BaseException] = []
    with _monitor(cfg, journal_url, logs_dir, label, spec) as m:

        def started_(runner: Runner) -> None:
            m.alerts.on_start(runner)
            if on_start is not None:
                on_start(runner, m)
            started.set()

        def on_event(_ev: Any) -> None:
            m.tick()
            with cond:
                handled[0] += 1
                cond.notify_all()

        def monitor() -> None:
            try:
                result.append(
                    run_polled(
                        feed,
                        spec,
                        cfg,
                        broker,
                        int(step.total_seconds()),
                        stop,
                        m.journal,
                        m.trade_log,
                        on_event=on_event,
                        on_start=started_,
                        clock=clock,
                    )
                )
            except BaseException as exc:  # reported here, not lost in the thread
                errors.append(exc)

        def problem() -> str | None:
            return f"the monitor stopped: {errors[0]}" if errors else child()

        th = threading.Thread(target=monitor, name=f"{label}-monitor", daemon=True)
        th.start()
        try:
            with around if around is not None else nullcontext():
                wait_for(started.is_set, "the monitor did not start", problem)
                for j in range(warm, len(bars)):
                    clock.t = bars.bar(j).time + step  # bar j has closed
                    write_step(bdir, j + 1)
                    want = j - warm + 1
                    deadline = time.monotonic() + WAIT_S
                    with cond:
                        while not cond.wait_for(partial(_reached, handled, errors, want), 0.25):
                            why = problem()
                            if why is None and time.monotonic() > deadline:
                                why = f"not handled after {WAIT_S:.0f}s"
                            if why is not None:
                                raise MtponteError(f"bar {bars.bar(j).time}: {why}")
                    if errors:
                        raise MtponteError(f"the monitor stopped: {errors[0]}") from errors[0]
                    if after_bar is not None:
                        after_bar(j)
        finally:
            stop.set()
            th.join(WAIT_S)
            broker.close()  # its client journal, also when a bar was not handled
    if errors:
        raise MtponteError(f"the monitor stopped: {errors[0]}") from errors[0]
    (run,) = result
    return run


def _reached(handled: list[int], errors: list[BaseException], want: int) -> bool:
    return handled[0] >= want or bool(errors)
