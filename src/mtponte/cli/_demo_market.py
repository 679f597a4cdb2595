"""``mtponte bridge market``: the reference executor (the EA's Python twin) on a paper
account whose market replays a bars file, one bar per step, as a conductor asks.

The conductor (``mtponte demo``, a test) writes the number of bars the market has traded
so far into ``<dir>/market/step`` (``stop`` ends the process); this process trades the
paper account through those bars, publishes the state and the closed-bar snapshot after
each one, and serves the inbox in between, like the EA in a terminal. Time is the
market's: bar ``j`` closes at its open time plus the bar length, and the executor's
clock (result stamps, dead-man, the snapshot's "now") reads that simulated time, so the
monitor's clock must read it too (``BridgeBroker(clock=...)``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from mtponte.bridge.fileio import atomic_write_bytes, read_bytes
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError, DataError, MtponteError

log = logging.getLogger("mtponte.bridge.market")

STEP_FILE = Path("market") / "step"
STOP = b"stop"
MARKET_COLUMNS = ("time", "open", "high", "low", "close", "tick_volume", "real_volume", "spread")


def write_step(root: Path, value: int | str) -> None:
    """Ask the market in ``root`` to have traded ``value`` bars (or ``"stop"``)."""
    path = Path(root) / STEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, str(value).encode())


def save_market(bars: Bars, path: Path) -> None:
    """Write ``bars`` as ``.npz`` (exact, and read without pandas: the child starts fast)."""
    np.savez(
        path,
        time=bars.time,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        tick_volume=bars.tick_volume,
        real_volume=bars.real_volume,
        spread=bars.spread,
        timezone=np.array(bars.timezone),
    )


def load_market(path: Path) -> Bars:
    """Read what :func:`save_market` wrote.

    Raises
    ------
    DataError
        Not such a file.
    """
    try:
        with np.load(path) as z:
            cols = {k: z[k] for k in MARKET_COLUMNS}
            tz = str(z["timezone"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a market file written by save_market: {exc}") from None
    return Bars(**cols, timezone=tz)


def _read_step(path: Path) -> int | None:
    """The step asked for; ``None`` for ``stop``."""
    raw = read_bytes(path)
    if raw is None:
        return 0
    raw = raw.strip()
    if raw == STOP:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{path}: expected a bar count or 'stop', got {raw[:40]!r}") from None


def serve_market(
    root: Path,
    bars: Bars,
    spec: SymbolSpec,
    warm: int,
    timeframe: str = "M5",
    poll_s: float = 0.0005,
    idle_s: float = 60.0,
) -> int:
    """Run the executor on a paper account that trades ``bars`` step by step.

    Parameters
    ----------
    root
        The bridge folder (created). The paper account lives in memory.
    bars
        The market.
    spec
        Its symbol.
    warm
        Bars traded before the first step (the monitor warms up on them).
    timeframe
        The closed-bar subscription published in ``state/``.
    poll_s
        Sleep between two looks at the step file and the inbox.
    idle_s
        Give up when the step file has not changed for this long (a conductor that
        died must not leave this process behind); ten times as long for the first step.

    Returns
    -------
    int
        Bars traded.

    Raises
    ------
    ConfigError
        ``warm`` outside the data, or a step beyond it.
    MtponteError
        No step for ``idle_s`` seconds.
    """
    from mtponte.bridge.executor import Executor
    from mtponte.brokers.paper import PaperBroker

    n = len(bars)
    if not 1 <= warm < n:
        raise ConfigError(f"--warm must be between 1 and {n - 1} (the bars file has {n})")
    root = Path(root)
    gaps, counts = np.unique(np.diff(bars.time), return_counts=True)
    step = timedelta(seconds=int(gaps[np.argmax(counts)]))  # the most common bar gap
    clock = _Clock(bars.bar(0).time)

    def now_ms() -> int:
        return int(clock().timestamp() * 1000)

    # In memory: a file account commits (and syncs) on every bar, the demo's bottleneck.
    paper = PaperBroker(symbols=[spec], clock=clock, account_mode="netting")
    ex = Executor(root, paper, clock=now_ms)
    ex.bar_subscriptions = ((spec.name, timeframe),)
    ex.bar_count = warm  # the first snapshot holds the warm-up; later ones the last bars

    def trade(j: int) -> None:  # the market trades bar j; then it has closed
        bar = bars.bar(j)
        clock.t = bar.time
        paper.on_bar(spec.name, bar)
        clock.t = bar.time + step
        if j + 1 < n:
            paper.set_quote(spec.name, bars.bar(j + 1).open)

    done = 0
    try:
        for j in range(warm):
            trade(j)
        done = warm
        ex.recover()
        ex.write_state()
        step_path = root / STEP_FILE
        last_change = time.monotonic()
        while True:
            target = _read_step(step_path)
            if target is None:
                break
            if target > n:
                raise ConfigError(f"step {target} is beyond the {n} bars of the market")
            if target > done:
                # a kill switch pulled before this step acts before the market moves on
                ex.apply_kill_switch()
                while done < target:
                    trade(done)
                    done += 1
                ex.write_state()
                ex.bar_count = 3
                last_change = time.monotonic()
            ex.process_inbox()  # also applies the kill switch
            # the first step waits for the demo's backtest (a cold numba compile)
            if time.monotonic() - last_change > (idle_s if done > warm else 10 * idle_s):
                raise MtponteError(f"no step for {idle_s:.0f}s in {step_path}: stopping")
            time.sleep(poll_s)
        ex.process_inbox()
    finally:
        ex.close()
        paper.close()
    log.info("market stopped after %d bars", done)
    return done


class _Clock:
    """The market's time (aware UTC), set bar by bar."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t
