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
from sync.text import checksum, checksum_v1, checksum_version, update_checksum


def fold(text: str, revision: Revision, known: str | None = None) -> tuple[str, Op]:
    """The text after ``revision``, and the revision as an operation on ``text``.

    ``known`` is the checksum of ``text`` as its holder computed it, if it has one. The new
    text's checksum is then updated from it in time proportional to the change (when both are
    version 2) instead of computed over the whole text. A holder keeps ``revision.checksum``
    as the new ``known``: it has just been checked to be the new text's.
    """
    try:
        new_text, op = patches.apply_patch(text, patches.parse_patch(revision.patch))
    except PatchRejected as exc:
        raise PatchRejected(
            f"revision {revision.rev} does not fit this copy of revision {revision.rev - 1}: {exc}"
        ) from exc
    version = checksum_version(revision.checksum)
    if version == 1:
        mine = checksum_v1(new_text)
    elif known is not None and checksum_version(known) == 2:
        mine = update_checksum(known, text, op, new_text)
    else:
        mine = checksum(new_text)
    if mine != revision.checksum:
        raise ChecksumMismatch(
            f"after revision {revision.rev} this copy has checksum {mine}, "
            f"the server has {revision.checksum}"
        )
    return new_text, op
