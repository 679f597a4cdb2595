"""The command desk settles commands of unknown outcome from the broker by their tags."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from mtponte.brokers.base import Broker
from mtponte.domain.orders import PendingOrder
from mtponte.domain.side import Side
from mtponte.live.commands import CommandDesk, Unknown


@pytest.mark.parametrize(("kind", "resolved"), [("market", False), ("stop", True)])
def test_an_order_with_its_tag_settles_a_stop_but_not_a_market_command(
    kind: str, resolved: bool
) -> None:
    """Review: a market order still in flight shows as an order with the command's tag
    (the bridge EA listed in-flight market orders). Taken as the outcome, the runner
    found no fill and cancelled the order mid-fill, leaving its position untracked. A
    market command waits for a deal (or its TTL); a stop command's order is its outcome."""
    tag = "mtp:abc"
    broker = mock.Mock(spec=Broker)
    broker.deals.return_value = []
    broker.orders.return_value = [
        PendingOrder("9", "WIN", Side.BUY, "limit", 1.0, 120_000.0, comment=tag)
    ]
    broker.late_refusal.return_value = None
    desk = CommandDesk(broker, "WIN", None)
    u = Unknown("cid", tag, kind, time.monotonic() + 30)
    desk.unknown = [u]
    found = desk.resolve()
    assert (len(found) == 1) is resolved
    assert desk.unknown == ([] if resolved else [u])
