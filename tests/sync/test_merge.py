from __future__ import annotations

from sync import ops
from sync.merge import changes_between, merge_onto, rebase_onto
from sync.text import find_invalid


def test_changes_follow_their_text() -> None:
    base = "alpha\nbeta\ngamma\n"
    changes = changes_between(base, "alpha\nBETA\ngamma\n")
    assert merge_onto(base, changes, "zero\nalpha\nbeta\ngamma\n") == "zero\nalpha\nBETA\ngamma\n"


def test_inserts_survive_when_their_context_is_gone() -> None:
    base = "the quick brown fox"
    changes = ops.compose(ops.replace(len(base), 4, "quick", ""), ops.replace(14, 14, "", " jumps"))
    merged = merge_onto(base, changes, "0123456789 0123456789")
    assert merged.count(" jumps") == 1
    assert merged.replace(" jumps", "") == "0123456789 0123456789"


def test_text_already_deleted_is_not_deleted_again() -> None:
    base = "one two three"
    changes = ops.replace(len(base), 4, "two ", "")
    assert merge_onto(base, changes, "one three") == "one three"


def test_long_changes_keep_their_text_once() -> None:
    base = "The quick brown fox jumps over the lazy dog."
    changes = ops.replace(len(base), 4, base[4:39], "slow cat")
    merged = merge_onto(base, changes, "A quick brown fox jumps over the lazy dog!")
    assert merged.count("slow cat") == 1


def test_merge_result_is_always_valid_text() -> None:
    changes = ops.from_json([{"delete": "abcd"}, {"retain": 2}, {"insert": "XY"}])
    merged = merge_onto("abcdef", changes, "ab")
    assert find_invalid(merged) is None
    assert merged == "XY"


def test_rebase_onto_is_an_operation_on_the_target() -> None:
    base, target = "a😀b\r\nc", "a😁b\nc字"
    op = rebase_onto(base, ops.replace(len(base), 0, "", ">"), target)
    assert ops.apply(target, op) == ">" + target


def test_changes_between_is_exact() -> None:
    old, new = "a😀b\r\nc", "a😁b\nc字"
    assert ops.apply(old, changes_between(old, new)) == new
