"""Shared fixtures. Tests that need ``../shared`` skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from mtponte.domain import Bars

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With ``MTPONTE_FAIL_ON_SKIP=1`` (CI sets it) a skipped test fails: the tests that
    need PostgreSQL, Redis, Chromium or ../shared must run there, never skip quietly."""
    report = yield
    if report.skipped and os.environ.get("MTPONTE_FAIL_ON_SKIP") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (MTPONTE_FAIL_ON_SKIP=1): {reason}"
    return report


SHARED = Path(__file__).resolve().parents[2] / "shared"
WIN_H1 = SHARED / "data" / "WIN_H1_mt5_export.csv"


@pytest.fixture(scope="session")
def win_h1_path() -> Path:
    if not WIN_H1.is_file():
        pytest.skip(
            f"real WIN H1 export not found at {WIN_H1} (../shared is absent in a fresh clone)"
        )
    return WIN_H1


@pytest.fixture(scope="session")
def win_h1(win_h1_path: Path) -> Bars:
    from mtponte.data import load_bars

    return load_bars(win_h1_path)


@pytest.fixture(scope="session")
def synth_bars() -> Bars:
    from mtponte.data import synth_win

    return synth_win(days=120, seed=11)


def make_bars(
    rows: list[tuple[str, float, float, float, float, float]], timezone: str = "America/Sao_Paulo"
) -> Bars:
    """Bars from ``(local 'YYYY-MM-DD HH:MM', o, h, l, c, volume)`` rows."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    t = np.array(
        [
            int(datetime.strptime(r[0], "%Y-%m-%d %H:%M").replace(tzinfo=tz).timestamp())
            for r in rows
        ],
        dtype=np.int64,
    )
    col = np.array([r[1:] for r in rows], dtype=float).reshape(len(rows), 5)
    return Bars(
        time=t,
        open=col[:, 0],
        high=col[:, 1],
        low=col[:, 2],
        close=col[:, 3],
        tick_volume=col[:, 4],
        real_volume=col[:, 4],
        timezone=timezone,
    )
