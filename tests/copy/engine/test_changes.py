"""Target changes (the push stream's frames): a diff applied to the old book gives the
new one; a change that does not fit the book held is refused, never guessed."""

from __future__ import annotations

import pytest

from mtponte.copy.engine.changes import apply_changes, diff_targets


def t(tid: str, volume: float = 0.1, sl: float | None = None) -> dict[str, object]:
    return {"target_id": tid, "symbol": "EURUSD", "side": "buy", "volume": volume, "sl": sl}


CASES = {
    "nothing_changed_sends_nothing": ([t("a")], [t("a")], []),
    "open_of_a_new_copy": ([t("a")], [t("a"), t("b")], ["open"]),
    "close_of_a_gone_copy": ([t("a"), t("b")], [t("b")], ["close"]),
    "sl_move_is_a_modify": ([t("a")], [t("a", sl=1.0)], ["modify"]),
    "partial_close_is_a_modify": ([t("a", 0.3)], [t("a", 0.1)], ["modify"]),
    "all_three_at_once": ([t("a"), t("b")], [t("b", 0.2), t("c")], ["close", "modify", "open"]),
    "everything_closed": ([t("a"), t("b")], [], ["close", "close"]),
}


@pytest.mark.parametrize("old,new,ops", CASES.values(), ids=CASES.keys())
def test_diff_then_apply_gives_the_new_book(old, new, ops):
    changes = diff_targets(old, new)
    assert [c["op"] for c in changes] == ops
    got = apply_changes(old, changes)
    assert sorted(got, key=lambda x: x["target_id"]) == sorted(new, key=lambda x: x["target_id"])


BAD = {
    "open_of_a_target_already_held": ([t("a")], [{"op": "open", "target": t("a")}]),
    "modify_of_a_target_not_held": ([t("a")], [{"op": "modify", "target": t("b")}]),
    "close_of_a_target_not_held": ([t("a")], [{"op": "close", "target_id": "b"}]),
    "unknown_op": ([t("a")], [{"op": "teleport", "target": t("a")}]),
    "modify_without_target": ([t("a")], [{"op": "modify"}]),
}


@pytest.mark.parametrize("held,changes", BAD.values(), ids=BAD.keys())
def test_changes_made_against_another_book_are_refused(held, changes):
    with pytest.raises(ValueError):
        apply_changes(held, changes)
