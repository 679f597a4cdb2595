from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtponte.bridge import ExecutorLimits, Reason, Status
from mtponte.bridge.fileio import now_ms, read_json
from tests.bridge.conftest import Rig, raw_command


def test_open_fills_and_is_tagged(rig):
    res = rig.open()
    assert res.status is Status.FILLED and res.price == 120_005 and res.ticket
    (deal,) = rig.broker.deals()
    assert deal.comment.startswith("mtp:") and len(deal.comment) <= 31
    assert list((rig.root / "inbox").iterdir()) == []  # archived
    assert len(list((rig.root / "journal" / "done").iterdir())) == 1


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"created_at": -60_000}, Reason.EXPIRED),  # ms from now, taken in the test
        ({"created_at": 60_000}, Reason.FUTURE_TIMESTAMP),
        ({"symbol": "PETR4"}, Reason.UNKNOWN_SYMBOL),
        ({"volume": 1.5}, Reason.INVALID_VOLUME),
        ({"volume": 50.0}, Reason.MAX_VOLUME),
        ({"sl": 120_100.0}, Reason.SL_WRONG_SIDE),
        ({"tp": 119_900.0}, Reason.TP_WRONG_SIDE),
        ({"sl": None}, Reason.MISSING_SL),
    ],
)
def test_checks_reject_with_reason(rig, over, reason):
    fields = {
        k: v
        for k, v in (
            {"symbol": "WIN", "side": "buy", "volume": 1, "sl": 119_000.0, "tp": 121_000.0} | over
        ).items()
        if v is not None
    }
    offset = fields.pop("created_at", None)
    cmd = rig.client.command("open", **fields)
    if offset is not None:
        cmd = cmd.model_copy(update={"created_at": now_ms() + offset})
    rig.client.send(cmd)
    rig.ex.process_inbox()
    res = rig.client.result(cmd.id)
    assert res.status is Status.REJECTED and res.reason is reason, res
    assert rig.broker.deals() == []


def test_limits(tmp_path):
    r = Rig(tmp_path, ExecutorLimits(dead_man_ms=0, max_positions=1, symbols_allowed=("XYZ",)))
    assert r.open().reason is Reason.SYMBOL_NOT_ALLOWED
    r2 = Rig(tmp_path / "b", ExecutorLimits(dead_man_ms=0, max_positions=1, sl_tp_max_atr=2.0))
    r2.ex.atr["WIN"] = 100.0
    assert r2.open().reason is Reason.SL_TP_TOO_FAR  # SL 1005 points away > 2 × 100
    r2.ex.atr.clear()
    assert r2.open().status is Status.FILLED
    assert r2.open().reason is Reason.MAX_POSITIONS


def test_dead_man_blocks_entries_not_exits(tmp_path):
    r = Rig(tmp_path, ExecutorLimits(dead_man_ms=50))
    opened = r.open()
    assert opened.status is Status.FILLED
    hb = read_json(tmp_path / "state" / "python-heartbeat.json")
    hb["time"] -= 10_000
    (tmp_path / "state" / "python-heartbeat.json").write_text(json.dumps(hb))
    assert r.open().reason is Reason.DEAD_MAN
    assert r.send("close", ticket=opened.ticket).status is Status.FILLED


def test_daily_loss_limit(tmp_path):
    r = Rig(tmp_path, ExecutorLimits(dead_man_ms=0, daily_loss_limit=50, max_positions=5))
    t = r.open().ticket
    r.broker.set_quote("WIN", 119_600, 119_605)  # −405 points = −R$81
    assert r.open().reason is Reason.DAILY_LOSS_LIMIT
    assert r.send("close", ticket=t).status is Status.FILLED


def test_kill_switch_closes_everything_and_refuses(rig):
    rig.open()
    (rig.root / "KILL_SWITCH").write_text("now")
    res = rig.open()
    assert res.reason is Reason.KILL_SWITCH
    assert rig.broker.positions() == []
    (rig.root / "KILL_SWITCH").unlink()
    assert rig.open().status is Status.FILLED


def test_log_only_sends_nothing(tmp_path):
    r = Rig(tmp_path, ExecutorLimits(dead_man_ms=0, log_only=True))
    res = r.open()
    assert res.status is Status.DRY_RUN and r.broker.deals() == []


