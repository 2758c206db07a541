"""The states of a live document connection, and how it ends for good."""

from __future__ import annotations

from enum import Enum

# Close codes after which reconnecting cannot help (see docs/protocol.md): a protocol
# violation, not signed in, no (longer any) access, no such document, deleted.
FATAL_CLOSE_CODES = frozenset({4400, 4401, 4403, 4404, 4410})
# A handshake the server refused with one of these HTTP statuses ends the same way, with the
# matching close code: trying again with the same credentials gets the same answer.
FATAL_HANDSHAKE_STATUSES = {401: 4401, 403: 4403, 404: 4404}


class LinkState(Enum):
    OFFLINE = "offline"  # not connected and not trying: not started, or paused
    CONNECTING = "connecting"  # opening a socket, or waiting to try again
    JOINING = "joining"  # joined; the catch-up has not finished
    ONLINE = "online"  # caught up: edits flow
    CLOSED = "closed"  # stopped, or refused for good by the server


class SessionEnded(Exception):
    """The driver will not reconnect: it was stopped, or the server refused it for good
    (``code`` one of ``FATAL_CLOSE_CODES``; None when stopped locally)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} (close code {code})")
        self.code = code
        self.reason = reason
