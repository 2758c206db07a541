"""Bounds on the work one edit may cost, checked before any of that work is done.

Whatever the transport (a WebSocket, a bot over XMPP), an edit is looked at here before its
patch is parsed: its numbers must fit the integers every party (JavaScript's doubles, SQLite's
64-bit INTEGER) holds exactly, and its patch may have only so many hunks. Fuzzy placement has
a budget of its own, spent while it runs (``app/core/commits.py``).
"""

from __future__ import annotations

import re

from sync import errors as sync_errors
from sync.protocol import Edit

# The largest integer a JSON number carries exactly in JavaScript (2^53 - 1): revisions,
# operation numbers and positions above it could not round-trip through a browser.
MAX_SAFE_INTEGER = 2**53 - 1
# Hunks in one edit. Each costs the sequencer a pass of context search over the text, so a
# patch of 20,000 tiny hunks costs as much as 20,000 edits.
MAX_HUNKS = 1000

# A number in a hunk header longer than MAX_SAFE_INTEGER's 16 digits: refused before the
# parser turns thousands of digits into an integer (Python refuses past 4,300 digits, with a
# ValueError). Shorter numbers past the text are the parser's to refuse.
_LONG_HEADER_NUMBER = re.compile(r"^@@[^\n]*?[0-9]{17}", re.MULTILINE)


def hunk_count(patch: str) -> int:
    return patch.count("\n@@") + patch.startswith("@@")


def check_edit(edit: Edit) -> None:
    """Raise a SyncError if ``edit`` is past a bound: its numbers, its hunks."""
    seq, base = edit.op_id.seq, edit.base
    if not 1 <= seq <= MAX_SAFE_INTEGER:
        raise sync_errors.ProtocolViolation(
            f"'seq' must be an integer from 1 to {MAX_SAFE_INTEGER} (2^53 - 1)"
        )
    if not 0 <= base <= MAX_SAFE_INTEGER:
        raise sync_errors.ProtocolViolation(
            f"'base' must be an integer from 0 to {MAX_SAFE_INTEGER} (2^53 - 1)"
        )
    hunks = hunk_count(edit.patch)
    if hunks > MAX_HUNKS:
        raise sync_errors.EditTooComplex(
            f"edit {edit.op_id} has {hunks} hunks; at most {MAX_HUNKS} are accepted "
            "(max_hunks): send the change as several edits",
            limit="max_hunks",
        )
    if _LONG_HEADER_NUMBER.search(edit.patch):
        raise sync_errors.MalformedPatch(
            f"edit {edit.op_id}: a hunk header has a number of more than 16 digits"
        )
