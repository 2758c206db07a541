"""The node scheme, and publishing and reading documents' pubsub nodes.

Each document has four nodes on the pubsub service (``pubsub.<domain>``):

=================================  ==========================================================
``collab/doc/<id>``                one item per revision (or per run of consecutive revisions);
                                   only the app publishes (``publish_model = publishers``)
``collab/doc/<id>/inbox``          where bots publish edits and snapshot requests
                                   (``publish_model = open``); app instances subscribe
``collab/doc/<id>/snapshot``       the text at a revision, republished every so often and on
                                   request, so a subscriber can start from XMPP alone
``collab/doc/<id>/live``           what is news only for a moment: people joining, moving and
                                   leaving, and renames; nothing is kept (``persist_items = 0``)
                                   and only the app publishes
=================================  ==========================================================

Deleting a document deletes its nodes; the revision node's subscribers get the server's
delete notification (that is how other instances, and bots, hear of a deletion).

Item ids: a revision item is named after its last revision (``"42"``). A revision too large
for one stanza (client stanzas are capped at 256 KiB) is split into parts named ``"42.1"``,
``"42.2"``, ...; snapshots are always named ``"<rev>.<part>"``; live items get the server's
ids.

Who may read them: with accounts on, every node's access model is ``whitelist`` and the app
(the nodes' owner) keeps their affiliations equal to the document's roles
(app/buses/xmpp/affiliations.py): a member's XMPP identity is a ``member`` of the revision,
snapshot and live nodes (subscribe and read), and an editor's is also a ``publisher`` on the
inbox; nobody else may subscribe, read or publish. With accounts off (``COLLAB_AUTH=off``)
every node is ``open`` and anyone may publish to an inbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase, tostring

from sdk.xmpp import stanza as st
from sdk.xmpp import wire
from sdk.xmpp.wire import RawIqs
from sync.errors import BridgeError, ProtocolViolation
from sync.protocol import Edit, Revision, Snapshot
from sync.text import checksum_matches

log = logging.getLogger(__name__)

PREFIX = "collab/doc/"
# Patch or text characters per item: the escaped text is ASCII, so characters are bytes, and
# the XML around it is small. Well under Prosody's 256 KiB stanza limit.
ITEM_BUDGET = 120_000
# Items a revision node keeps (each holds one revision or a run of them): enough for a bot
# away for 1,000 revisions or more to catch up item by item (beyond, it starts from a
# snapshot, published every 100 revisions). Not more: after each publication the server trims
# the node to this many, and Prosody 0.12 finds what to trim by skipping this many rows in
# SQLite, about 76 µs per 1,000 items on a 2.4 GHz EPYC; at 10,000 that was half again its whole
# cost of a publication (docs/xmpp.md, "The node scheme").
REVISION_MAX_ITEMS = 1000
CREATE_ATTEMPTS = 5  # a node creation the server failed transiently is tried this often
_NODE = re.compile(r"collab/doc/([A-Za-z0-9][A-Za-z0-9_-]{0,63})(/inbox|/snapshot|/live)?")


def document_node(doc_id: str) -> str:
    return PREFIX + doc_id


def inbox_node(doc_id: str) -> str:
    return PREFIX + doc_id + "/inbox"


def snapshot_node(doc_id: str) -> str:
    return PREFIX + doc_id + "/snapshot"


def live_node(doc_id: str) -> str:
    return PREFIX + doc_id + "/live"


def all_nodes(doc_id: str) -> tuple[str, ...]:
    """The document's nodes, the revision node first."""
    return (document_node(doc_id), inbox_node(doc_id), snapshot_node(doc_id), live_node(doc_id))


def parse_node(node: str) -> tuple[str, str] | None:
    """``(doc_id, kind)`` for one of our nodes (kind: "revisions", "inbox", "snapshot",
    "live")."""
    match = _NODE.fullmatch(node)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "/revisions")[1:]


# -- splitting into items -----------------------------------------------------------------