def test_other_kinds(rig):
    t = rig.open().ticket
    assert rig.send("modify", ticket=t, sl=119_500.0).status is Status.FILLED
    assert rig.broker.positions()[0].sl == 119_500
    bad = rig.send("modify", ticket=t, sl=121_500.0)
    assert bad.status is Status.FAILED and bad.retcode == 10016
    assert rig.send("close", ticket="999999").reason is Reason.NO_SUCH_POSITION
    assert rig.send("close", ticket=t).status is Status.FILLED
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
    assert placed.status is Status.FILLED and placed.order
    assert rig.send("cancel", ticket=placed.order).status is Status.FILLED
    assert rig.send("cancel", ticket=placed.order).reason is Reason.NO_SUCH_ORDER
    rig.open()
    assert rig.send("close_all").status is Status.FILLED and rig.broker.positions() == []
    assert rig.send("ping").message == "pong"


# ------------------------------------------------------------------ exactly once


def test_replayed_file_is_not_executed_again(rig):
    cmd = rig.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    rig.client.send(cmd)
    data = (rig.root / "inbox" / cmd.file_name).read_bytes()
    rig.ex.process_inbox()
    rig.raw(cmd.file_name, data)  # the same file again (e.g. restored from a backup)
    assert len(rig.broker.deals()) == 1
    assert rig.client.result(cmd.id).status is Status.FILLED


def test_duplicate_id_with_other_seq_is_rejected_without_clobbering(rig):
    res = rig.open()
    body = raw_command(id=res.id, seq=99)
    rig.raw(f"{99:012d}-{res.id}.json", json.dumps(body).encode())
    assert len(rig.broker.deals()) == 1
    assert rig.client.result(res.id).status is Status.FILLED  # original result intact
    rejected = rig.root / "journal" / "rejected" / f"{99:012d}-{res.id}.result.json"
    assert read_json(rejected)["reason"] == "duplicate_id"


def test_crash_after_journal_before_send_executes_once(rig):
    cmd = rig.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    rig.client.send(cmd)
    # Simulate the crash window: journaled 'executing', broker never called.
    rig.ex.journal.begin(cmd.id, cmd.seq, cmd.file_name, cmd.model_dump_json(), now_ms())
    assert rig.ex.recover() == 1
    assert len(rig.broker.deals()) == 1 and rig.client.result(cmd.id).status is Status.FILLED
    rig.ex.process_inbox()  # the inbox file may still be there: a replay
    assert len(rig.broker.deals()) == 1


def test_crash_after_send_before_journal_is_recovered_from_deals(rig):
    cmd = rig.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    rig.client.send(cmd)
    rig.ex.journal.begin(cmd.id, cmd.seq, cmd.file_name, cmd.model_dump_json(), now_ms())
    rig.ex.execute(cmd)  # the order went through, then the process died
    rig.ex.recover()
    res = rig.client.result(cmd.id)
    assert res.status is Status.FILLED and res.reason is Reason.RECOVERED
    assert len(rig.broker.deals()) == 1


def test_expired_while_crashed_is_not_executed(rig):
    cmd = rig.client.command("open", ttl_ms=1, symbol="WIN", side="buy", volume=1, sl=119_000.0)
    rig.client.send(cmd)
    rig.ex.journal.begin(cmd.id, cmd.seq, cmd.file_name, cmd.model_dump_json(), now_ms())
    import time

    time.sleep(0.01)
    rig.ex.recover()
    assert rig.client.result(cmd.id).reason is Reason.EXPIRED and rig.broker.deals() == []


def test_client_recovery_rewrites_an_unwritten_command(rig):
    cmd = rig.client.command("open", symbol="WIN", side="buy", volume=1, sl=119_000.0)
    rig.client.journal.add(cmd.id, cmd.seq, cmd.model_dump_json(exclude_none=True), cmd.created_at)
    # crash before the file was written
    assert rig.client.recover() == []
    rig.ex.process_inbox()
    assert rig.client.result(cmd.id).status is Status.FILLED
    rig.client.recover()
    rig.ex.process_inbox()
    assert len(rig.broker.deals()) == 1


# ------------------------------------------------------------------ bad input

