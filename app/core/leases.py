"""Who sequences a document: a lease per document, held by one instance at a time.

Several instances may hold a document open (its people connected to different instances),
but one sequences its edits: the lease's holder. The others forward their clients' edits to
it (``app/core/routing.py``). A lease names its holder by bus identity and expires unless
renewed, so an instance that dies gives its documents up within ``ttl`` seconds, or at once
when another instance learns it is gone (``take_from``).

The database is where instances agree: claiming is one conditional write. Two instances can
still both believe they hold a lease for a moment (a clock step, a renewal that raced an
expiry); then both sequence, and the conditional commit on the document's head, which
every append makes, keeps the history single. The lease makes that rare; it is not what
makes it safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    doc_id: str
    holder: str
    expires_at: datetime


class LeaseStore(Protocol):
    async def claim(
        self, doc_id: str, holder: str, now: datetime, ttl: timedelta, *, take_from: str = ""
    ) -> Lease:
        """Hold (or keep holding) ``doc_id``'s lease if it is free, expired, already ours or
        ``take_from``'s (an instance known to be gone); the lease as it stands after."""

    async def claim_all(
        self, doc_ids: Sequence[str], holder: str, now: datetime, ttl: timedelta
    ) -> dict[str, Lease]:
        """``claim`` (without ``take_from``) for every one of ``doc_ids`` at once: how an
        instance renews the leases of all the documents it holds open, in a few statements
        whatever their number, instead of a transaction per document every few seconds."""

    async def release(self, doc_id: str, holder: str) -> None:
        """Give the lease up, if ``holder`` has it."""


class MemoryLeases:
    """``LeaseStore`` in memory: one process (and the instances a test runs in it)."""

    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}

    async def claim(
        self, doc_id: str, holder: str, now: datetime, ttl: timedelta, *, take_from: str = ""
    ) -> Lease:
        current = self._leases.get(doc_id)
        if current is None or current.holder in (holder, take_from) or current.expires_at <= now:
            current = Lease(doc_id, holder, now + ttl)
            self._leases[doc_id] = current
        return current

    async def claim_all(
        self, doc_ids: Sequence[str], holder: str, now: datetime, ttl: timedelta
    ) -> dict[str, Lease]:
        return {doc_id: await self.claim(doc_id, holder, now, ttl) for doc_id in doc_ids}

    async def release(self, doc_id: str, holder: str) -> None:
        current = self._leases.get(doc_id)
        if current is not None and current.holder == holder:
            del self._leases[doc_id]