def revision_items(
    doc_id: str, revisions: Sequence[Revision], *, origin: str = ""
) -> list[tuple[str, ElementBase]]:
    """Items carrying ``revisions``: runs of small ones batched, big ones split in parts.
    ``origin`` (the publisher's full JID) is stamped on each item's payload."""
    items: list[tuple[str, ElementBase]] = []
    run: list[Revision] = []
    size = 0

    def flush() -> None:
        nonlocal run, size
        if len(run) == 1:
            items.append((str(run[0].rev), st.revision_stanza(run[0], doc_id)))
        elif run:
            items.append((str(run[-1].rev), st.batch_stanza(doc_id, run)))
        run, size = [], 0

    for revision in revisions:
        if len(revision.patch) > ITEM_BUDGET:
            flush()
            chunks = _chunks(revision.patch)
            for number, chunk in enumerate(chunks, start=1):
                element = st.revision_stanza(revision, doc_id)
                element["body"] = chunk
                element["part"] = str(number)
                element["parts"] = str(len(chunks))
                items.append((f"{revision.rev}.{number}", element))
            continue
        if size + len(revision.patch) > ITEM_BUDGET:
            flush()
        run.append(revision)
        size += len(revision.patch)
    flush()
    if origin:
        for _, payload in items:
            payload["origin"] = origin
    return items


def snapshot_items(doc_id: str, snapshot: Snapshot) -> list[tuple[str, ElementBase]]:
    chunks = _chunks(st.escape_text(snapshot.text)) or [""]
    items: list[tuple[str, ElementBase]] = []
    for number, chunk in enumerate(chunks, start=1):
        element = st.SnapshotStanza()
        element["doc"] = doc_id
        element["rev"] = str(snapshot.rev)
        element["checksum"] = snapshot.checksum
        element["part"] = str(number)
        element["parts"] = str(len(chunks))
        element["body"] = chunk
        items.append((f"{snapshot.rev}.{number}", element))
    return items


def _chunks(text: str) -> list[str]:
    # Never cut inside a %xx escape: a part must decode on its own terms once rejoined, and
    # keeping escapes whole keeps each part readable.
    chunks = []
    start = 0
    while start < len(text):
        end = min(len(text), start + ITEM_BUDGET)
        while end < len(text) and "%" in text[end - 2 : end]:
            end -= 1
        chunks.append(text[start:end])
        start = end
    return chunks


# -- reading items ------------------------------------------------------------------------


@dataclass
class RevisionAssembler:
    """Turns revision items (batches, single revisions, parts) back into revisions."""

    _parts: dict[int, dict[int, str]] = field(default_factory=dict)

    def feed(self, payload: ElementBase | None) -> list[Revision]:
        if isinstance(payload, st.RevisionBatchStanza):
            return list(st.revisions_in(payload))
        if not isinstance(payload, st.RevisionStanza):
            return []
        if not payload.xml.get("parts"):
            return [st.revision_from_stanza(payload)]
        rev, part, parts = (payload.int_attr(k) for k in ("rev", "part", "parts"))
        if not 1 <= part <= parts:
            raise ProtocolViolation(f"revision {rev}: part {part} of {parts}")
        pieces = self._parts.setdefault(rev, {})
        pieces[part] = payload["body"]
        if len(pieces) < parts:
            return []
        del self._parts[rev]
        payload["body"] = "".join(pieces[n] for n in range(1, parts + 1))
        return [st.revision_from_stanza(payload)]


def snapshot_from_items(payloads: Iterable[ElementBase]) -> Snapshot | None:
    """The newest complete, verified snapshot among snapshot items."""
    by_rev: dict[int, dict[int, st.SnapshotStanza]] = {}
    for payload in payloads:
        if isinstance(payload, st.SnapshotStanza):
            by_rev.setdefault(payload.int_attr("rev"), {})[payload.int_attr("part")] = payload
    for rev in sorted(by_rev, reverse=True):
        parts = by_rev[rev]
        first = next(iter(parts.values()))
        total = first.int_attr("parts")
        if sorted(parts) != list(range(1, total + 1)):
            continue
        text = st.unescape_text("".join(parts[n]["body"] for n in range(1, total + 1)))
        checksum = first.str_attr("checksum")
        if checksum_matches(text, checksum):
            return Snapshot(rev, text, checksum)
    return None


