"""`mtponte.live.realtime.mt5_module`: the test-only stand-in for MetaTrader5."""

from __future__ import annotations

import pytest

from mtponte.errors import ConfigError
from mtponte.live.realtime import mt5_module


def test_unset_means_the_real_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MTPONTE_MT5_MODULE", raising=False)
    assert mt5_module() is None


@pytest.mark.parametrize("value", ["nocolon", "mtponte.nowhere:f", "mtponte.errors:nothing"])
def test_a_bad_target_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MTPONTE_MT5_MODULE", value)
    with pytest.raises(ConfigError, match="MTPONTE_MT5_MODULE"):
        mt5_module()


def test_the_factory_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTPONTE_MT5_MODULE", "collections:OrderedDict")
    assert mt5_module() == {}


class _QuietFeed:
    """A polled feed with no bars: three polls, then stop."""

    def __init__(self) -> None:
        self.history: list[object] = []
        self.notes: list[str] = []
        self.waits = 0

    def poll(self) -> list[object]:
        return []

    def wait(self, stop: object) -> bool:
        self.waits += 1
        return self.waits > 3


def test_the_loop_lets_the_runner_settle_unknown_commands_between_bars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every poll without a new bar calls ``Runner.idle()`` (a lost entry's levels then
    move to its fill at once; see tests/live/test_runner.py)."""
    import threading

    from mtponte.brokers.paper import PaperBroker
    from mtponte.domain import WIN
    from mtponte.live.config import LiveConfig, RiskSection
    from mtponte.live.realtime import run_polled
    from mtponte.live.runner import Runner

    calls: list[int] = []
    monkeypatch.setattr(Runner, "idle", lambda self: calls.append(1))
    cfg = LiveConfig(risk=RiskSection(kill_switch_file=None))
    feed = _QuietFeed()
    broker = PaperBroker(symbols=[WIN])
    run_polled(feed, WIN, cfg, broker, 300, threading.Event())  # type: ignore[arg-type]
    assert len(calls) == 3
