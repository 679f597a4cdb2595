"""Execution reports survive a crash of the follower and are stored once: kept in the
state folder until the server took them, each with its ``report_id``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from mtponte.copy.follower import Follower, FollowerOptions, HttpLink, LinkError
from mtponte.copy.follower._outbox import load_unsent
from mtponte.copy.server.models import ExecutionReport
from tests.copy.follower.test_follower import MAGIC, FakeLink, T, broker
from tests.copy.follower.test_with_server import follower, publish, world  # noqa: F401


class Crash(BaseException):
    """The process dies (nothing after it runs)."""


class CrashingLink(FakeLink):
    def report(self, reports: list[dict[str, Any]]) -> None:
        raise Crash


def start(b, link, tmp_path) -> Follower:
    f = Follower(b, link, FollowerOptions(magic=MAGIC, state_dir=tmp_path), name="f1")
    f.start()
    return f


def test_a_crash_before_sending_loses_no_report_and_sends_it_once(tmp_path) -> None:
    b = broker()
    dead = CrashingLink()
    dead.set(T("s1t1"))
    f = start(b, dead, tmp_path)
    with pytest.raises(Crash):
        f.cycle()
    assert len(b.positions()) == 1
    (kept,) = load_unsent(tmp_path / "unsent-f1.json")
    assert (kept["target_id"], kept["action"], kept["status"]) == ("s1t1", "open", "copied")
    link = FakeLink()
    link.book = dead.book
    f = start(b, link, tmp_path)  # sent first, at start
    assert [(r["target_id"], r["action"]) for r in link.reports] == [("s1t1", "open")]
    assert link.reports[0]["report_id"] == kept["report_id"]
    f.cycle()
    f.cycle()
    assert len(link.reports) == 1 and len(b.positions()) == 1
    assert not (tmp_path / "unsent-f1.json").exists()
    start(b, link, tmp_path)
    assert len(link.reports) == 1


class ReportsDown(FakeLink):
    reports_down = True

    def report(self, reports: list[dict[str, Any]]) -> None:
        if self.reports_down:
            raise LinkError("POST reports: ConnectError")
        super().report(reports)


def test_an_outage_keeps_reports_on_disk_until_the_server_takes_them(tmp_path) -> None:
    b = broker()
    link = ReportsDown()
    f = start(b, link, tmp_path)
    link.set(T("s1t1"))
    with pytest.raises(LinkError):
        f.cycle()
    ids = [r["report_id"] for r in load_unsent(tmp_path / "unsent-f1.json")]
    assert len(ids) == 1 and len(ids[0]) == 32
    link.reports_down = False
    f.cycle()
    assert [r["report_id"] for r in link.reports] == ids
    assert not (tmp_path / "unsent-f1.json").exists()


def test_an_unreadable_outbox_is_moved_aside(tmp_path) -> None:
    (tmp_path / "unsent-f1.json").write_text("{torn", encoding="utf-8")
    start(broker(), FakeLink(), tmp_path)
    assert (tmp_path / "unsent-f1.json.bad").read_text(encoding="utf-8") == "{torn"


class LostAnswer(HttpLink):
    """The server stores the first batch, its answer is lost."""

    lost = 1

    def report(self, reports: list[dict[str, Any]]) -> None:
        super().report(reports)
        if self.lost:
            self.lost -= 1
            raise LinkError("POST reports: ReadTimeout")


def test_a_resend_after_a_lost_answer_is_stored_once(world, tmp_path) -> None:  # noqa: F811
    f, b = follower(world, tmp_path)
    f.link = LostAnswer(world.client, world.follower_id, world.master_id, world.follow)
    publish(world, "k1", "open", "1", side="buy", volume=0.1, price=1.1)
    with pytest.raises(LinkError):
        f.cycle()  # executed, stored by the server, the answer lost
    f.cycle()
    f.cycle()
    with world.client.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(ExecutionReport.action, ExecutionReport.report_id)).all()
    assert [a for a, _ in rows] == ["open"] and rows[0][1] is not None
    assert len(b.positions()) == 1


def test_a_report_the_server_refuses_is_dropped_and_the_follower_restarts(tmp_path) -> None:
    """Review: a report refused with a 4xx (e.g. an older server that does not know
    ``report_id``) is refused every time. Kept on disk it stopped every restart before
    the follower managed its copies; it is logged and dropped, as the EA does."""
    import httpx

    seen: list[dict[str, object]] = []

    def server(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        seen.append(body)
        if "report_id" in body:
            return httpx.Response(422, json={"detail": "extra fields not permitted"})
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(server), base_url="http://copy.test")
    link = HttpLink(client, 2, 1, "tok")
    report = {"status": "copied", "target_id": "s1t1", "action": "open", "report_id": "a" * 32}
    link.report([report, {**report, "report_id": None}])  # no exception: dropped, then sent
    assert len(seen) == 2
    assert "report_id" not in seen[1]
