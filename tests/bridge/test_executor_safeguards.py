"""Executor safeguards the test audit found unexercised: the kill switch with only a
pending order (B6) and the trading-hours window on a fake clock (B7)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from mtponte.bridge import ExecutorLimits, Reason, Status
from mtponte.bridge.fileio import now_ms
from tests.bridge.conftest import Rig


def test_b6_kill_switch_cancels_a_pending_order_when_flat(rig):
    placed = rig.send(
        "place",
        symbol="WIN",
        side="buy",
        order_type="stop",
        price=120_500.0,
        volume=1,
        sl=120_000.0,
        expiry=now_ms() + 60_000,
    )
    assert placed.status is Status.FILLED and rig.broker.orders()
    assert rig.broker.positions() == []
    (rig.root / "KILL_SWITCH").write_text("now")
    rig.ex.process_inbox()
    assert rig.broker.orders() == []  # a pending stop can no longer fill after KILL
    assert rig.open().reason is Reason.KILL_SWITCH


def _at(local: str) -> int:
    """Epoch ms of today's ``local`` São Paulo wall time."""
    zone = ZoneInfo("America/Sao_Paulo")
    day = datetime.now(zone).date()
    hh, mm = map(int, local.split(":"))
    return int(datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone).timestamp() * 1000)


def test_b7_entries_only_inside_the_trading_window(tmp_path):
    limits = ExecutorLimits(dead_man_ms=0, trading_start=time(9, 15), trading_end=time(11, 0))
    for local, ok in (("09:14", False), ("09:15", True), ("11:00", True), ("11:01", False)):
        r = Rig(tmp_path / local.replace(":", ""), limits)
        at = _at(local)
        r.ex.clock = lambda at=at: at
        cmd = r.client.command(
            "open", symbol="WIN", side="buy", volume=1, sl=119_000.0, tp=121_000.0
        )
        r.client.send(cmd.model_copy(update={"created_at": at}))
        r.ex.process_inbox()
        res = r.client.result(cmd.id)
        if ok:
            assert res.status is Status.FILLED, (local, res)
        else:
            assert res.reason is Reason.OUTSIDE_TRADING_HOURS, (local, res)
            assert r.broker.deals() == []
        r.ex.close()
        r.client.close()
        r.broker.close()


def test_b3_check_command_refuses_an_expired_command_itself(rig):
    """The receipt check on its own (the executor's re-check before sending would
    otherwise hide a missing one): expired means refused, with how long ago."""
    from mtponte.bridge.checks import check_command

    cmd = rig.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    cmd = cmd.model_copy(update={"created_at": now_ms() - 60_000, "ttl_ms": 1_000})
    ctx = rig.ex.context()
    rejection = check_command(cmd, ctx, rig.ex.limits)
    assert rejection is not None and rejection[0] is Reason.EXPIRED, rejection
    assert rejection[1] == f"expired {ctx.now_ms - cmd.expires_at()} ms ago"
    fresh = cmd.model_copy(update={"created_at": ctx.now_ms})
    assert check_command(fresh, ctx, rig.ex.limits) is None
