"""Carrying local changes onto a text whose history in between is unknown.

A client that was away too long gets a snapshot instead of the revisions it missed, so its
unconfirmed changes cannot be rebased exactly. They are placed with diff-match-patch's fuzzy
matching instead. A hunk that matches nothing keeps its inserted text (at the position it was
expected), but not its deletions: deleting text nobody can find is how words get lost.
"""

from __future__ import annotations

from sync import ops, patches
from sync.ops import DIFF_INSERT, Op


def merge_onto(base: str, changes: Op, target: str) -> str:
    """``target`` with ``changes`` (an operation on ``base``) placed on it as well as possible."""
    hunks = patches.make_patch(base, changes)
    text, placed = patches.fuzzy_apply(target, hunks)
    for hunk, ok in zip(hunks, placed, strict=True):
        if ok:
            continue
        inserted = "".join(data for kind, data in hunk.diffs if kind == DIFF_INSERT)
        if inserted:
            at = max(0, min(len(text), hunk.start2))
            text = text[:at] + inserted + text[at:]
    return text


def changes_between(old: str, new: str) -> Op:
    """The operation turning ``old`` into ``new``, found by diffing (for rare paths only)."""
    from diff_match_patch import diff_match_patch

    dmp = diff_match_patch()
    dmp.Diff_Timeout = 1.0
    diffs = dmp.diff_main(old, new, False)
    return ops.from_diffs(diffs)
