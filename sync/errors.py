"""Errors raised by the sync engine.

The hierarchy::

    SyncError
    ├── InvalidText            text that may not live in a document (lone surrogate, XML-forbidden)
    ├── MalformedPatch         patch text that does not parse
    ├── PatchRejected          a patch that parses but cannot be applied (context mismatch,
    │                          out of range, unplaceable hunks)
    ├── EditTooComplex         an edit past a bound on the work it may cost (hunks, placement)
    ├── RevisionError
    │   ├── FutureRevision     an edit based on a revision the server has not made yet
    │   └── StaleRevision      an edit or resync older than the history still kept
    ├── DocumentTooLarge       an edit that would take a document past its size limit
    ├── ChecksumMismatch       a copy no longer matches the revision it claims to be at
    ├── ProtocolViolation      a message that breaks the client/server state machine
    └── BridgeError            the XMPP server refused or did not answer a request

``app/`` turns these into HTTP statuses and WebSocket close codes; ``sync/`` never does.
Every error carries a stable ``code`` string for the wire.
"""

from __future__ import annotations


class SyncError(Exception):
    code = "sync-error"


class InvalidText(SyncError):
    code = "invalid-text"

    def __init__(self, message: str, *, position: int, codepoint: int) -> None:
        super().__init__(message)
        self.position = position
        self.codepoint = codepoint


class MalformedPatch(SyncError):
    code = "malformed-patch"


class PatchRejected(SyncError):
    code = "patch-rejected"

    def __init__(self, message: str, *, unplaced_hunks: list[int] | None = None) -> None:
        super().__init__(message)
        self.unplaced_hunks = unplaced_hunks or []


class EditTooComplex(SyncError):
    """Refused before (or while) doing more work than a bound allows; the message names the
    bound. Resending the same edit would be refused again: resync and edit again."""

    code = "edit-too-complex"

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class RevisionError(SyncError):
    code = "revision-error"


class FutureRevision(RevisionError):
    code = "future-revision"


class StaleRevision(RevisionError):
    code = "stale-revision"


class ChecksumMismatch(SyncError):
    code = "checksum-mismatch"


class ProtocolViolation(SyncError):
    code = "protocol-violation"


class DocumentTooLarge(SyncError):
    code = "document-too-large"


class BridgeError(SyncError):
    code = "xmpp-error"

    def __init__(self, message: str, *, condition: str = "") -> None:
        super().__init__(message)
        self.condition = condition
