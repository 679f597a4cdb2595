from __future__ import annotations

import json
import threading

from typer.testing import CliRunner

from mtponte.bridge import Executor, ExecutorLimits
from mtponte.brokers.paper import PaperBroker
from mtponte.cli import app

runner = CliRunner()


def test_send_status_kill(tmp_path):
    broker = PaperBroker(tmp_path / "paper.sqlite")
    broker.set_quote("WIN", 120_000, 120_005)
    ex = Executor(tmp_path, broker, ExecutorLimits(dead_man_ms=10_000))
    stop = threading.Event()
    th = threading.Thread(target=ex.run, args=(stop,), daemon=True)
    th.start()
    try:
        res = runner.invoke(
            app,
            [
                "bridge",
                "send",
                "--dir",
                str(tmp_path),
                "open",
                "--symbol",
                "WIN",
                "--side",
                "buy",
                "--volume",
                "1",
                "--sl",
                "119000",
            ],
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["status"] == "filled"
        ex.write_state()
        res = runner.invoke(app, ["bridge", "status", "--dir", str(tmp_path)])
        assert res.exit_code == 0 and "positions" in res.output and "mtp:" in res.output
        res = runner.invoke(app, ["kill", "--dir", str(tmp_path)])
        assert res.exit_code == 0 and (tmp_path / "KILL_SWITCH").exists()
        res = runner.invoke(app, ["bridge", "send", "--dir", str(tmp_path), "ping"])
        assert json.loads(res.stdout)["reason"] == "kill_switch"
        assert broker.positions() == []
        assert runner.invoke(app, ["kill", "--dir", str(tmp_path), "--off"]).exit_code == 0
        assert not (tmp_path / "KILL_SWITCH").exists()
    finally:
        stop.set()
        th.join(timeout=5)


def test_bad_command_is_one_line(tmp_path):
    res = runner.invoke(app, ["bridge", "send", "--dir", str(tmp_path), "open", "--symbol", "WIN"])
    assert res.exit_code == 2
    assert "open needs side, volume" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["bridge", "status", "--dir", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not a bridge folder" in res.output
    res = runner.invoke(app, ["bridge", "serve", "--dir", str(tmp_path), "--quote", "WIN"])
    assert res.exit_code == 2 and "--quote expects" in res.output
