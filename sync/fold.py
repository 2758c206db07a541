"""Folding a sequenced revision into a copy of the text: exactly, or not at all.

Every subscriber (the server's own replicas, clients, bots) uses this. A revision's patch was
made against the text at ``rev - 1``, so it must fit that text exactly; anything else means the
copy has drifted, and the caller resyncs instead of guessing.
"""

from __future__ import annotations

from sync import patches
from sync.errors import ChecksumMismatch, PatchRejected
from sync.ops import Op
from sync.protocol import Revision
from sync.text import checksum


def fold(text: str, revision: Revision) -> tuple[str, Op]:
    """The text after ``revision``, and the revision as an operation on ``text``."""
    try:
        new_text, op = patches.apply_patch(text, patches.parse_patch(revision.patch))
    except PatchRejected as exc:
        raise PatchRejected(
            f"revision {revision.rev} does not fit this copy of revision {revision.rev - 1}: {exc}"
        ) from exc
    if checksum(new_text) != revision.checksum:
        raise ChecksumMismatch(
            f"after revision {revision.rev} this copy has checksum {checksum(new_text)}, "
            f"the server has {revision.checksum}"
        )
    return new_text, op
