"""``mql5/Scripts/MtponteProbe.mq5`` (the one-off broker probe of issue 16) compiled
against the harness and run on simulated accounts: it reports every fact the EA depends
on and leaves nothing behind (its one tagged pending order is cancelled)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.mql5 import _harness as h

PROBE = h.MQL5 / "Scripts" / "MtponteProbe.mq5"


@pytest.fixture(scope="module")
def probe_exe() -> Path:
    return h.build(source=PROBE)


def run(exe: Path, sandbox: Path, account: h.Account, inputs: dict[str, str]) -> str:
    sandbox.mkdir(parents=True)
    (sandbox / "terminal.tsv").write_text(account.text(), encoding="utf-8")
    cfg = sandbox / "probe.cfg"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in inputs.items()))
    subprocess.run([str(exe), str(sandbox), str(cfg)], check=True, capture_output=True, timeout=30)
    return (sandbox / "MQL5" / "Files" / "mtponte" / "probe.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("rewrite", "kept"),
    [("", "comment_kept_live true"), ("truncate:12", "comment_kept_live false")],
)
def test_probe_reports_the_broker_facts_and_cleans_up(probe_exe, tmp_path, rewrite, kept):
    account = h.Account(
        margin_mode=h.NETTING,
        server_offset_s=-10_800,
        comment_rewrite=rewrite,
        symbols=[h.SymbolSpec(name="WINZ25", filling=0, expiration=3)],
    )
    out = run(probe_exe, tmp_path / "sb", account, {"ProbeSymbol": "WINZ25"})
    for fact in (
        "margin_mode exchange",
        "server_offset_s -10800 rounded_15min -10800",
        "symbol WINZ25 exemode exchange",
        "filling none",
        "expiration gtc day",
        "order_mode market limit stop sl tp closeby",
        "tick_size 5 digits 0",
        "lots min 1.00 step 1.00 max 100.00",
        "place sent true retcode 10009",
        kept,
        "cancel sent true retcode 10009",
        "probe done",
    ):
        assert fact in out, (fact, out)
    term = h.read_terminal(tmp_path / "sb")
    assert "order" not in term and "deal" not in term  # nothing left, nothing traded
    (horder,) = term["horder"]
    assert horder[5] == "2" and horder[10].startswith("mtp:probe"[: 12 if rewrite else 9])


def test_probe_without_the_test_order_sends_nothing(probe_exe, tmp_path):
    out = run(probe_exe, tmp_path / "sb", h.Account(), {"PlaceTestOrder": "false"})
    assert "margin_mode hedging" in out and "place sent" not in out
    assert h.read_terminal(tmp_path / "sb")["requests"] == [["0"]]
