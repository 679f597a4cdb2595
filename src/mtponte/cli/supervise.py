"""``mtponte supervise -- <command...>``: the watchdog."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from mtponte.cli._common import run_safely, setup_logging


def supervise(
    command: Annotated[
        list[str], typer.Argument(help="The command to run, after -- (e.g. mtponte live ...).")
    ],
    max_restarts: Annotated[
        int, typer.Option(min=0, help="Give up after this many restarts within --window.")
    ] = 5,
    window: Annotated[float, typer.Option(min=1, help="Seconds of --max-restarts.")] = 600.0,
    heartbeat: Annotated[
        Path | None,
        typer.Option(help="File the child touches while healthy (runner.heartbeat_file)."),
    ] = None,
    stale_after: Annotated[
        float, typer.Option(min=0.1, help="Restart when --heartbeat is older than this (s).")
    ] = 120.0,
    backoff: Annotated[float, typer.Option(min=0, help="First wait before a restart (s).")] = 1.0,
    backoff_cap: Annotated[float, typer.Option(min=0, help="Longest wait (s).")] = 60.0,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds between asking the child to stop and killing it.")
    ] = 10.0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file whose [alerts] section says where restart alerts go "
            "(the monitor's configuration: they join its alert history).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run COMMAND and keep it running: restart it when it crashes or its --heartbeat
    file goes stale (killing its process tree first), with capped exponential backoff;
    alert on every restart; give up (exit 1, with an alert) after --max-restarts
    restarts within --window seconds. Exits 0 when the command exits 0. Ctrl-C stops
    the command cleanly."""

    def body() -> int:
        from mtponte.alerts.config import load_alerts_config
        from mtponte.alerts.manager import build_manager
        from mtponte.errors import ConfigError
        from mtponte.ops.supervisor import Supervisor, SupervisorPolicy

        setup_logging(verbose)
        if config is not None and not config.is_file():
            raise ConfigError(f"config file {config} not found")
        policy = SupervisorPolicy(
            max_restarts=max_restarts,
            window_s=window,
            heartbeat=heartbeat,
            stale_after_s=stale_after,
            backoff_s=backoff,
            backoff_cap_s=backoff_cap,
            grace_s=grace,
        )
        logs = None if config is None else config.parent / _logs_dir(config)
        manager = build_manager(load_alerts_config(config), logs_dir=logs)
        sup = Supervisor(command, policy, manager)
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, lambda *_: sup.stop())  # a service manager's stop
        try:
            return sup.run()
        finally:
            manager.close()

    code = run_safely(body)
    if code:
        raise typer.Exit(code)


def _logs_dir(config: Path) -> str:
    """The ``journal.logs_dir`` of a monitor configuration (restart alerts join the
    monitor's alert history, which ``mtponte status`` shows)."""
    import tomllib

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return "logs"
    return str(data.get("journal", {}).get("logs_dir", "logs"))
