"""Shared CLI helpers: error handling, data loading with a progress display."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from mtponte.errors import ConfigError, MtponteError

if TYPE_CHECKING:
    from rich.progress import Progress

    from mtponte.domain.bars import Bars
    from mtponte.domain.symbols import SymbolSpec

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("mtponte")
T = TypeVar("T")

TIMEFRAMES = {
    "M1": 60,
    "M2": 120,
    "M3": 180,
    "M5": 300,
    "M10": 600,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H2": 7200,
    "H4": 14400,
    "D1": 86400,
}


def run_safely(fn: Callable[[], T]) -> T:
    """Run a command body; a :class:`MtponteError` becomes one line on stderr, exit 2."""
    try:
        return fn()
    except MtponteError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        err_console.print(
            f"[bold red]error:[/] {exc.strerror or exc}: {exc.filename or ''}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@contextmanager
def progress() -> Iterator[Progress]:
    """A rich progress display (on stderr, so piped stdout stays clean)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as p:
        yield p


def resolve_symbol(name: str, timezone: str | None, server_timezone: str | None) -> SymbolSpec:
    from mtponte.domain.symbols import get_symbol

    spec = get_symbol(name)
    if timezone:
        spec = replace(spec, timezone=timezone)
    if server_timezone:
        spec = replace(spec, server_timezone=server_timezone)
    return spec


def check_timeframe(bars: Bars, timeframe: str | None) -> None:
    """Validate ``timeframe`` and warn when the data's bar spacing does not match it."""
    if timeframe is None:
        return
    tf = timeframe.upper()
    if tf not in TIMEFRAMES:
        raise ConfigError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}")
    secs = TIMEFRAMES[tf]
    if len(bars) > 1 and tf != "D1":
        import numpy as np

        step = int(np.median(np.diff(bars.time)))
        if step != secs:
            err_console.print(
                f"[yellow]warning:[/] --timeframe {tf} is {secs}s but the data's "
                f"typical bar spacing is {step}s"
            )


def load_data(path: Path, spec: SymbolSpec, fmt: str, dayfirst: bool) -> Bars:
    from mtponte.data.loaders import load_bars

    with progress() as p:
        task = p.add_task(f"loading {path.name}", total=None)
        bars = load_bars(
            path,
            timezone=spec.timezone,
            server_timezone=spec.server_timezone,
            fmt=fmt,
            dayfirst=dayfirst,
        )
        p.update(task, total=1, completed=1)
    if len(bars) == 0:
        raise ConfigError(f"{path}: no bars")
    return bars


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
    )


@contextmanager
def stop_on_signals(seconds: float | None = None) -> Iterator[threading.Event]:
    """An event set by Ctrl-C, SIGTERM or after ``seconds``; handlers restored on exit."""
    stop = threading.Event()
    old: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, lambda *_: stop.set())
    timer = threading.Timer(seconds, stop.set) if seconds is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield stop
    finally:
        if timer is not None:
            timer.cancel()
        for sig, handler in old.items():
            signal.signal(sig, handler)
