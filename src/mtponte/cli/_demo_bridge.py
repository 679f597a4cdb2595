"""The real-system part of ``mtponte demo``: the monitor (runner → risk gate → bridge
client) talks through the file bridge to the reference executor running as a separate
process (``mtponte bridge market``) on a paper account, in lockstep with a simulated
market; a live dashboard while it runs; the kill switch pulled mid-run and released;
a final table (trades, identity with the backtest of the same bars, latencies)."""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.table import Table

from mtponte.cli._conductor import WAIT_S, bridge_folder, conduct, spawn_market, wait_for
from mtponte.cli._demo_dash import Dashboard, DashState, TimedBridge, fmt_ms, pct_ms, plural
from mtponte.domain.bars import Bars
from mtponte.domain.symbols import SymbolSpec
from mtponte.errors import MtponteError

if TYPE_CHECKING:
    from mtponte.backtest.engine import Trade
    from mtponte.live.runner import Runner

log = logging.getLogger("mtponte.demo")


@dataclass
class _Kill:
    """When the demo pulls the kill switch and releases it (bar indexes)."""

    arm_at: int  # engage at the first bar from here on that ends with a position held
    hold_bars: int
    max_hold_bars: int
    last_bar: int  # released by then at the latest
    refused: int = 0  # entries the risk gate refused because of the switch
    on_bar: int | None = None  # the first bar that closed with the switch engaged
    off_bar: int | None = None  # the first bar that closed with it released
    flattened: str = ""


def _key(t: Trade) -> tuple[Any, ...]:
    return (t.entry_time, int(t.side), t.entry_price, t.exit_time, t.exit_price, t.exit_reason)


