"""Our payload elements, in the namespace ``urn:xmpp-collab:0``.

They only declare elements; conversion to and from the engine's messages is at the bottom.
Everything user-supplied that travels in them is safe in XML by construction: patch text is
percent-escaped ASCII, snapshot text is escaped the same way (a literal CR would be turned
into LF by every XML parser), and names were refused at the edge if XML forbids a character.

Example item payload (one revision)::

    <revision xmlns="urn:xmpp-collab:0" doc="q3-plan" rev="42" base="40" author="Ann"
              client="k3f9" seq="12" checksum="19:9b2d4c51">@@ -1,5 +1,6 @@
     hello
    +,
    </revision>
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import ClassVar

from slixmpp import Message
from slixmpp.plugins.xep_0060.stanza.pubsub import Item
from slixmpp.plugins.xep_0060.stanza.pubsub_event import EventItem
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

from sync.errors import ProtocolViolation
from sync.protocol import Edit, OpId, Revision, validate_client_id
from sync.text import validate_text

NS = "urn:xmpp-collab:0"
_SAFE = "!~*'();/?:@&=+$,# \n"  # as patch text, plus newlines


def escape_text(text: str) -> str:
    """Document text as XML-safe ASCII (``%xx`` UTF-8, like patch lines)."""
    return urllib.parse.quote(text.encode("utf-8"), _SAFE)


def unescape_text(value: str) -> str:
    try:
        text = urllib.parse.unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolViolation(f"escaped text is not UTF-8: {exc.reason}") from exc
    validate_text(text)
    return text


class _Payload(ElementBase):
    namespace = NS

    def get_body(self) -> str:
        return self.xml.text or ""

    def set_body(self, value: str) -> None:
        self.xml.text = value

    def del_body(self) -> None:
        self.xml.text = None

    def int_attr(self, name: str) -> int:
        value = self.xml.get(name, "")
        if not (value.isascii() and value.isdigit()):
            raise ProtocolViolation(f"<{self.name}> needs a non-negative integer '{name}'")
        return int(value)

    def str_attr(self, name: str) -> str:
        value = self.xml.get(name)
        if value is None:
            raise ProtocolViolation(f"<{self.name}> lacks '{name}'")
        return value


class RevisionStanza(_Payload):
    """One revision; its text is the patch (or, with ``parts``, one slice of it)."""

    name = "revision"
    plugin_attrib = "collab_revision"
    plugin_multi_attrib = "collab_revisions"
    interfaces: ClassVar[set[str]] = {
        "doc",
        "rev",
        "base",
        "author",
        "client",
        "seq",
        "checksum",
        "part",
        "parts",
        "body",
    }


class RevisionBatchStanza(_Payload):
    """Consecutive revisions ``first``..``last`` in one item, to spare the server publishes."""

    name = "revisions"
    plugin_attrib = "collab_batch"
    interfaces: ClassVar[set[str]] = {"doc", "first", "last"}


class EditStanza(_Payload):
    """A bot's edit, published to a document's inbox node; its text is the patch."""

    name = "edit"
    plugin_attrib = "collab_edit"
    interfaces: ClassVar[set[str]] = {"doc", "base", "client", "seq", "author", "body"}


class SnapshotStanza(_Payload):
    """The document's text at ``rev`` (escaped; with ``parts``, one slice of it)."""

    name = "snapshot"
    plugin_attrib = "collab_snapshot"
    interfaces: ClassVar[set[str]] = {"doc", "rev", "checksum", "part", "parts", "body"}


class SnapshotRequestStanza(_Payload):
    """A subscriber asks for a fresh snapshot (published to the inbox node)."""

    name = "snapshot-request"
    plugin_attrib = "collab_snapshot_request"
    interfaces: ClassVar[set[str]] = {"doc"}


class EditErrorStanza(_Payload):
    """Sent in a message to a bot whose edit was refused; its text is the reason."""

    name = "edit-error"
    plugin_attrib = "collab_edit_error"
    interfaces: ClassVar[set[str]] = {"doc", "client", "seq", "code", "body"}


for _parent in (Item, EventItem):
    register_stanza_plugin(_parent, RevisionStanza)
    register_stanza_plugin(_parent, RevisionBatchStanza)
    register_stanza_plugin(_parent, EditStanza)
    register_stanza_plugin(_parent, SnapshotStanza)
    register_stanza_plugin(_parent, SnapshotRequestStanza)
register_stanza_plugin(RevisionBatchStanza, RevisionStanza, iterable=True)
register_stanza_plugin(Message, EditErrorStanza)


# -- conversion -------------------------------------------------------------------------


def revision_stanza(revision: Revision, doc: str | None = None) -> RevisionStanza:
    stanza = RevisionStanza()
    if doc is not None:
        stanza["doc"] = doc
    stanza["rev"] = str(revision.rev)
    stanza["base"] = str(revision.base)
    stanza["author"] = revision.author
    stanza["client"] = revision.op_id.client
    stanza["seq"] = str(revision.op_id.seq)
    stanza["checksum"] = revision.checksum
    stanza["body"] = revision.patch
    return stanza


def revision_from_stanza(stanza: RevisionStanza) -> Revision:
    author = stanza.str_attr("author")
    validate_text(author, what="author")
    return Revision(
        rev=stanza.int_attr("rev"),
        base=stanza.int_attr("base"),
        author=author,
        op_id=OpId(validate_client_id(stanza.str_attr("client")), stanza.int_attr("seq")),
        patch=stanza["body"],
        checksum=stanza.str_attr("checksum"),
    )


def batch_stanza(doc: str, revisions: list[Revision]) -> RevisionBatchStanza:
    batch = RevisionBatchStanza()
    batch["doc"] = doc
    batch["first"] = str(revisions[0].rev)
    batch["last"] = str(revisions[-1].rev)
    for revision in revisions:
        batch.append(revision_stanza(revision))
    return batch


def revisions_in(batch: RevisionBatchStanza) -> Iterator[Revision]:
    for child in batch["collab_revisions"]:
        yield revision_from_stanza(child)


def edit_stanza(doc: str, edit: Edit, author: str) -> EditStanza:
    stanza = EditStanza()
    stanza["doc"] = doc
    stanza["base"] = str(edit.base)
    stanza["client"] = edit.op_id.client
    stanza["seq"] = str(edit.op_id.seq)
    stanza["author"] = author
    stanza["body"] = edit.patch
    return stanza


def edit_from_stanza(stanza: EditStanza) -> tuple[Edit, str]:
    author = stanza.xml.get("author") or "bot"
    if not 1 <= len(author) <= 64:
        raise ProtocolViolation("'author' must be 1 to 64 characters")
    validate_text(author, what="author")
    op_id = OpId(validate_client_id(stanza.str_attr("client")), stanza.int_attr("seq"))
    return Edit(stanza.int_attr("base"), op_id, stanza["body"]), author
