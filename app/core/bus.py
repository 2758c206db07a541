"""What crosses app instances: ``RevisionBus``, and ``BusHost``, the side that listens.

An instance publishes every revision it commits and relays its people's presence; every
instance with a document open hears what the others publish for it. The adapters are
``app/buses/memory.py`` (one process, or several buses sharing one in-process hub in tests)
and ``app/buses/xmpp/`` (XEP-0060 pubsub, where bots take part too). One contract suite
(``tests/app/buses/test_contract.py``) runs against both.

The promises every bus keeps:

* ``publish`` never blocks and never fails the caller: a committed revision is already
  durable, and the bus catches up from ``BusHost.revisions_after`` after an outage.
* A subscribed instance hears each document's revisions in order. It may hear one twice
  or miss some during an outage: ``BusHost.revisions_heard`` fills gaps from the store,
  which has every committed revision, so delivery is best effort and the store is the truth.
* Presence, renames and deletions reach the instances subscribed to the document. Presence
  is transient (nothing is kept for a late subscriber), so an instance that subscribes asks
  the others to relay their people again (``BusHost.people_here``), as joins.
* An instance does not hear its own publications.

Who may listen on a bus is the bus's to enforce, from the roles the app keeps: given
``follow_access`` (accounts are on), a bus that outsiders can reach (XMPP) lets only the bus
identities of a document's members read it, and only its editors write to it, and
``access_changed`` says when a document's members changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.core.errors import AppError
from sync.protocol import Edit, Revision, Snapshot

PresenceKind = Literal["join", "update", "leave"]
BusState = Literal["ok", "down", "disabled"]


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """One person's presence on one instance, as relayed to the others."""

    event: PresenceKind
    person: dict[str, Any]  # Person.public(): session, name, color, cursor, anchor, rev
    origin: str = ""  # the relaying instance, filled in by the bus


@dataclass(frozen=True, slots=True)
class BusMember:
    """An account with a role on a document, as a bus identity (a bare JID) stands for it."""

    account: str
    role: str  # "owner", "editor" or "viewer"

    @property
    def may_edit(self) -> bool:
        return self.role in ("owner", "editor")


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the sequencing instance made of a forwarded edit."""

    rev: int
    placement: str  # "exact", "fuzzy" or "duplicate" (sync.server.Placement)
    # The revision itself, committed: the forwarder folds it in without reading the store
    # when it is the next one there (None: the forwarder reads it).
    revision: Revision | None = None


class ForwardFailed(Exception):
    """The instance an edit was forwarded to did not answer: gone (``holder_gone``), or this
    instance's own bus is down (then the holder may be well, and keeps its lease)."""

    def __init__(self, message: str, *, holder_gone: bool = True) -> None:
        super().__init__(message)
        self.holder_gone = holder_gone


class RemoteRefusal(AppError):
    """The sequencing instance refused a forwarded edit; ``code`` is its error's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# The bus identities with a role on a document (bare JID -> member), read when needed.
MembersOf = Callable[[str], Awaitable[Mapping[str, BusMember]]]


class BusHost(Protocol):
    """The instance's side of the bus: where it delivers, and where it reads back."""

    def open_documents(self) -> list[str]:
        """Documents this instance has open (subscribed again after a reconnect)."""

    def head_of(self, doc_id: str) -> int:
        """An open document's newest revision (0 if it is not open): everything up to it
        should be on the bus, whoever committed it."""

    def title_of(self, doc_id: str) -> str:
        """An open document's title ("" if unknown), for nodes made on the fly."""

    async def revisions_heard(
        self, doc_id: str, revisions: list[Revision], *, from_instance: bool = False
    ) -> None:
        """Revisions another instance committed, in order (gaps are filled from the store).

        ``from_instance``: the bus itself vouches that one of the app's instances published
        them (the XMPP server names the publisher of every item, and only instances log in
        as the service account), so they were committed before they were published, and
        the room may fold them straight in, checking each against its checksum, instead of
        reading them from the store. Anything else heard is only a hint to read the store.
        """

    async def caught_up(self, doc_id: str) -> None:
        """Listening again (after subscribing or reconnecting): read what was missed."""

    async def presence_heard(self, doc_id: str, event: PresenceEvent) -> None: ...

    async def instance_back(self, origin: str) -> None:
        """Another instance (``origin``, as it publishes) is online again."""

    async def instance_gone(self, origin: str) -> None:
        """The instance ``origin`` (a ``PresenceEvent.origin``) is gone: it stopped, crashed
        or lost the bus. The people it relayed are no longer here."""

    def people_here(self, doc_id: str) -> list[dict[str, Any]]:
        """The people connected to this instance on ``doc_id`` (``Person.public()``): what
        the bus relays again when an instance that just opened the document asks."""

    async def renamed_heard(self, doc_id: str, title: str) -> None: ...

    async def deleted_heard(self, doc_id: str) -> None: ...

    async def edit_heard(self, doc_id: str, edit: Edit, author: str) -> None:
        """An edit from outside the app (a bot). Raises SyncError or AppError to refuse it;
        the bus tells the sender."""

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        """Committed revisions, for publishing what an outage held back."""

    def reachability_changed(self, reachable: bool, detail: str) -> None:
        """The bus lost (or found again) the other instances and bots: people here are
        told, since what they write meanwhile reaches only this instance's people."""

    async def forwarded_edit(self, doc_id: str, edit: Edit, author: str) -> Forwarded:
        """Sequence an edit another instance forwarded (this instance holds the lease);
        raises the refusal as any submit would."""

    async def snapshot(self, doc_id: str) -> Snapshot:
        """The document's current text, for subscribers too far behind (and bots' requests)."""


class RevisionBus(Protocol):
    async def start(self, host: BusHost) -> None:
        """Begin; deliveries go to ``host``. Returns even if the far side is not reachable
        yet (editing works meanwhile, and the bus keeps trying)."""

    async def stop(self) -> None: ...

    def health(self) -> tuple[BusState, str]:
        """("ok" | "down" | "disabled", a line for /health)."""

    async def subscribe(self, doc_id: str) -> None:
        """Hear ``doc_id``'s revisions, presence, renames and deletion from now on."""

    async def unsubscribe(self, doc_id: str) -> None:
        """Stop hearing ``doc_id`` (after publishing what is still pending for it)."""

    def publish(self, doc_id: str, revisions: Sequence[Revision]) -> None:
        """Revisions this instance committed, in order, just now."""

    def relay_presence(self, doc_id: str, event: PresenceEvent) -> None: ...

    async def document_created(self, doc_id: str, title: str, snapshot: Snapshot) -> None: ...

    async def document_renamed(self, doc_id: str, title: str) -> None: ...

    async def document_deleted(self, doc_id: str) -> None: ...

    @property
    def identity(self) -> str:
        """This instance's name on the bus: what sequencer leases name."""

    async def forward(self, holder: str, doc_id: str, edit: Edit, author: str) -> Forwarded:
        """Have the instance ``holder`` sequence ``edit``. Raises ``RemoteRefusal`` with its
        refusal, or ``ForwardFailed`` if it cannot be reached in time."""

    def follow_access(self, members_of: MembersOf) -> None:
        """From now on only ``members_of(doc_id)`` may read a document's channel (and only
        its editors write to it); without this call channels stay open (accounts off)."""

    def access_changed(self, doc_id: str) -> None:
        """``doc_id``'s members changed: make the bus's permissions follow, soon."""