_PLUGINS = {
    f"{{{st.NS}}}revisions": "collab_batch",
    f"{{{st.NS}}}revision": "collab_revision",
    f"{{{st.NS}}}snapshot": "collab_snapshot",
    f"{{{st.NS}}}edit": "collab_edit",
    f"{{{st.NS}}}snapshot-request": "collab_snapshot_request",
    f"{{{st.NS}}}presence": "collab_presence",
    f"{{{st.NS}}}renamed": "collab_renamed",
    f"{{{st.NS}}}roll-call": "collab_roll_call",
}


# The payloads a revision node's item may hold, by their element's name.
_REVISION_PAYLOADS: dict[str, type[ElementBase]] = {
    st.RevisionStanza.tag_name(): st.RevisionStanza,
    st.RevisionBatchStanza.tag_name(): st.RevisionBatchStanza,
}


def revision_payload(element: ET.Element) -> ElementBase | None:
    """A revision item's payload (one revision, a part of one, or a batch), as the stanza
    element ``RevisionAssembler`` takes; None if it is something else."""
    kind = _REVISION_PAYLOADS.get(element.tag)
    return kind(xml=element) if kind is not None else None


def payload_of(item: Any) -> ElementBase | None:
    """Our payload element inside a pubsub item or event item, if any."""
    for child in item.xml:
        plugin = _PLUGINS.get(child.tag)
        if plugin is not None:
            payload: ElementBase = item[plugin]
            return payload
    return None


# -- talking to the service ---------------------------------------------------------------


def _bridge_error(action: str, exc: Exception) -> BridgeError:
    """What a request that got no result means, whichever way it was sent: slixmpp's
    ``IqError``/``IqTimeout`` for stanza objects, ``wire.IqFailed`` for text."""
    if isinstance(exc, IqError):
        condition, text = exc.iq["error"]["condition"], exc.iq["error"]["text"]
    elif isinstance(exc, wire.IqFailed):
        condition, text = exc.condition, exc.text
    else:
        condition = "timeout"
    if condition == "timeout":
        return BridgeError(f"{action}: the XMPP server did not answer in time", condition="timeout")
    return BridgeError(f"{action}: {condition} {text}".strip(), condition=condition)


