"""Rebuilding a text from a snapshot and the revisions after it, as every store does."""

from __future__ import annotations

from collections.abc import Sequence

from sync import patches
from sync.errors import ChecksumMismatch
from sync.protocol import Revision
from sync.text import checksum_matches


def replay(text: str, revisions: Sequence[Revision]) -> str:
    """``text`` with ``revisions`` applied in order.

    Only the result's checksum is checked (in whichever version the log wrote it): one check
    per revision would cost a pass over the whole text each time. A stored patch that does not
    fit raises PatchRejected.
    """
    for revision in revisions:
        text, _ = patches.apply_patch(text, patches.parse_patch(revision.patch))
    if revisions and not checksum_matches(text, revisions[-1].checksum):
        raise ChecksumMismatch(
            f"replaying to revision {revisions[-1].rev} does not give checksum "
            f"{revisions[-1].checksum}, which the log has"
        )
    return text
