"""One sequencer per document: edits go to the instance holding the document's lease.

Any instance accepts any client. The instance that loads a document claims its lease
(``app/core/leases.py``) when nobody holds it, and renews it while the document stays loaded
there; behind the front door, which sends a document's clients to one instance, that is the
instance where its people are, and nothing is forwarded. An instance that is not the holder
forwards its clients' edits (and the bot edits it hears) to the holder over the bus
(``RevisionBus.forward``); the holder sequences them like its own and answers with the
committed revision; the forwarder folds it in (or reads it from the store when it is not the
next one), which sends it to the edit's author as its acknowledgement and to everyone else
here. Each revision is committed and published once, by the holder.

Failover: a forward that fails (the holder is gone, or the bus is down), or the bus saying an
instance went offline, makes the forwarder claim the lease from that holder; whoever gets it
sequences. Until then, and whenever the lease cannot be read, an instance sequences locally:
the conditional commit on the document's head keeps the history single when two instances
sequence at once, so routing is about speed, never about safety.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.config import Settings
from app.core.bus import ForwardFailed, RevisionBus
from app.core.errors import AppError
from app.core.extensions import Extension, Origin
from app.core.leases import LeaseStore
from sync.protocol import Edit
from sync.server import Outcome, Placement

if TYPE_CHECKING:
    from app.core.rooms import Room

log = logging.getLogger(__name__)

ROUTED_ORIGINS: frozenset[Origin] = frozenset({"websocket", "bus"})
# How long a forwarder waits for the holder's publication to bring the revisions committed
# before its answer, before it reads them from the store instead. The publication follows the
# answer within milliseconds; the wait only runs out when it is lost (the holder died before
# publishing, the XMPP server restarted), and then the store has them.
PUBLICATION_WAIT_SECONDS = 0.25


@dataclass(slots=True)
class _Known:
    holder: str
    until: float  # monotonic time after which the lease is read again


class SequencerRouting(Extension):
    """Claims, renews and releases this instance's leases, and forwards edits."""

    priority = 900  # reports only; after the policies

    def __init__(
        self,
        leases: LeaseStore,
        bus: RevisionBus,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.leases = leases
        self.bus = bus
        self.ttl = timedelta(seconds=settings.sequencer_lease_seconds)
        # Leases held here are renewed, and others' read again, this often: well inside the
        # lease's life, so that a live holder never loses it to a reader.
        self.refresh_seconds = settings.sequencer_lease_seconds / 3
        self.clock = clock
        self.known: dict[str, _Known] = {}
        self.gone: set[str] = set()  # instances known to be offline
        self.loaded: set[str] = set()  # documents loaded here (whose leases we keep)
        self.forwarded = 0  # edits sent to another instance
        # Told of each forwarded edit: the seconds until its answer, then until its revision
        # was folded in here (/metrics).
        self.on_forwarded: Callable[[float], object] | None = None
        self.on_folded: Callable[[float], object] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._claiming: dict[str, asyncio.Future[str]] = {}  # leases being read, by document

    @property
    def me(self) -> str:
        return self.bus.identity

    # -- leases -------------------------------------------------------------------------

    async def holder_of(self, doc_id: str) -> str:
        """Who sequences ``doc_id`` (``me`` included); claims the lease when it is free."""
        known = self.known.get(doc_id)
        if known is not None and known.until > time.monotonic() and known.holder not in self.gone:
            return known.holder
        # One reading of the lease at a time per document: the edits that arrive while it
        # is read share its answer. (Under load every edit found the lease due while the
        # first reading was still in flight, and each read it again.)
        claiming = self._claiming.get(doc_id)
        if claiming is None:
            claiming = asyncio.ensure_future(self._claim(doc_id, known))
            self._claiming[doc_id] = claiming
            claiming.add_done_callback(lambda _: self._claiming.pop(doc_id, None))
        return await asyncio.shield(claiming)

    async def _claim(self, doc_id: str, known: _Known | None) -> str:
        take_from = known.holder if known is not None and known.holder in self.gone else ""
        try:
            lease = await self.leases.claim(
                doc_id, self.me, self.clock(), self.ttl, take_from=take_from
            )
        except Exception:  # the database is unreachable: sequence here, safely
            log.exception("could not read the sequencer lease of %s", doc_id)
            return self.me
        if lease.holder != self.me and lease.holder in self.gone:
            # Gone, and its lease taken by nobody yet (another instance may have
            # claimed it first: then that one is the holder, and we forward to it).
            lease = await self.leases.claim(
                doc_id, self.me, self.clock(), self.ttl, take_from=lease.holder
            )
        if take_from and lease.holder == self.me:
            log.info("took over sequencing %s from %s, which is gone", doc_id, take_from)
        self.known[doc_id] = _Known(lease.holder, time.monotonic() + self.refresh_seconds)
        return lease.holder

    def holder_gone(self, identity: str) -> None:
        """The bus says ``identity`` went offline: its leases are ours to take."""
        if identity and identity != self.me:
            self.gone.add(identity)

    def holder_back(self, identity: str) -> None:
        self.gone.discard(identity)

    async def on_load(self, doc_id: str) -> None:
        self.loaded.add(doc_id)
        self.known.pop(doc_id, None)
        await self.holder_of(doc_id)
        self._start_renewing()

    async def on_unload(self, doc_id: str) -> None:
        self.loaded.discard(doc_id)
        known = self.known.pop(doc_id, None)
        if known is not None and known.holder == self.me:
            with contextlib.suppress(Exception):  # it expires anyway
                await self.leases.release(doc_id, self.me)

    async def document_deleted(self, doc_id: str) -> None:
        await self.on_unload(doc_id)

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        while self.loaded:
            await asyncio.sleep(self.refresh_seconds)
            with contextlib.suppress(Exception):  # logged; the next round tries again
                await self.renew_all()

    async def renew_all(self) -> None:
        """Renew the leases we hold, and read again the others', of every document loaded
        here, in one go (``LeaseStore.claim_all``): an instance holding thousands of
        documents open must not cost the database a transaction per document every few
        seconds."""
        doc_ids = sorted(self.loaded)
        if not doc_ids:
            return
        try:
            leases = await self.leases.claim_all(doc_ids, self.me, self.clock(), self.ttl)
        except Exception:
            log.exception("could not renew the sequencer leases of %d documents", len(doc_ids))
            raise
        until = time.monotonic() + self.refresh_seconds
        gone: list[str] = []
        unloaded: list[str] = []
        for doc_id, lease in leases.items():
            if doc_id not in self.loaded:
                # Unloaded while we claimed: its release may have come before our claim.
                if lease.holder == self.me:
                    unloaded.append(doc_id)
                continue
            self.known[doc_id] = _Known(lease.holder, until)
            if lease.holder != self.me and lease.holder in self.gone:
                gone.append(doc_id)
        for doc_id in unloaded:
            with contextlib.suppress(Exception):  # it expires anyway
                await self.leases.release(doc_id, self.me)
        for doc_id in gone:  # a gone holder's: taken over now, as ``holder_of`` does
            await self.holder_of(doc_id)

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for doc_id, known in list(self.known.items()):
            if known.holder == self.me:
                with contextlib.suppress(Exception):
                    await self.leases.release(doc_id, self.me)

    # -- edits --------------------------------------------------------------------------

    async def route(self, room: Room, edit: Edit, author: str, origin: Origin) -> Outcome | None:
        """The outcome of ``edit`` sequenced by the holder, or None to sequence it here."""
        if origin not in ROUTED_ORIGINS:
            return None
        holder = await self.holder_of(room.doc_id)
        if holder == self.me:
            return None
        sent = time.monotonic()
        try:
            result = await self.bus.forward(holder, room.doc_id, edit, author)
        except ForwardFailed as exc:
            if exc.holder_gone:
                log.warning(
                    "could not forward an edit of %s to %s (%s): taking the document over",
                    room.doc_id,
                    holder,
                    exc,
                )
                self.holder_gone(holder)
            # Sequenced here, now (the head check keeps it safe); the next edit finds the
            # lease ours, or someone's.
            return None
        self.forwarded += 1
        if self.on_forwarded is not None:
            self.on_forwarded(time.monotonic() - sent)
        # The holder committed it: fold it in, which sends it to our members, its author
        # first among them. From the answer when it carries the next revision we lack (no
        # store read: the holder is our own account's instance, and folding checks the
        # checksum). When the holder committed others' edits before it, which we lack, the
        # holder's publication is bringing those (and this one) right behind the answer:
        # wait for it rather than read the store, which under load cost every forward a
        # query (half of a forwarder's time, with 64 editors spread over three instances).
        # Only what is still missing after the wait is read from the store (unless a
        # refresh for another forwarded edit brought it in already: one read serves many).
        needed = result.rev - 1 if result.revision is not None else result.rev
        if room.sequencer.rev < needed:
            await room.wait_for_head(needed, PUBLICATION_WAIT_SECONDS)
        if result.revision is not None and room.sequencer.rev == result.rev - 1:
            await room.fold_committed(result.revision)
        if room.sequencer.rev < result.rev:
            await room.refresh()
        revisions = await room.revisions_after(result.rev - 1, 1)
        if not revisions or revisions[0].rev != result.rev:
            raise AppError(f"revision {result.rev} of '{room.doc_id}' is not in the store")
        if self.on_folded is not None:
            self.on_folded(time.monotonic() - sent)
        return Outcome(revisions[0], Placement(result.placement))
