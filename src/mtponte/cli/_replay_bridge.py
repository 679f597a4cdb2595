"""``mtponte replay --via bridge``: the bars replayed through the real transport.

The monitor (runner → risk gate → bridge client) runs in this process on the bridge
feed, as ``mtponte live`` does; the reference executor runs as a child process
(``mtponte bridge market``, the terminal's stand-in) on a paper account whose market
trades the same bars one step at a time. Both sides use the market's clock, so a
replay takes as long as the machine needs, not the bars' real duration. The same
machinery as the bridge part of ``mtponte demo`` (``cli/_demo_bridge.py``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mtponte.cli._common import TIMEFRAMES
from mtponte.cli._conductor import WAIT_S, bridge_folder, conduct, spawn_market, wait_for
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from mtponte.live.config import LiveConfig
    from mtponte.live.realtime import RealtimeRun


def replay_bridge(
    bars: Bars,
    spec: SymbolSpec,
    cfg: LiveConfig,
    out: Path,
    on_bar: Callable[[], None] | None = None,
) -> RealtimeRun:
    """Replay ``bars`` through the file bridge against the executor as a child process.

    Parameters
    ----------
    bars
        The bars; the first one is history (the monitor starts after it closed), the
        others are traded one by one.
    spec
        Their symbol.
    cfg
        The monitor's configuration (``runner.mode`` already ``trade``).
    out
        The output folder: ``journal.sqlite``, ``logs/``, ``executor.log`` and the
        bridge folder ``mt5-files/`` (with the executor's journal) are left there.
    on_bar
        Called after each bar the monitor handled (progress).

    Returns
    -------
    RealtimeRun
        The run (its ``trades``).

    Raises
    ------
    ConfigError
        A setting the simulated market cannot honour.
    MtponteError
        The executor process or the monitor stopped, or a bar was not handled.
    """
    from mtponte.brokers.bridge import BridgeBroker
    from mtponte.cli._demo_market import save_market, write_step
    from mtponte.live.pollfeeds import BridgeFeed
    from mtponte.live.replay import ReplayClock, timeframe_of

    if cfg.strategy.slippage_ticks:
        raise ConfigError(
            "strategy.slippage_ticks: --via bridge fills at the bar's prices (the "
            "simulated market has no slippage); use --via paper to replay with slippage"
        )
    tf_s = timeframe_of(bars)
    names = {s: n for n, s in TIMEFRAMES.items()}
    if tf_s not in names:
        raise ConfigError(f"--via bridge: a {tf_s} s bar has no MT5 timeframe name")
    tf = names[tf_s]
    if len(bars) < 2:
        raise ConfigError("--via bridge needs at least two bars")
    warm = 1
    step = timedelta(seconds=tf_s)
    bdir, on_tmpfs = bridge_folder(out)
    market = out / "market.npz"
    save_market(bars, market)
    proc = spawn_market(bdir, market, warm, out / "executor.log", spec.name, tf)
    clock = ReplayClock(bars.bar(warm - 1).time + step)

    def child() -> str | None:
        if proc.poll() is not None:
            tail = (out / "executor.log").read_text(encoding="utf-8", errors="replace")
            return f"the executor process exited ({proc.returncode}): {tail[-600:]}"
        return None

    try:
        snapshot = bdir / "state" / f"bars-{spec.name}-{tf}.json"
        wait_for(snapshot.exists, "the executor process did not publish its bars", child)
        broker = BridgeBroker(bdir, timeout_s=10, clock=lambda: int(clock().timestamp() * 1000))
        feed = BridgeFeed(bdir, spec.name, tf, poll_s=0.0005)
        journal = f"sqlite:///{(out / 'journal.sqlite').as_posix()}"
        return conduct(
            bars,
            warm,
            spec,
            cfg,
            bdir,
            feed,
            broker,
            clock,
            child,
            journal,
            out / "logs",
            "replay-bridge",
            after_bar=None if on_bar is None else (lambda _j: on_bar()),
        )
    finally:
        if proc.poll() is None:
            try:
                write_step(bdir, "stop")
                proc.wait(WAIT_S)
            except (OSError, subprocess.TimeoutExpired):  # a stuck child is killed
                proc.kill()
                proc.wait()
        if on_tmpfs and bdir.exists():
            shutil.copytree(bdir, out / "mt5-files", dirs_exist_ok=True)
            shutil.rmtree(bdir, ignore_errors=True)
        market.unlink(missing_ok=True)
