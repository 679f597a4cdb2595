"""A master's current positions: its last snapshot with the events after it applied.

Pending orders of the master are entries with an ``order_type`` (``open_price`` is
the order price, ``expiry`` epoch seconds): ``pending_place`` / ``pending_modify`` set
one, ``pending_cancel`` removes it, and an ``open`` with ``from_order`` (its fill)
replaces it with the position. :func:`positions_only` drops them for every reader
that knows only positions (legacy EAs, the dashboard's position lists).

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
        if kind in ("pending_place", "pending_modify"):
            book[ticket] = {
                "ticket": ticket,
                "symbol": payload["symbol"],
                "side": payload.get("side", "buy"),
                "order_type": payload.get("order_type", "limit"),
                "volume": payload.get("volume", 0.0),
                "open_price": payload.get("price", 0.0),
                "sl": payload.get("sl"),
                "tp": payload.get("tp"),
                "expiry": int(payload.get("expiry") or 0),
                "open_time": int((payload.get("time") or 0) // 1000),
            }
            continue
        if kind == "pending_cancel":
            if "order_type" in book.get(ticket, {}):
                book.pop(ticket)
            continue
        if kind == "open" and payload.get("from_order"):
            order = book.get(str(payload["from_order"]))
            if order is not None and "order_type" in order:
                book.pop(str(payload["from_order"]))
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
            if payload.get("from_order"):
                book[ticket]["from_order"] = str(payload["from_order"])
        elif kind == "close":
            book.pop(ticket, None)
        elif kind == "modify" and ticket in book and "order_type" not in book[ticket]:
            for k in ("sl", "tp"):
                if k in payload:
                    book[ticket][k] = payload[k]
        elif kind == "partial_close" and ticket in book and "order_type" not in book[ticket]:
            left = book[ticket]["volume"] - payload.get("volume", 0.0)
            if left <= 1e-9:
                book.pop(ticket)
            else:
                book[ticket]["volume"] = round(left, 8)
    return sorted(book.values(), key=lambda p: int(p["ticket"]))


def positions_only(book: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The book without the master's pending orders (entries with an ``order_type``)."""
    return [p for p in book if "order_type" not in p]
