"""Target changes between two versions of a book: what the push stream carries.

Both sides work on the targets as JSON (``Target.to_json``): the server diffs the
book it last sent a follower against the current one; the follower applies the
changes to the book it holds. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Change = dict[
    str, Any
]  # {"op": "open"|"modify", "target": {...}} or {"op": "close", "target_id": ...}


def diff_targets(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[Change]:
    """The changes that turn ``old`` into ``new``: closes, then modifies, then opens,
    each in book order; a target whose JSON is unchanged is not mentioned.

    Parameters
    ----------
    old, new
        Targets as JSON, each with a unique ``target_id``.

    Returns
    -------
    list of dict
        ``{"op": "close", "target_id": id}``, ``{"op": "modify", "target": t}`` or
        ``{"op": "open", "target": t}``.
    """
    before = {t["target_id"]: t for t in old}
    after = {t["target_id"]: t for t in new}
    closes: list[Change] = [{"op": "close", "target_id": i} for i in before if i not in after]
    modifies: list[Change] = [
        {"op": "modify", "target": t} for i, t in after.items() if i in before and before[i] != t
    ]
    opens: list[Change] = [{"op": "open", "target": t} for i, t in after.items() if i not in before]
    return closes + modifies + opens


def apply_changes(
    targets: Sequence[dict[str, Any]], changes: Sequence[Change]
) -> list[dict[str, Any]]:
    """``targets`` with ``changes`` applied (the inverse of :func:`diff_targets`: a kept
    or modified target keeps its place, an opened one is appended).

    Raises
    ------
    ValueError
        A change that does not fit the book (an open of a target it holds, a modify
        or close of one it does not, an unknown op): the book the changes were made
        against is not this one, and the caller must read the full book.
    """
    book = {t["target_id"]: t for t in targets}
    for c in changes:
        op = c.get("op")
        if op == "close":
            if c.get("target_id") not in book:
                raise ValueError(f"close of a target not in the book: {c.get('target_id')!r}")
            del book[c["target_id"]]
            continue
        t = c.get("target")
        if not isinstance(t, dict) or "target_id" not in t:
            raise ValueError(f"{op} without a target: {c!r}")
        held = t["target_id"] in book
        if (op == "modify" and held) or (op == "open" and not held):
            book[t["target_id"]] = t
        else:
            raise ValueError(f"{op} does not fit the book: {t['target_id']!r}")
    return list(book.values())
