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
