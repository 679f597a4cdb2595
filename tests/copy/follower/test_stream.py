"""The follower's stream link against a scripted server (httpx MockTransport): changes
are applied in order; a gap in the versions, or a server without the stream, sends it
to the full book / the long poll."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx

from mtponte.copy.follower._http import HttpLink
from mtponte.copy.follower._stream import StreamLink


def tgt(tid: str, volume: float = 0.1) -> dict[str, object]:
    return {
        "target_id": tid,
        "symbol": "EURUSD",
        "side": "buy",
        "volume": volume,
        "sl": None,
        "tp": None,
        "entry": "market",
        "price": 0.0,
        "max_deviation_points": 0,
        "master_tickets": [],
    }


def book(version: int, *targets: dict[str, object]) -> dict[str, object]:
    return {
        "version": version,
        "targets": list(targets),
        "master_online": True,
        "master_time_ms": None,
        "computed_at_ms": 0,
        "risk": "ok",
    }


def changes(frm: int, version: int, *ch: dict[str, object]) -> bytes:
    data = book(version) | {"from": frm, "changes": list(ch)}
    del data["targets"]
    return f"id: {version}\nevent: changes\ndata: {json.dumps(data)}\n\n".encode()


class Server:
    """``GET .../targets`` answers ``full`` (in turn); the stream sends ``frames``,
    each after the test releases it."""

    def __init__(self, full: list[dict[str, object]], frames: list[bytes], stream: bool = True):
        self.full, self.frames, self.stream = full, frames, stream
        self.release = threading.Semaphore(0)
        self.gets: list[httpx.URL] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/targets/stream"):
            if not self.stream:
                return httpx.Response(404, json={"detail": "Not Found"})
            return httpx.Response(200, content=self._frames())
        self.gets.append(request.url)
        if "version" in request.url.params:  # a long poll
            return httpx.Response(304)
        return httpx.Response(200, json=self.full.pop(0))

    def _frames(self) -> Iterator[bytes]:
        yield b"retry: 2000\n\n"
        for f in self.frames:
            self.release.acquire(timeout=10)
            yield f


def link(server: Server) -> StreamLink:
    client = httpx.Client(base_url="http://copy", transport=httpx.MockTransport(server.handler))
    return StreamLink(HttpLink(client, 7, 1, "tok"), retry_s=60)


def test_changes_are_applied_in_order_without_reading_the_full_book():
    srv = Server(
        [book(1, tgt("a"))],
        [
            changes(1, 2, {"op": "open", "target": tgt("b")}),
            changes(2, 3, {"op": "modify", "target": tgt("a", 0.2)}),
            changes(3, 4, {"op": "close", "target_id": "b"}),
        ],
    )
    lk = link(srv)
    b = lk.targets(None, 0)
    assert b is not None and b.version == 1
    seen = []
    for _ in range(3):
        srv.release.release()
        got = lk.targets(b.version, 5)
        assert got is not None
        b = got
        seen.append((b.version, [(t.target_id, t.volume) for t in b.targets]))
    lk.close()
    assert seen == [(2, [("a", 0.1), ("b", 0.1)]), (3, [("a", 0.2), ("b", 0.1)]), (4, [("a", 0.2)])]
    assert lk.full_reads == 1 and lk.applied == 3


def test_a_gap_in_the_versions_reads_the_full_book():
    srv = Server(
        [book(1, tgt("a")), book(5, tgt("c"))],
        [
            changes(1, 2, {"op": "open", "target": tgt("b")}),
            # Versions 2 -> 3 never arrived; this frame applies cleanly to version 2's
            # targets, yet it was made against version 3: only the sequence shows it.
            changes(3, 4, {"op": "open", "target": tgt("x")}),
        ],
    )
    lk = link(srv)
    b = lk.targets(None, 0)
    assert b is not None
    srv.release.release()
    b = lk.targets(b.version, 5)
    assert b is not None and b.version == 2
    srv.release.release()
    b = lk.targets(b.version, 5)
    lk.close()
    assert b is not None and b.version == 5  # the full book, not version 4
    assert [t.target_id for t in b.targets] == ["c"]
    assert lk.full_reads == 2


def test_without_a_stream_it_long_polls():
    srv = Server([book(1, tgt("a"))], [], stream=False)
    lk = link(srv)
    b = lk.targets(None, 0)
    assert b is not None
    assert lk.targets(b.version, 0.2) is None
    assert [u.params.get("version") for u in srv.gets] == [None, "1"]  # full, then a long poll