class DocumentNodes:
    """Creates, deletes, publishes to and reads documents' nodes on one pubsub service."""

    def __init__(
        self,
        xmpp: ClientXMPP,
        service: str,
        *,
        timeout: float = 15.0,
        iqs: RawIqs | None = None,
    ) -> None:
        self.xmpp = xmpp
        self.service = service
        self.timeout = timeout
        # Publications are written as text where the connection offers it (XmppConnection
        # does): they are the hot path (sdk/xmpp/wire.py). Otherwise slixmpp's plugin sends.
        self.iqs = iqs

    @property
    def pubsub(self) -> Any:
        return self.xmpp.plugin["xep_0060"]

    @property
    def origin(self) -> str:
        """This connection's full JID, stamped on what it publishes."""
        return str(self.xmpp.boundjid.full)

    def _form(self, **fields: str) -> Any:
        form = self.xmpp.plugin["xep_0004"].make_form("submit")  # type: ignore[no-untyped-call]
        form.add_field(
            var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#node_config"
        )
        for name, value in fields.items():
            form.add_field(var=f"pubsub#{name}", value=value)
        return form

    async def _create_node(self, node: str, **config: str) -> None:
        """One create request, tried again when the server fails it transiently.

        On an ejabberd cluster, node creations handled by different cluster nodes at once
        can abort each other's database transaction (Mnesia's deadlock prevention, seen as
        ``internal-server-error``, "Database failure"); tried again a moment later, they pass.
        """
        for attempt in range(CREATE_ATTEMPTS):
            try:
                await self.pubsub.create_node(
                    self.service, node, config=self._form(**config), timeout=self.timeout
                )
                return
            except IqError as exc:
                last = attempt == CREATE_ATTEMPTS - 1
                if exc.iq["error"]["condition"] != "internal-server-error" or last:
                    raise
            await asyncio.sleep(0.05 * 2**attempt * (1 + random.random()))

    async def _create(self, node: str, **config: str) -> None:
        try:
            await self._create_node(node, **config)
        except IqError as exc:
            if exc.iq["error"]["condition"] != "conflict":
                raise _bridge_error(f"creating node {node}", exc) from exc
            # It exists (another instance made it, or an earlier run): make its
            # configuration what we expect rather than trusting it.
            try:
                await self.pubsub.set_node_config(
                    self.service, node, self._form(**config), timeout=self.timeout
                )
            except (IqError, IqTimeout) as inner:
                raise _bridge_error(f"configuring node {node}", inner) from inner
        except IqTimeout as exc:
            raise _bridge_error(f"creating node {node}", exc) from exc

    async def ensure(self, doc_id: str, *, title: str = "", restricted: bool = False) -> None:
        """Create (or reconfigure) the document's four nodes: ``restricted`` ones only their
        affiliates may read (and only publishers write to the inbox), others anyone may."""
        access = "whitelist" if restricted else "open"
        inbox_publishers = "publishers" if restricted else "open"
        # All at once: the server answers each in turn, and nobody waits four round trips.
        await asyncio.gather(
            self._create(
                document_node(doc_id),
                title=title[:100] or doc_id,
                max_items=str(REVISION_MAX_ITEMS),
                persist_items="1",
                publish_model="publishers",
                access_model=access,
                notify_delete="1",
                notify_retract="0",
                send_last_published_item="never",
            ),
            self._create(
                inbox_node(doc_id),
                max_items="100",
                persist_items="1",
                publish_model=inbox_publishers,
                access_model=access,
                notify_retract="0",
                send_last_published_item="never",
            ),
            self._create(
                snapshot_node(doc_id),
                max_items="200",
                persist_items="1",
                publish_model="publishers",
                access_model=access,
                notify_retract="0",
                send_last_published_item="never",
            ),
            self._create(
                live_node(doc_id),
                max_items="1",
                persist_items="0",  # transient: a late subscriber hears nothing old
                publish_model="publishers",
                access_model=access,
                notify_delete="0",  # the revision node's notification says it once
                notify_retract="0",
                send_last_published_item="never",
            ),
        )

    async def delete(self, doc_id: str) -> None:
        """Delete the document's nodes; subscribers get a delete notification."""
        for node in all_nodes(doc_id):
            try:
                await self.pubsub.delete_node(self.service, node, timeout=self.timeout)
            except IqError as exc:
                if exc.iq["error"]["condition"] != "item-not-found":
                    raise _bridge_error(f"deleting node {node}", exc) from exc
            except IqTimeout as exc:
                raise _bridge_error(f"deleting node {node}", exc) from exc

    async def affiliations(self, node: str) -> dict[str, str]:
        """The node's affiliations (bare JID -> affiliation), as its owner sees them."""
        try:
            result = await self.pubsub.get_node_affiliations(
                self.service, node, timeout=self.timeout
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"reading the affiliations of {node}", exc) from exc
        found: dict[str, str] = {}
        for entry in result["pubsub_owner"]["affiliations"]:
            jid = str(entry["jid"].bare)
            if jid:
                found[jid] = entry["affiliation"]
        return found

    async def set_affiliations(self, node: str, changes: dict[str, str]) -> None:
        """Set affiliations (bare JID -> affiliation; "none" removes one)."""
        if not changes:
            return
        try:
            await self.pubsub.modify_affiliations(
                self.service, node, affiliations=sorted(changes.items()), timeout=self.timeout
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"setting the affiliations of {node}", exc) from exc

    async def subscribers(self, node: str) -> list[str]:
        """The JIDs (full or bare, as they subscribed) subscribed to the node."""
        try:
            result = await self.pubsub.get_node_subscriptions(
                self.service, node, timeout=self.timeout
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"reading the subscriptions of {node}", exc) from exc
        return [str(entry["jid"]) for entry in result["pubsub_owner"]["subscriptions"]]

    async def remove_subscribers(self, node: str, jids: Sequence[str]) -> None:
        """End these JIDs' subscriptions to the node (as its owner)."""
        if not jids:
            return
        try:
            await self.pubsub.modify_subscriptions(
                self.service,
                node,
                subscriptions=[(jid, "none") for jid in jids],
                timeout=self.timeout,
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"ending subscriptions to {node}", exc) from exc

    async def subscribe(self, node: str, *, bare: bool) -> None:
        try:
            await self.pubsub.subscribe(self.service, node, bare=bare, timeout=self.timeout)
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"subscribing to {node}", exc) from exc

    async def unsubscribe(self, node: str, *, bare: bool) -> None:
        try:
            await self.pubsub.unsubscribe(self.service, node, bare=bare, timeout=self.timeout)
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"unsubscribing from {node}", exc) from exc

    async def _publish(self, node: str, items: list[tuple[str, ElementBase]]) -> None:
        iqs = self.iqs
        for item_id, payload in items:
            if iqs is not None:
                body = wire.publish_body(node, item_id, tostring(payload.xml))
                try:
                    await iqs.set(self.service, body, timeout=self.timeout)
                except wire.IqFailed as exc:
                    raise _bridge_error(f"publishing item {item_id} to {node}", exc) from exc
                continue
            try:
                await self.pubsub.publish(
                    self.service, node, id=item_id, payload=payload, timeout=self.timeout
                )
            except (IqError, IqTimeout) as exc:
                raise _bridge_error(f"publishing item {item_id} to {node}", exc) from exc

    async def publish_revisions(self, doc_id: str, revisions: Sequence[Revision]) -> int:
        """Publish revisions (in order); returns how many items that took."""
        items = revision_items(doc_id, revisions, origin=self.origin)
        await self._publish(document_node(doc_id), items)
        return len(items)

    async def publish_snapshot(self, doc_id: str, snapshot: Snapshot) -> None:
        await self._publish(snapshot_node(doc_id), snapshot_items(doc_id, snapshot))

    async def publish_edit(self, doc_id: str, edit: Edit, author: str) -> None:
        await self._publish(inbox_node(doc_id), [("", st.edit_stanza(doc_id, edit, author))])

    async def publish_presence(self, doc_id: str, event: str, person: dict[str, Any]) -> None:
        payload = st.presence_stanza(doc_id, event, person, self.origin)
        await self._publish(live_node(doc_id), [("", payload)])

    async def publish_renamed(self, doc_id: str, title: str) -> None:
        payload = st.renamed_stanza(doc_id, title, self.origin)
        await self._publish(live_node(doc_id), [("", payload)])

    async def publish_roll_call(self, doc_id: str) -> None:
        """Ask the other instances to say again who is here on ``doc_id``."""
        await self._publish(live_node(doc_id), [("", st.roll_call_stanza(doc_id, self.origin))])

    async def request_snapshot(self, doc_id: str) -> None:
        request = st.SnapshotRequestStanza()
        request["doc"] = doc_id
        await self._publish(inbox_node(doc_id), [("", request)])

    async def _items(self, node: str, ids: list[str] | None = None) -> list[Any]:
        try:
            result = await self.pubsub.get_items(
                self.service, node, item_ids=ids, timeout=self.timeout
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"reading items of {node}", exc) from exc
        return list(result["pubsub"]["items"])

    async def item_ids(self, node: str) -> list[str]:
        try:
            result = await self.xmpp.plugin["xep_0030"].get_items(
                jid=JID(self.service), node=node, timeout=self.timeout
            )
        except (IqError, IqTimeout) as exc:
            raise _bridge_error(f"listing items of {node}", exc) from exc
        return [name for _, _, name in result["disco_items"]["items"] if name]

    async def revisions_after(self, doc_id: str, since: int) -> list[Revision]:
        """The revisions after ``since`` that the node still holds, in order."""
        node = document_node(doc_id)
        wanted = []
        for item_id in await self.item_ids(node):
            head = item_id.split(".", 1)[0]
            if head.isascii() and head.isdigit() and int(head) > since:
                wanted.append(item_id)
        assembler = RevisionAssembler()
        found: dict[int, Revision] = {}
        for start in range(0, len(wanted), 50):
            for item in await self._items(node, wanted[start : start + 50]):
                for revision in assembler.feed(payload_of(item)):
                    if revision.rev > since:
                        found[revision.rev] = revision
        return [found[rev] for rev in sorted(found)]

    async def latest_snapshot(self, doc_id: str) -> Snapshot | None:
        items = await self._items(snapshot_node(doc_id))
        return snapshot_from_items(p for p in (payload_of(i) for i in items) if p is not None)
