"""Carrying local changes onto a text whose history in between is unknown.

A client that was away too long gets a snapshot instead of the revisions it missed, so its
unconfirmed changes cannot be rebased over those revisions one by one. Instead this is a
three-way merge: the difference between the text the changes were made on and the snapshot is
found by diffing, and the changes are transformed over it exactly as over any revision. Every
insertion survives (transformation never drops one), deletions of text that is still there
apply, and the result is deterministic.
"""

from __future__ import annotations

from diff_match_patch import diff_match_patch

from sync import ops
from sync.ops import Op


def changes_between(old: str, new: str) -> Op:
    """The operation turning ``old`` into ``new``, found by diffing (for rare paths only)."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 1.0
    diffs = dmp.diff_main(old, new, False)
    # Slide each change to word boundaries without changing what it does, so that
    # "one two three" -> "one three" deletes "two ", not "wo t": a merge transforms other
    # changes over this one, and they should meet it where a person would.
    dmp.diff_cleanupSemanticLossless(diffs)
    return ops.from_diffs(diffs)


def rebase_onto(base: str, changes: Op, target: str) -> Op:
    """``changes`` (an operation on ``base``) as an operation on ``target``.

    Where the changes and the difference from ``base`` to ``target`` insert at one position,
    the text already in ``target`` comes first.
    """
    return ops.transform(changes, changes_between(base, target))


def merge_onto(base: str, changes: Op, target: str) -> str:
    """``target`` with ``changes`` (an operation on ``base``) merged in."""
    return ops.apply(target, rebase_onto(base, changes, target))
