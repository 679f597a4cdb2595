"""A broker timeout (10012) is never answered by sending the order again (the MQL5
review's #3): the order is looked for by its tag, late deals included, and reported
``filled`` when found, ``unknown`` when not."""

from __future__ import annotations

from typing import Any

import pytest

from mtponte.bridge import Status
from mtponte.brokers.base import TIMEOUT
from mtponte.brokers.paper import PaperBroker
from mtponte.domain.orders import ExecutionReport
from tests.bridge.conftest import Rig


class TimingOut(PaperBroker):
    """Answers every market order with 10012. ``book``: the order executes anyway, at
    once or only after ``late`` look-ups of its deals (as MT5 may report a deal after
    it answered)."""

    def __init__(self, *a: Any, book: bool, late: int = 0, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.book, self.late = book, late
        self.sent: list[str] = []
        self._pending: dict[str, Any] | None = None

    def market_order(self, *a: Any, **kw: Any) -> ExecutionReport:
        self.sent.append(kw.get("comment", ""))
        if self.book and self.late == 0:
            super().market_order(*a, **kw)
        elif self.book:
            self._pending = {"a": a, "kw": kw}
        return ExecutionReport(False, TIMEOUT, "request canceled by timeout")

    def deals(self, comment: str | None = None) -> list[Any]:
        if self._pending is not None:
            self.late -= 1
            if self.late <= 0:
                p, self._pending = self._pending, None
                super().market_order(*p["a"], **p["kw"])
        return super().deals(comment)


@pytest.mark.parametrize(("book", "late"), [(True, 0), (True, 3), (False, 0)])
def test_a_timed_out_open_is_never_sent_twice(tmp_path, book, late):
    rig = Rig(tmp_path)
    rig.broker.close()
    rig.broker = TimingOut(tmp_path / "paper2.sqlite", book=book, late=late)
    rig.broker.set_quote("WIN", 120_000, 120_005)
    rig.ex.broker = rig.broker
    slept: list[float] = []
    rig.ex.sleep = slept.append
    rig.ex.timeout_grace_ms = 0 if not book else 60_000  # no trace: give up at once
    res = rig.open()
    assert len(rig.broker.sent) == 1  # one send, whatever happened
    entries = [d for d in rig.broker.deals() if d.entry == "in"]
    if book:
        assert res.status is Status.FILLED and len(entries) == 1
        assert len(slept) == max(0, late - 1)  # it waited for the late deal
    else:
        assert res.status is Status.UNKNOWN and entries == []
        assert "not re-sent" in (res.message or "")
    rig.ex.close()
    rig.client.close()
    rig.broker.close()
