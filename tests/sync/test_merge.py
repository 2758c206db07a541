from __future__ import annotations

from sync import ops
from sync.merge import changes_between, merge_onto


def test_changes_are_placed_by_context() -> None:
    base = "alpha\nbeta\ngamma\n"
    changes = changes_between(base, "alpha\nBETA\ngamma\n")
    assert merge_onto(base, changes, "zero\nalpha\nbeta\ngamma\n") == "zero\nalpha\nBETA\ngamma\n"


def test_unplaceable_insert_is_kept_and_unplaceable_delete_dropped() -> None:
    base = "the quick brown fox"
    changes = ops.compose(ops.replace(len(base), 4, "quick", ""), ops.replace(14, 14, "", " jumps"))
    merged = merge_onto(base, changes, "0123456789 0123456789")
    assert " jumps" in merged
    assert merged.replace(" jumps", "") == "0123456789 0123456789"


def test_changes_between_is_exact() -> None:
    old, new = "a😀b\r\nc", "a😁b\nc字"
    assert ops.apply(old, changes_between(old, new)) == new
