"""JSON round trips of the engine's state and values."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from mtponte.copy.engine import BookState, Copy, Decision

FULL = Copy(
    target_id="p1t7",
    master_ticket="7",
    symbol="EURUSD.pro",
    side="sell",
    volume=0.3,
    volume0=0.6,
    master_volume0=2.0,
    sl=1.10001,
    tp=None,
    entry="limit",
    price=1.09876,
    max_deviation_points=15,
    decided_at=1_780_000_000,
    master_side="buy",
)
STATE = BookState(
    prefix="p1",
    copies={"7": FULL, "8": Copy("p1t8", "8", "EURUSD", "buy", 0.01, 0.01, 0.1, None, 1.2)},
    skipped={"9": "symbol XAUUSD not found"},
    started=True,
    day="2026-05-28",
    trades_today=3,
    risk="close_only",
    risk_reason="daily P&L -150 reached maxDailyLoss 100: close_only",
)


def _through_json(state: BookState) -> BookState:
    return BookState.from_json(json.loads(json.dumps(state.to_json())))


def test_book_state_round_trip_exact() -> None:
    back = _through_json(STATE)
    assert back == STATE
    assert back.copies["7"] == FULL
    assert type(back.copies) is dict and type(back.skipped) is dict


def test_mapping_proxy_state_serialises() -> None:
    frozen = BookState(
        prefix="p1", copies=MappingProxyType({"7": FULL}), skipped=MappingProxyType({})
    )
    assert _through_json(frozen).copies == {"7": FULL}


def test_empty_state_round_trip() -> None:
    assert _through_json(BookState()) == BookState()


def test_copy_without_master_side_round_trip() -> None:
    c = Copy("p1t8", "8", "EURUSD", "buy", 0.01, 0.01, 0.1, None, None)
    assert Copy.from_json(json.loads(json.dumps(c.to_json()))) == c


@pytest.mark.parametrize(
    "bad",
    [{"risk": "panic"}, {"copies": {"7": {**FULL.to_json(), "side": "long"}}}],
    ids=["unknown_risk_state_refused", "unknown_side_refused"],
)
def test_bad_state_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        BookState.from_json({**STATE.to_json(), **bad})


def test_decision_json() -> None:
    d = Decision("open", "7", "copied", (("master_lots", 1.0), ("mode", "copy")), at=5)
    assert json.loads(json.dumps(d.to_json())) == {
        "action": "open",
        "master_ticket": "7",
        "reason": "copied",
        "factors": [["master_lots", 1.0], ["mode", "copy"]],
        "at": 5,
    }