BAD = [
    (b"\xff\xfe\x00garbage", Reason.INVALID_UTF8),
    (b"{not json", Reason.INVALID_JSON),
    (b"[1,2,3]", Reason.INVALID_JSON),
    (json.dumps(raw_command(v=2)).encode(), Reason.UNKNOWN_VERSION),
    (json.dumps(raw_command(kind="teleport")).encode(), Reason.UNKNOWN_KIND),
    (json.dumps(raw_command(volume=-1)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(volume="one")).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(volume=None)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(extra=1)).encode(), Reason.INVALID_FIELD),
    (b'{"v":1,"id":"x","seq":1,"created_at":1,"kind":"open","volume":NaN}', Reason.INVALID_JSON),
    # field-level cases written by hand (the audit's M7: not derived from the schema)
    (json.dumps(raw_command(ttl_ms=0)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(ttl_ms=-5)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(ttl_ms=10_000.0)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(sl=0)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(sl="119000")).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(id="not-a-uuid")).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(side="long")).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(volume=True)).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(created_at="1")).encode(), Reason.INVALID_FIELD),
    (json.dumps(raw_command(seq=-1)).encode(), Reason.INVALID_FIELD),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_bad_files_rejected_with_id_from_name(rig, data, reason):
    cid = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
    rig.raw(f"{1:012d}-{cid}.json", data)
    res = read_json(rig.root / "outbox" / f"{cid}.json")
    assert res["status"] == "rejected" and res["reason"] == reason.value, res
    assert rig.broker.deals() == []
    assert (rig.root / "journal" / "rejected" / f"{1:012d}-{cid}.json").exists()


def test_name_must_match_content(rig):
    body = raw_command()
    rig.raw(f"{5:012d}-{body['id']}.json", json.dumps(body).encode())  # seq 1 inside
    assert read_json(rig.root / "outbox" / f"{body['id']}.json")["reason"] == "invalid_name"
    assert rig.broker.deals() == []


def test_temp_files_are_ignored(rig):
    body = raw_command()
    (rig.root / "inbox" / f".{body['id']}.json.tmp").write_text(json.dumps(body))
    rig.ex.process_inbox()
    assert rig.broker.deals() == [] and list((rig.root / "outbox").iterdir()) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "v",
    "id",
    "seq",
    "created_at",
    "ttl_ms",
    "kind",
    "symbol",
    "side",
    "volume",
    "price",
    "sl",
    "tp",
    "ticket",
    "order_type",
    "expiry",
    "magic",
    "comment",
]


@settings(max_examples=300)
@given(
    mutations=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4),
    drop=st.lists(st.sampled_from(FIELDS), max_size=3),
    raw=st.binary(max_size=64),
    use_raw=st.booleans(),
)
def test_fuzz_nothing_invalid_is_ever_executed(tmp_path_factory, mutations, drop, raw, use_raw):
    r = Rig(tmp_path_factory.mktemp("fuzz"))
    body = raw_command()
    cid, seq = body["id"], body["seq"]
    body.update(mutations)
    for f in drop:
        body.pop(f, None)
    data = raw if use_raw else json.dumps(body, allow_nan=True).encode()
    name = f"{seq:012d}-{cid}.json"
    from mtponte.bridge.protocol import Command

    try:
        valid = Command.model_validate_json(data) if not use_raw else None
        valid_ok = valid is not None and valid.id == cid and valid.seq == seq
    except Exception:
        valid_ok = False
    r.raw(name, data)
    res = read_json(r.root / "outbox" / f"{cid}.json")
    assert res is not None and res["status"] in ("rejected", "filled", "failed")
    if not valid_ok:
        assert res["status"] == "rejected" and r.broker.deals() == []
    r.ex.close()
    r.broker.close()
    r.client.close()


def test_internal_error_never_stops_the_executor(rig, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("terminal disconnected")

    monkeypatch.setattr(rig.broker, "market_order", boom)
    res = rig.open()
    assert res.status is Status.UNKNOWN and "terminal disconnected" in res.message
    monkeypatch.undo()
    assert rig.send("ping").status is Status.FILLED  # still serving


def test_a_client_refuses_an_executor_of_another_protocol_version(tmp_path):
    """Issue 16 #6: a half-upgraded install (new mtponte, old EA or the reverse) is
    refused before anything is written to the inbox, with what to do."""
    import json

    import pytest

    from mtponte.bridge.client import BridgeClient, BridgeError

    client = BridgeClient(tmp_path)
    state = tmp_path / "state"
    state.mkdir(parents=True, exist_ok=True)
    hb = {"v": 2, "seq": 1, "time": 1, "executor": "mql5"}
    (state / "heartbeat.json").write_text(json.dumps(hb))
    cmd = client.command("ping")
    with pytest.raises(
        BridgeError, match=r"mql5 .* speaks bridge protocol v2; this mtponte speaks v1"
    ):
        client.send(cmd)
    assert list((tmp_path / "inbox").glob("*.json")) == []
    hb["v"] = 1
    (state / "heartbeat.json").write_text(json.dumps(hb))
    client.send(client.command("ping"))
    assert len(list((tmp_path / "inbox").glob("*.json"))) == 1
