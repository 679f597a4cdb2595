from __future__ import annotations

import uuid

import pytest

from mtponte.bridge import BridgeClient, Executor, ExecutorLimits
from mtponte.bridge.fileio import atomic_write_bytes, now_ms
from mtponte.brokers.paper import PaperBroker


class Rig:
    """An executor, its paper broker and a client on one temporary bridge folder."""

    def __init__(self, root, limits: ExecutorLimits | None = None):
        self.root = root
        self.broker = PaperBroker(root / "paper.sqlite")
        self.broker.set_quote("WIN", 120_000, 120_005)
        self.ex = Executor(root, self.broker, limits or ExecutorLimits(dead_man_ms=0))
        self.client = BridgeClient(root)
        self.client.heartbeat()

    def send(self, kind: str, **fields):
        cmd = self.client.command(kind, **fields)
        self.client.send(cmd)
        self.ex.process_inbox()
        return self.client.result(cmd.id)

    def open(self, **over):
        fields = dict(symbol="WIN", side="buy", volume=1, sl=119_000.0, tp=121_000.0) | over
        return self.send("open", **fields)

    def raw(self, name: str, data: bytes):
        atomic_write_bytes(self.root / "inbox" / name, data)
        self.ex.process_inbox()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.ex.close()
    r.client.close()
    r.broker.close()


def raw_command(**over) -> dict:
    base = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "seq": 1,
        "created_at": now_ms(),
        "ttl_ms": 10_000,
        "kind": "open",
        "symbol": "WIN",
        "side": "buy",
        "volume": 1.0,
        "sl": 119_000.0,
        "tp": 121_000.0,
    }
    return base | over
