"""The alerts hook of the monitor: journal records in, :class:`Alert` s out.

The runner records every signal (with the risk decisions), fill, trade and command
outcome in the journal; :class:`JournalAlerts` listens to those records
(:attr:`Journal.listeners`) and emits the matching alert, so the runner itself has no
alerts code. What the journal does not see is checked once per bar by
:meth:`JournalAlerts.on_bar` (the kill-switch file appearing or going). Usage::

    manager = build_manager(cfg.alerts)
    hook = JournalAlerts(manager, cfg)
    journal.listeners.append(hook)
    ... replay_paper(..., on_event=lambda ev: hook.on_bar())
    manager.close()

Emitting never blocks (the manager sends from its own threads).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtponte.alerts.events import Alert, AlertKind
from mtponte.alerts.manager import AlertManager
from mtponte.live.config import LiveConfig

log = logging.getLogger("mtponte.live")


class JournalAlerts:
    """Turn journal records into alerts.

    Parameters
    ----------
    manager
        Where alerts go.
    cfg
        The monitor's configuration (symbol, kill-switch file).
    """

    def __init__(self, manager: AlertManager, cfg: LiveConfig) -> None:
        self.manager = manager
        self.symbol = cfg.trade_symbol or cfg.symbol
        self.kill_file = cfg.risk.kill_switch_file
        self._kill = self._kill_on()
        self._toggles = 0

    def _kill_on(self) -> bool:
        return self.kill_file is not None and self.kill_file.exists()

    def __call__(self, kind: str, values: dict[str, Any]) -> None:
        """A journal record (see :attr:`mtponte.live.journal.Journal.listeners`)."""
        try:
            alert = self._alert(kind, values)
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            log.error("alerts hook: cannot read a %s record: %s", kind, exc)
            return
        if alert is not None:
            self.manager.emit(alert)

    def _alert(self, kind: str, v: dict[str, Any]) -> Alert | None:
        sym = self.symbol
        if kind == "signal":
            sig, outcome = v["signal"], str(v["outcome"])
            side, when = sig.side.name.lower(), sig.bar_time.isoformat()
            if outcome.startswith("refused: "):
                rule = outcome.removeprefix("refused: ")
                reason = next((d.reason for d in v["decisions"] if d.rule == rule), "")
                fields = {"side": side, "symbol": sym, "rule": rule, "reason": reason}
                if rule == "daily_loss":
                    return Alert(AlertKind.DAILY_LOSS, fields, key=f"{sym}:{when[:10]}")
                if rule == "kill_switch":
                    return None  # reported once by on_bar, not per refused signal
                return Alert(AlertKind.REJECTION, fields, key=f"{sym}:{when}:{rule}")
            if outcome in ("sent", "log_only"):
                fields = {"side": side, "kind": sig.kind.value, "symbol": sym, "bar_time": when}
                return Alert(AlertKind.SIGNAL, fields, key=f"{sym}:{when}:{side}")
            return None
        if kind == "fill" and v["entry"] == "in":
            fields = {k: v[k] for k in ("side", "volume", "price", "tag")}
            return Alert(AlertKind.FILL, {**fields, "symbol": sym}, key=f"{v['tag']}:in")
        if kind == "trade":
            t = v["trade"]
            fields = {
                "symbol": sym,
                "reason": t.exit_reason.value,
                "price": t.exit_price,
                "pnl": f"{t.pnl_money:.2f}",
            }
            return Alert(AlertKind.EXIT, fields, key=f"{v['tag']}:out")
        if kind == "alert" and v["alert"] == "guard_tripped":
            # The daily guard: live diverges from the backtest; close-only until reset.
            fields = {"detail": str(v["message"])}
            return Alert(AlertKind.DIVERGENCE, fields, key=str(v["message"])[:120])
        if kind == "command_result" and v["state"] in ("unknown", "lost"):
            fields = {"command": v["cid"][:8], "state": v["state"], "reason": v["message"]}
            return Alert(AlertKind.COMMAND_UNANSWERED, fields, key=f"{v['cid']}:{v['state']}")
        return None

    def on_bar(self, *_args: object) -> None:
        """Once per bar: report the kill-switch file appearing or going away."""
        on = self._kill_on()
        if on != self._kill:
            self._kill = on
            self._toggles += 1
            fields = {"state": "ON" if on else "off", "where": str(self.kill_file)}
            self.manager.emit(Alert(AlertKind.KILL_SWITCH, fields, key=str(self._toggles)))


class MonitorAlerts:
    """Everything the monitor needs for alerts, started and stopped together.

    Builds the manager from ``cfg.alerts``, listens to ``journal``, and once the runner
    exists (:meth:`on_start`) obeys Telegram commands when ``alerts.telegram.commands``
    is on: ``/status`` (bars, trades, position, mode), ``/pause`` and ``/resume``
    (stop/restart sending entries: the runner's log-only switch), ``/kill`` (after
    confirmation, creates the kill-switch file: the position is closed at the next bar
    and entries are refused).

    Parameters
    ----------
    cfg
        The monitor's configuration.
    journal
        The run's journal (``None``: only the kill-switch check and commands).
    logs_dir
        Where a relative ``alerts.history_file`` goes (default ``journal.logs_dir``).
    """

    def __init__(self, cfg: LiveConfig, journal: Any | None, logs_dir: Path | None = None) -> None:
        from mtponte.alerts.manager import build_manager

        self.cfg = cfg
        self.manager = build_manager(cfg.alerts, logs_dir=logs_dir or cfg.journal.logs_dir)
        self.hook = JournalAlerts(self.manager, cfg)
        self.journal = journal
        if journal is not None:
            journal.listeners.append(self.hook)
        self.commands: Any = None
        self.watch = HealthWatch(self.manager, cfg)
        self.watch.start()

    def on_start(self, runner: Any) -> None:
        """The runner exists: start the Telegram commands, if configured."""
        # The feed-stall clock starts now: connecting, warming up and reconciling took
        # time in which no bar was due.
        self.watch.bar_seen()
        tg = self.cfg.alerts.telegram
        if tg is None or not tg.commands:
            return
        from mtponte.alerts.telegram import CommandHandlers, TelegramCommands, TelegramNotifier

        kill_file = self.cfg.risk.kill_switch_file

        def status() -> str:
            held = "flat" if runner._held is None else f"holding {runner._held.ticket}"
            mode = "trade" if runner.trading else "log_only/paused"
            return (
                f"{runner.symbol}: {runner.stats.bars} bars, {len(runner.trades)} trades, "
                f"{held}, mode {mode}, kill switch {'ON' if runner.kill_switch() else 'off'}"
            )

        def pause() -> str:
            runner.trading = False
            log.warning("paused from Telegram: no new entries")
            return "paused: no new entries (positions keep their SL/TP)"

        def resume() -> str:
            runner.trading = runner.cfg.runner.mode == "trade"
            log.warning("resumed from Telegram")
            return "resumed" if runner.trading else "runner.mode is log_only: nothing to resume"

        def kill() -> str:
            if kill_file is None:
                return "no risk.kill_switch_file configured"
            kill_file.parent.mkdir(parents=True, exist_ok=True)
            kill_file.write_text("telegram /kill\n", encoding="utf-8")
            log.critical("kill switch pulled from Telegram (%s)", kill_file)
            return f"KILL SWITCH ON ({kill_file})"

        notifier = TelegramNotifier(tg)
        self.commands = TelegramCommands(
            notifier, CommandHandlers(status, pause, resume, kill), self.cfg.alerts.language
        )
        self.commands.start()

    def on_bar(self, *_args: object) -> None:
        """Once per bar (see :meth:`JournalAlerts.on_bar`); the kill switch going on or
        off is also a journal row (``kill_switch_on`` / ``kill_switch_off``)."""
        was = self.hook._kill
        self.hook.on_bar()
        if self.journal is not None and self.hook._kill != was:
            on = self.hook._kill
            self.journal.alert(
                "kill_switch_on" if on else "kill_switch_off",
                f"kill switch {'ON' if on else 'off'}",
                {"where": str(self.hook.kill_file)},
            )
        self.watch.bar_seen()

    def close(self) -> None:
        """Stop the commands and the health checks, send what is queued, stop the
        manager."""
        self.watch.stop()
        if self.commands is not None:
            self.commands.stop()
            self.commands.notifier.close()
        if self.journal is not None and self.hook in self.journal.listeners:
            self.journal.listeners.remove(self.hook)
        self.manager.close()


class HealthWatch:
    """Background checks that do not wait for a bar: the EA's heartbeat
    (``state/heartbeat.json`` of the bridge folder) older than ``alerts.ea_stale_s``,
    and no bar for ``alerts.feed_stall_s``. Each raises its alert once per episode (again
    after it recovered), and a ``*_resumed`` alert when it recovers.

    Parameters
    ----------
    manager
        Where alerts go.
    cfg
        The monitor's configuration.
    clock
        Epoch seconds (tests).
    """

    def __init__(
        self, manager: AlertManager, cfg: LiveConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.manager = manager
        self.a = cfg.alerts
        bridge = cfg.broker.bridge_dir or cfg.feed.bridge_dir
        self.heartbeat = None if bridge is None else bridge / "state" / "heartbeat.json"
        self._clock = clock
        self._last_bar = clock()
        self._ea_bad = self._feed_bad = False
        self._ea_since = self._feed_since = 0.0
        self._episodes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def bar_seen(self) -> None:
        """A bar arrived (the feed is alive)."""
        self._last_bar = self._clock()

    def ea_age(self) -> float | None:
        """Seconds since the EA's last heartbeat (``None``: no bridge, or none yet)."""
        if self.heartbeat is None:
            return None
        # "now" before the read: a check delayed while the EA rewrites its heartbeat can
        # only under-estimate the age, never raise a false alarm
        now = self._clock()
        try:
            t = json.loads(self.heartbeat.read_text(encoding="utf-8"))["time"] / 1000
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return now - float(t)

    def check(self) -> None:
        """Run both checks once: an alert when one goes bad, another when it recovers."""
        age = self.ea_age()
        bad = age is not None and age > self.a.ea_stale_s
        if bad and not self._ea_bad:
            self._episodes += 1
            self._ea_since = self._clock()
            fields = {"age_s": f"{age:.0f}", "where": str(self.heartbeat)}
            self.manager.emit(Alert(AlertKind.EA_STALE, fields, key=str(self._episodes)))
        elif self._ea_bad and not bad and age is not None:
            fields = {
                "age_s": f"{self._clock() - self._ea_since:.0f}",
                "where": str(self.heartbeat),
            }
            self.manager.emit(Alert(AlertKind.EA_RESUMED, fields, key=str(self._episodes)))
        self._ea_bad = bad if age is not None else self._ea_bad
        if self.a.feed_stall_s is not None:
            idle = self._clock() - self._last_bar
            bad = idle > self.a.feed_stall_s
            if bad and not self._feed_bad:
                self._episodes += 1
                self._feed_since = self._last_bar
                fields = {"age_s": f"{idle:.0f}", "where": "feed"}
                self.manager.emit(Alert(AlertKind.FEED_STALLED, fields, key=str(self._episodes)))
            elif self._feed_bad and not bad:
                fields = {"age_s": f"{self._last_bar - self._feed_since:.0f}", "where": "feed"}
                self.manager.emit(Alert(AlertKind.FEED_RESUMED, fields, key=str(self._episodes)))
            self._feed_bad = bad

    def start(self) -> None:
        """Check every ``alerts.watch_every_s`` in a daemon thread (only when there is
        something to watch)."""
        if self.heartbeat is None and self.a.feed_stall_s is None:
            return
        self._thread = threading.Thread(target=self._run, name="alerts-health", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.a.watch_every_s):
            try:
                self.check()
            except OSError as exc:
                log.error("health check: %s", exc)

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
