"""A master's current positions: its last snapshot with the events after it applied.

Events give speed, snapshots repair: a follower (or a legacy EA reading full position
lists) sees an open that was followed by a close between two polls as closed, and sees
SL/TP changes and partial closes even before the master's next heartbeat.
"""

from __future__ import annotations

from typing import Any


def apply_events(
    positions: list[dict[str, Any]], events: list[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Apply ``(kind, ticket, payload)`` events, in seq order, to a snapshot."""
    book = {p["ticket"]: dict(p) for p in positions}
    for kind, ticket, payload in events:
        if kind == "open":
            book[ticket] = {
                "ticket": ticket,
                "symbol": payload["symbol"],
                "side": payload.get("side", "buy"),
                "volume": payload.get("volume", 0.0),
                "open_price": payload.get("price", 0.0),
                "sl": payload.get("sl"),
                "tp": payload.get("tp"),
                "open_time": int(payload.get("open_time") or (payload.get("time") or 0) // 1000),
            }
        elif kind == "close":
            book.pop(ticket, None)
        elif kind == "modify" and ticket in book:
            for k in ("sl", "tp"):
                if k in payload:
                    book[ticket][k] = payload[k]
        elif kind == "partial_close" and ticket in book:
            left = book[ticket]["volume"] - payload.get("volume", 0.0)
            if left <= 1e-9:
                book.pop(ticket)
            else:
                book[ticket]["volume"] = round(left, 8)
    return sorted(book.values(), key=lambda p: int(p["ticket"]))
