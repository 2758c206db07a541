"""Our payload elements, in the namespace ``urn:xmpp-collab:0``.

They only declare elements; conversion to and from the engine's messages is at the bottom.
Everything user-supplied that travels in them is safe in XML by construction: patch text is
percent-escaped ASCII, snapshot text is escaped the same way (a literal CR would be turned
into LF by every XML parser), and names were refused at the edge if XML forbids a character.

Example item payload (one revision)::

    <revision xmlns="urn:xmpp-collab:0" doc="q3-plan" rev="42" base="40" author="Ann"
              client="k3f9" seq="12" checksum="19:9b2d4c51" intent="forward"
              origin="collab@localhost/app-1">@@ -1,5 +1,6 @@
     hello
    +,
    </revision>

``intent`` (``forward`` or ``backward``; absent means ``none``) is the author's typing intent
(``sync/intent.py``); a bot's ``<edit>`` carries it the same way, and one without it is
placed as a client from before intents expects.

``origin`` is the full JID of the app instance that published the item: instances share one
account, so the publisher Prosody exposes (a bare JID) cannot tell them apart, and each
instance skips what it published itself. Everything read from XMPP is checked here before
the app sees it: a bad payload raises ``ProtocolViolation`` (or ``InvalidText``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from slixmpp import Message, Presence
from slixmpp.plugins.xep_0060.stanza.pubsub import Item
from slixmpp.plugins.xep_0060.stanza.pubsub_event import EventItem
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

from sync.errors import ProtocolViolation
from sync.intent import Intent
from sync.intent import parse as parse_intent
from sync.protocol import Edit, OpId, Revision, validate_client_id
from sync.text import validate_text

NS = "urn:xmpp-collab:0"
_SAFE = "!~*'();/?:@&=+$,# \n"  # as patch text, plus newlines

# Bounds on what other publishers may send us (the app's own limits, where it has them).
MAX_NUMBER = 2**53 - 1  # revisions and positions: what JavaScript counts exactly
MAX_NAME = 64
MAX_TITLE = 200
MAX_ORIGIN = 1023  # a full JID: three parts of at most 1023 bytes, in practice far less
_SESSION = re.compile(r"[A-Za-z0-9_.~-]{1,64}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

PresenceKind = Literal["join", "update", "leave"]
_PRESENCE_KINDS: dict[str, PresenceKind] = {"join": "join", "update": "update", "leave": "leave"}


def escape_text(text: str) -> str:
    """Document text as XML-safe ASCII (``%xx`` UTF-8, like patch lines)."""
    return urllib.parse.quote(text.encode("utf-8"), _SAFE)


def unescape_text(value: str, *, what: str = "text") -> str:
    try:
        text = urllib.parse.unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolViolation(f"escaped {what} is not UTF-8: {exc.reason}") from exc
    validate_text(text, what=what)
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
        # Length first: int() of thousands of digits is slow, and past 4300 it raises.
        if not (value.isascii() and value.isdigit() and len(value) <= 16):
            raise ProtocolViolation(f"<{self.name}> needs a non-negative integer '{name}'")
        number = int(value)
        if number > MAX_NUMBER:
            raise ProtocolViolation(f"<{self.name}> '{name}' is over {MAX_NUMBER}")
        return number

    def optional_int_attr(self, name: str) -> int | None:
        return None if self.xml.get(name) is None else self.int_attr(name)

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
        "intent",
        "part",
        "parts",
        "origin",
        "body",
    }


class RevisionBatchStanza(_Payload):
    """Consecutive revisions ``first``..``last`` in one item, to spare the server publishes."""

    name = "revisions"
    plugin_attrib = "collab_batch"
    interfaces: ClassVar[set[str]] = {"doc", "first", "last", "origin"}


class EditStanza(_Payload):
    """A bot's edit, published to a document's inbox node; its text is the patch."""

    name = "edit"
    plugin_attrib = "collab_edit"
    interfaces: ClassVar[set[str]] = {"doc", "base", "client", "seq", "author", "intent", "body"}


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


class PresenceStanza(_Payload):
    """A person joining, moving or leaving, on the document's live node; its text is the
    person's name (escaped like snapshot text: a name may hold a tab or a CR)."""

    name = "presence"
    plugin_attrib = "collab_presence"
    interfaces: ClassVar[set[str]] = {
        "doc",
        "event",
        "origin",
        "session",
        "color",
        "author",
        "cursor",
        "anchor",
        "rev",
        "body",
    }


class RenamedStanza(_Payload):
    """A document's new title (escaped), on its live node."""

    name = "renamed"
    plugin_attrib = "collab_renamed"
    interfaces: ClassVar[set[str]] = {"doc", "origin", "body"}


class RollCallStanza(_Payload):
    """An instance that just opened a document asks the others, on its live node, to say
    again who is here (presence is transient: nothing kept would tell it)."""

    name = "roll-call"
    plugin_attrib = "collab_roll_call"
    interfaces: ClassVar[set[str]] = {"doc", "origin"}


class FollowStanza(_Payload):
    """In a bot's presence directed to the app's account: it follows ``doc`` under the name
    ``name`` (the app lists it among the people on the document while it is available)."""

    name = "follow"
    plugin_attrib = "collab_follow"
    interfaces: ClassVar[set[str]] = {"doc", "name"}


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
    register_stanza_plugin(_parent, PresenceStanza)
    register_stanza_plugin(_parent, RenamedStanza)
    register_stanza_plugin(_parent, RollCallStanza)
