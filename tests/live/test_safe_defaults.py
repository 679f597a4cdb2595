"""Safe by default: a configuration that says nothing sends nothing and refuses a
real account (the seed's "teste em vazio")."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from mtponte.brokers.base import Broker
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.config import load_config
from mtponte.live.journal import open_journal
from mtponte.live.journal.models import CommandRow, SignalRow
from mtponte.live.replay import replay_paper
from mtponte.live.runner import Runner
from mtponte.live.state import LiveError


def test_an_empty_config_file_is_log_only_and_sends_no_order(tmp_path: Path) -> None:
    f = tmp_path / "live.toml"
    f.write_text("[risk]\nkill_switch_file = 'none-here'\n", encoding="utf-8")
    cfg = load_config(f)
    j = open_journal(f"sqlite:///{(tmp_path / 'j.sqlite').as_posix()}")
    j.start_run(cfg.runner.mode, "paper", "replay", "WIN", {})
    try:
        run = replay_paper(synth_win(days=10, seed=9), WIN, cfg, j)
        assert run.trades == [] and run.broker.deals() == []
        assert j.count(CommandRow) == 0 and j.count(SignalRow) > 0
    finally:
        j.close()


def test_an_empty_config_refuses_an_account_not_known_to_be_demo(tmp_path: Path) -> None:
    f = tmp_path / "live.toml"
    f.write_text("", encoding="utf-8")
    broker = mock.Mock(spec=Broker)
    broker.positions.return_value = []
    broker.orders.return_value = []
    with pytest.raises(LiveError, match="allow_real_account"):
        Runner(load_config(f), WIN, broker, 300).start()
    broker.market_order.assert_not_called()


@pytest.mark.parametrize("real", [False, True])
def test_a_metatrader5_demo_account_needs_no_arming_a_real_one_does(
    tmp_path: Path, real: bool
) -> None:
    from mtponte.brokers import _mt5api as k
    from tests.brokers.test_mt5 import Rig

    rig = Rig()
    if real:
        rig.sim.trade_mode = k.ACCOUNT_TRADE_MODE_REAL
    f = tmp_path / "live.toml"
    f.write_text("", encoding="utf-8")
    runner = Runner(load_config(f), WIN, rig.broker, 300)
    if real:
        with pytest.raises(LiveError, match="allow_real_account"):
            runner.start()
        armed = tmp_path / "armed.toml"
        armed.write_text("[runner]\nallow_real_account = true\n", encoding="utf-8")
        Runner(load_config(armed), WIN, rig.broker, 300).start()
    else:
        runner.start()