class BridgeDemo:
    """The bridge part of ``mtponte demo``, prepared early: building it writes the
    market and starts the executor process, which loads while the demo backtests.

    Parameters
    ----------
    out
        The demo's folder; everything goes to ``out/bridge``.
    bars
        The demo's bars; the last ``sessions`` sessions are traded, the one before
        them only warms the strategy up.
    spec
        Their symbol.
    sessions
        How many sessions the monitor trades.
    kill_hold_bars
        How long the kill switch stays engaged.
    """

    def __init__(
        self, out: Path, bars: Bars, spec: SymbolSpec, sessions: int, kill_hold_bars: int = 24
    ) -> None:
        from mtponte.cli._demo_market import save_market

        days = bars.day
        uniq = np.unique(days)
        if len(uniq) < 2:
            raise MtponteError("the bridge demo needs at least two sessions")
        first = uniq[-min(sessions + 1, len(uniq))]
        self.bars = bars[int(np.searchsorted(days, first)) :]
        self.spec = spec
        self.kill_hold_bars = kill_hold_bars
        self.warm = int(np.searchsorted(self.bars.day, self.bars.day[0], side="right"))
        self.root = out / "bridge"
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.bdir, self.on_tmpfs = bridge_folder(self.root)
        market = self.root / "market.npz"
        save_market(self.bars, market)
        self.t_spawn = time.time()
        self.proc = spawn_market(self.bdir, market, self.warm, self.root / "executor.log")
        atexit.register(self.close)  # whatever way the demo ends, the child ends too

    def close(self) -> None:
        """Stop the executor process (idempotent); keep the bridge folder in ``out``."""
        from mtponte.cli._demo_market import write_step

        if self.proc.poll() is None:
            try:
                write_step(self.bdir, "stop")
                self.proc.wait(WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.on_tmpfs and self.bdir.exists():
            shutil.copytree(self.bdir, self.root / "mt5-files", dirs_exist_ok=True)
            shutil.rmtree(self.bdir, ignore_errors=True)

    def run(self, console: Console) -> dict[str, Any]:
        """Trade the sessions (see the module doc); return the summary (also written to
        ``out/bridge/summary.json``)."""
        try:
            return self._run(console)
        finally:
            self.close()

    def _run(self, console: Console) -> dict[str, Any]:
        from mtponte.bridge.fileio import BridgeDir
        from mtponte.cli.bridge import kill
        from mtponte.live.config import LiveConfig, RiskSection, RunnerSection
        from mtponte.live.pollfeeds import BridgeFeed
        from mtponte.live.replay import ReplayClock, timeframe_of

        bars, spec, warm, root, bdir, proc = (
            self.bars,
            self.spec,
            self.warm,
            self.root,
            self.bdir,
            self.proc,
        )
        n = len(bars)
        t_start = time.perf_counter()
        step = timedelta(seconds=timeframe_of(bars))
        clock = ReplayClock(bars.bar(warm - 1).time + step)

        def market_ms() -> int:
            return int(clock().timestamp() * 1000)

        def child() -> str | None:
            if proc.poll() is not None:
                tail = (root / "executor.log").read_text(encoding="utf-8", errors="replace")
                return f"the executor process exited ({proc.returncode}): {tail[-600:]}"
            return None

        dmon = BridgeDir(bdir)
        snapshot = dmon.state / f"bars-{spec.name}-M5.json"
        cfg = LiveConfig(
            runner=RunnerSection(mode="trade"),  # the executor says its paper account is a demo
            risk=RiskSection(kill_switch_file=dmon.kill_switch),
        )
        st = DashState(total=n - warm)
        per_day = max(1, (n - warm) // max(1, len(np.unique(bars.day)) - 1))
        kill_plan = _Kill(
            arm_at=warm + (n - warm) // 4,
            hold_bars=self.kill_hold_bars,
            max_hold_bars=per_day,
            last_bar=n - per_day,
        )
        try:
            wait_for(snapshot.exists, "the executor process did not publish its bars", child)
            # when the child published it, not when the conductor got here
            t_ready = snapshot.stat().st_mtime - self.t_spawn
            t_waited = time.perf_counter() - t_start
            broker = TimedBridge(bdir, timeout_s=10, clock=market_ms)
            feed = BridgeFeed(bdir, spec.name, "M5", poll_s=0.0005)
            journal = f"sqlite:///{(root / 'journal.sqlite').as_posix()}"
            dash = Dashboard(console, st, broker, spec)

            def on_start(runner: Runner, m: Any) -> None:
                def on_record(kind: str, values: dict[str, Any]) -> None:
                    if kind == "signal" and values["outcome"] == "refused: kill_switch":
                        kill_plan.refused += 1

                m.journal.listeners.append(on_record)
                st.runner = runner

            def after_bar(j: int) -> None:
                st.done, st.bar = j - warm + 1, bars.bar(j)
                _kill_step(j, st, kill_plan, bdir, dash, kill)
                dash.tick()

            run = conduct(
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
                root / "logs",
                "bridge",
                after_bar=after_bar,
                on_start=on_start,
                around=dash,
            )
        finally:
            self.close()
        wall = time.perf_counter() - t_start
        summary = _summarise(root, bars, spec, cfg.strategy, warm, run.runner, broker, kill_plan)
        summary.update(
            executor_pid=proc.pid,
            executor_exit=proc.returncode,
            executor_start_s=round(t_ready, 2),
            executor_waited_s=round(t_waited, 2),
            bridge_on_tmpfs=self.on_tmpfs,
            wall_s=round(wall, 2),
        )
        (root / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return summary


def _kill_step(
    j: int, st: DashState, plan: _Kill, bdir: Path, dash: Dashboard, kill: Callable[..., None]
) -> None:
    """After bar ``j`` of ``n``: pull the kill switch (``mtponte kill``) once the monitor
    holds a position, or release it (``mtponte kill --off``) once it has been engaged
    for ``hold_bars`` and the risk gate has refused an entry because of it (or after
    ``max_hold_bars``, or near the end: trading must resume before the run ends)."""
    r, bar = st.runner, st.bar
    assert r is not None and bar is not None
    if plan.on_bar is None and j >= plan.arm_at:
        late = j >= plan.arm_at + 3 * plan.max_hold_bars  # no position came: pull it anyway
        if r._held is not None or late:
            held = "" if r._held is None else f" while {dash._position()}"
            dash.note(
                f"[bold red]pulling the kill switch[/] after bar {bar.time:%Y-%m-%d %H:%M}{held}"
            )
            kill(bdir)
            plan.on_bar = j + 1
            st.kill = "[bold red]ENGAGED[/]: the executor flattens, the risk gate refuses entries"
    elif plan.on_bar is not None and plan.off_bar is None:
        held_for = j + 1 - plan.on_bar
        if (
            (held_for >= plan.hold_bars and plan.refused > 0)
            or held_for >= plan.max_hold_bars
            or j + 1 >= plan.last_bar
        ):
            dash.note(
                f"releasing the kill switch after bar {bar.time:%Y-%m-%d %H:%M} "
                f"({held_for} bars, {plural(plan.refused, 'entry', 'entries')} refused meanwhile)"
            )
            kill(bdir, off=True)
            plan.off_bar = j + 1
            st.kill = f"off (was engaged for {held_for} bars)"


def _summarise(
    root: Path,
    bars: Bars,
    spec: SymbolSpec,
    params: Any,
    warm: int,
    runner: Runner,
    broker: TimedBridge,
    plan: _Kill,
) -> dict[str, Any]:
    """Trades, identity with the backtest on the sessions the kill switch did not touch,
    latencies; the run's trades.csv, stats.json and report.html in ``root``."""
    from mtponte.backtest import run_backtest
    from mtponte.backtest.from_trades import result_of
    from mtponte.backtest.report import write_outputs

    zone = ZoneInfo(spec.timezone)
    n = len(bars)
    start = bars.bar(warm).time

    def day(t: datetime) -> Any:
        return t.astimezone(zone).date()

    # Sessions the kill switch touched: from the bar after which it was pulled to the
    # bar after which it was released (the whole of each session).
    touched: set[Any] = set()
    if plan.on_bar is not None:
        end = plan.off_bar if plan.off_bar is not None else n
        touched = {day(bars.bar(i).time) for i in range(plan.on_bar - 1, min(end, n))}
    sessions = sorted({day(bars.bar(i).time) for i in range(warm, n)})
    comparable = [d for d in sessions if d not in touched]
    backtest = [t for t in run_backtest(bars, spec, params).trades() if t.entry_time >= start]
    live = list(runner.trades)
    bt = sorted(_key(t) for t in backtest if day(t.entry_time) in comparable)
    lv = sorted(_key(t) for t in live if day(t.entry_time) in comparable)
    matched = 0
    rest = list(lv)
    for k in bt:
        if k in rest:
            rest.remove(k)
            matched += 1
    denom = max(len(bt), len(lv))
    identity = 100.0 if denom == 0 else 100.0 * matched / denom
    window = [
        t
        for t in live
        if plan.on_bar is not None
        and bars.bar(plan.on_bar).time <= t.entry_time
        and (plan.off_bar is None or t.entry_time < bars.bar(plan.off_bar).time)
    ]
    flat = [
        t
        for t in live
        if plan.on_bar is not None
        and t.exit_time == bars.bar(plan.on_bar).time
        and t.exit_reason == "flat"
    ]
    res = result_of(bars[warm:], spec, params, live)
    paths = write_outputs(res, root, {"data": "synthetic WIN M5 over the file bridge"})
    dec = list(runner.stats.latencies)
    rt = list(broker.round_trips)
    return {
        "bars": n - warm,
        "warm_up_bars": warm,
        "sessions": len(sessions),
        "live_trades": len(live),
        "backtest_trades": len(backtest),
        "comparable_sessions": len(comparable),
        "comparable_backtest_trades": len(bt),
        "comparable_live_trades": len(lv),
        "identity_pct": round(identity, 2),
        "kill_on": None if plan.on_bar is None else bars.bar(plan.on_bar - 1).time.isoformat(),
        "kill_off": None if plan.off_bar is None else bars.bar(plan.off_bar - 1).time.isoformat(),
        "kill_sessions": sorted(str(d) for d in touched),
        "kill_flattened": [
            {
                "entry": t.entry_time.isoformat(),
                "exit": t.exit_time.isoformat(),
                "price": t.exit_price,
            }
            for t in flat
        ],
        "entries_while_killed": len(window),
        "entries_refused_by_kill_switch": plan.refused,
        "net_money": round(sum(t.pnl_money for t in live), 2),
        "decision_p50_ms": pct_ms(dec, 0.5),
        "decision_p99_ms": pct_ms(dec, 0.99),
        "bridge_p50_ms": pct_ms(rt, 0.5),
        "bridge_p99_ms": pct_ms(rt, 0.99),
        "bridge_commands": len(rt),
        "journal": str(root / "journal.sqlite"),
        "paths": {k: str(v) for k, v in paths.items()},
    }


def bridge_demo(demo: BridgeDemo, console: Console) -> bool:
    """Run the bridge part of ``mtponte demo`` and print its table; return whether
    everything checked out (executor process, kill switch, identity)."""
    s = demo.run(console)
    t = Table(
        title=f"The real system: monitor ⇄ file bridge ⇄ executor process (pid {s['executor_pid']})"
    )
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row(
        "bars traded", f"{s['bars']:,} in {s['sessions']} sessions (+{s['warm_up_bars']} warm-up)"
    )
    t.add_row("trades", f"{s['live_trades']} live, net {s['net_money']:,.2f}")
    kill_ok = s["kill_on"] is not None and s["kill_off"] is not None
    t.add_row(
        "kill switch",
        (
            f"pulled after {s['kill_on']}, released after {s['kill_off']}; "
            f"{plural(len(s['kill_flattened']), 'position', 'positions')} flattened by the "
            f"executor; {plural(s['entries_refused_by_kill_switch'], 'entry', 'entries')} "
            "refused by the risk gate and "
            f"{s['entries_while_killed']} taken while engaged"
        )
        if kill_ok
        else "[red]not pulled and released[/]",
    )
    same = s["identity_pct"] == 100.0
    t.add_row(
        "identity with the backtest",
        f"[{'green' if same else 'red'}]{s['identity_pct']:.1f}%[/] "
        f"({s['comparable_live_trades']} live vs {s['comparable_backtest_trades']} backtest trades "
        f"in the {s['comparable_sessions']} sessions the kill switch did not touch; "
        f"the kill-switch session(s) {', '.join(s['kill_sessions']) or '-'} excluded)",
    )
    t.add_row(
        "decision latency",
        f"p50 {fmt_ms(s['decision_p50_ms'])} ms, p99 {fmt_ms(s['decision_p99_ms'])} ms "
        "(closed bar in → order acknowledged)",
    )
    t.add_row(
        "bridge round trip",
        f"p50 {fmt_ms(s['bridge_p50_ms'])} ms, p99 {fmt_ms(s['bridge_p99_ms'])} ms "
        f"({s['bridge_commands']} commands, file written → result read)",
    )
    t.add_row(
        "wall time",
        f"{s['wall_s']:.1f} s (the executor process, started before the backtest, was ready "
        f"{s['executor_start_s']:.1f} s later; waited {s['executor_waited_s']:.1f} s for it "
        "here)",
    )
    console.print(t)
    root = demo.root
    console.print(
        f"journal: {s['journal']} | report: {s['paths'].get('report', '')} | "
        f"bridge folder, executor journal and paper account: {root / 'mt5-files'} | "
        f"executor log: {root / 'executor.log'}"
        + (
            " (the bridge folder was on a RAM disk during the run: every snapshot is a"
            " rename, ~3 ms each on this disk)"
            if s["bridge_on_tmpfs"]
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )
    ok = kill_ok and same and s["entries_while_killed"] == 0 and s["executor_exit"] == 0
    if not ok:
        console.print("[red]the bridge run did not check out[/]")
    return ok
