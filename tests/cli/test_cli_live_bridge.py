"""``mtponte live`` on the bridge feed in real time: the EA's closed bars (here the
Python executor's, on a paper account a thread moves bar by bar), orders through the
bridge, stopped after --seconds with the account left as it is."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from mtponte.bridge.executor import Executor
from mtponte.brokers.paper import PaperBroker
from mtponte.cli import app
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.live.journal.models import BarSeen
from mtponte.live.journal.store import make_engine

runner = CliRunner()


def test_live_on_the_bridge_feed_runs_and_stops(tmp_path: Path) -> None:
    bars = synth_win(days=3, seed=2)
    root = tmp_path / "bridge"
    paper = PaperBroker(symbols=[WIN], account_mode="netting")
    ex = Executor(root, paper)
    ex.bar_subscriptions = (("WIN", "M5"),)
    for i in range(40):
        paper.on_bar("WIN", bars.bar(i))
    paper.set_quote("WIN", bars.bar(40).open)
    ex.write_state()
    stop = threading.Event()

    def market() -> None:  # a new bar every 50 ms; the executor serves the inbox
        j = 40
        while not stop.is_set() and j < len(bars):
            paper.on_bar("WIN", bars.bar(j))
            ex.write_state()
            j += 1
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.05:
                ex.process_inbox()
                time.sleep(0.005)

    th = threading.Thread(target=market, daemon=True)
    th.start()
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        '[runner]\nmode = "log_only"\nallow_real_account = true\n'
        f'[feed]\nkind = "bridge"\ntimeframe = "M5"\nbridge_dir = "{root.as_posix()}"\n'
        "poll_s = 0.01\n"
        f'[broker]\nkind = "bridge"\nbridge_dir = "{root.as_posix()}"\n'
        "[risk]\nmax_signal_age_s = 100000000\n",
        encoding="utf-8",
    )
    try:
        res = runner.invoke(app, ["live", "--config", str(cfg), "--seconds", "1.5"])
    finally:
        stop.set()
        th.join(5)
    assert res.exit_code == 0, res.output
    assert "stopped after" in res.output
    n = int(res.output.split("stopped after ")[1].split()[0])
    assert n >= 5  # bars handled in real time, after the warm-up
    engine = make_engine(f"sqlite:///{(tmp_path / 'state' / 'journal.sqlite').as_posix()}")
    with engine.connect() as conn:
        seen = conn.execute(BarSeen.__table__.select()).all()
    engine.dispose()
    assert len(seen) == n