register_stanza_plugin(RevisionBatchStanza, RevisionStanza, iterable=True)
register_stanza_plugin(Message, EditErrorStanza)
register_stanza_plugin(Presence, FollowStanza)


def follow_stanza(doc: str, name: str) -> FollowStanza:
    stanza = FollowStanza()
    stanza["doc"] = doc
    stanza["name"] = name[:MAX_NAME]
    return stanza


def follow_from_stanza(stanza: FollowStanza) -> tuple[str, str]:
    """``(doc, name)``, checked."""
    doc = stanza.str_attr("doc")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", doc):
        raise ProtocolViolation("'doc' is not a document id")
    name = stanza.xml.get("name") or "bot"
    if not 1 <= len(name) <= MAX_NAME:
        raise ProtocolViolation(f"'name' must be 1 to {MAX_NAME} characters")
    validate_text(name, what="name")
    return doc, name


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
    if revision.intent is not Intent.NONE:
        stanza["intent"] = revision.intent.value
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
        intent=_intent(stanza, Intent.NONE),
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
    if edit.intent is not Intent.LEGACY:
        stanza["intent"] = edit.intent.value
    stanza["body"] = edit.patch
    return stanza


def edit_from_stanza(stanza: EditStanza) -> tuple[Edit, str]:
    author = stanza.xml.get("author") or "bot"
    if not 1 <= len(author) <= 64:
        raise ProtocolViolation("'author' must be 1 to 64 characters")
    validate_text(author, what="author")
    op_id = OpId(validate_client_id(stanza.str_attr("client")), stanza.int_attr("seq"))
    edit = Edit(stanza.int_attr("base"), op_id, stanza["body"], _intent(stanza, Intent.LEGACY))
    return edit, author


def _intent(stanza: _Payload, default: Intent) -> Intent:
    try:
        return parse_intent(stanza.xml.get("intent"), default=default)
    except ProtocolViolation as exc:
        raise ProtocolViolation(f"<{stanza.name}> {exc}") from None


def origin_of(stanza: ElementBase) -> str:
    """Who published a payload ("" if it does not say: a bot, or an older instance)."""
    return stanza.xml.get("origin") or ""


def _origin(stanza: _Payload) -> str:
    origin = stanza.str_attr("origin")
    if not 1 <= len(origin) <= MAX_ORIGIN:
        raise ProtocolViolation(f"'origin' must be 1 to {MAX_ORIGIN} characters")
    validate_text(origin, what="origin")
    return origin


def _escaped_body(stanza: _Payload, what: str, limit: int) -> str:
    text = unescape_text(stanza["body"], what=what)  # refuses what XML may not carry
    if not 1 <= len(text) <= limit:
        raise ProtocolViolation(f"{what} must be 1 to {limit} characters")
    return text


def presence_stanza(doc: str, event: str, person: dict[str, Any], origin: str) -> PresenceStanza:
    """``person`` as ``Person.public()`` gives it: session, name, color, cursor, anchor, rev."""
    stanza = PresenceStanza()
    stanza["doc"] = doc
    stanza["event"] = event
    stanza["origin"] = origin
    stanza["session"] = str(person["session"])
    stanza["color"] = str(person["color"])
    if person.get("author"):  # only where it is not the name (an account's display name)
        stanza["author"] = escape_text(str(person["author"]))
    for key in ("cursor", "anchor", "rev"):
        if person.get(key) is not None:
            stanza[key] = str(person[key])
    stanza["body"] = escape_text(str(person["name"]))
    return stanza


def presence_from_stanza(stanza: PresenceStanza) -> tuple[PresenceKind, dict[str, Any], str]:
    """``(event, person, origin)``, every field checked."""
    kind = _PRESENCE_KINDS.get(stanza.str_attr("event"))
    if kind is None:
        raise ProtocolViolation(f"'event' must be one of {', '.join(_PRESENCE_KINDS)}")
    session = stanza.str_attr("session")
    if not _SESSION.fullmatch(session):
        raise ProtocolViolation("'session' must be 1 to 64 characters from A-Z a-z 0-9 _ . ~ -")
    color = stanza.str_attr("color")
    if not _COLOR.fullmatch(color):
        raise ProtocolViolation("'color' must look like #1a2b3c")
    person = {
        "session": session,
        "name": _escaped_body(stanza, "name", MAX_NAME),
        "color": color,
        "cursor": stanza.optional_int_attr("cursor"),
        "anchor": stanza.optional_int_attr("anchor"),
        "rev": stanza.optional_int_attr("rev") or 0,
    }
    author = stanza.xml.get("author")
    if author:
        author = unescape_text(author, what="author")
        if len(author) > MAX_NAME:
            raise ProtocolViolation(f"'author' must be 1 to {MAX_NAME} characters")
        person["author"] = author
    return kind, person, _origin(stanza)


def renamed_stanza(doc: str, title: str, origin: str) -> RenamedStanza:
    stanza = RenamedStanza()
    stanza["doc"] = doc
    stanza["origin"] = origin
    stanza["body"] = escape_text(title)
    return stanza


def roll_call_stanza(doc: str, origin: str) -> RollCallStanza:
    stanza = RollCallStanza()
    stanza["doc"] = doc
    stanza["origin"] = origin
    return stanza


def renamed_from_stanza(stanza: RenamedStanza) -> tuple[str, str]:
    """``(title, origin)``, checked."""
    return _escaped_body(stanza, "title", MAX_TITLE), _origin(stanza)
