"""Edits forwarded between app instances, as IQs between resources of the service account.

An instance that does not hold a document's sequencer lease (app/core/leases.py) sends its
clients' edits to the holder's full JID:

    <iq type="set" to="collab@localhost/app-b" id="...">
      <forward xmlns="urn:xmpp-collab:0" doc="notes" author="ann">
        <edit doc="notes" base="41" client="c-7f3a" seq="12">@@ -1,0 +1,1 @@%0A+x%0A</edit>
      </forward>
    </iq>

and the holder answers with the revision that took it (committed: the forwarder folds it in
without reading the store when it is the next one it lacks), or the refusal, in a result:

    <iq type="result" ...>
      <forwarded xmlns="urn:xmpp-collab:0" rev="42" placement="exact">
        <revision rev="42" base="41" author="ann" client="c-7f3a" seq="12"
                  checksum="...">@@ -1,0 +1,1 @@%0A+x%0A</revision>
      </forwarded>
    </iq>
    <iq type="result" ...>
      <forwarded xmlns="urn:xmpp-collab:0" code="stale-revision">...</forwarded>
    </iq>

A refusal is a result, not an IQ error: IQ errors mean the holder could not be reached (it is
gone, the server says ``recipient-unavailable`` or ``service-unavailable``) or took too long,
and only those make the forwarder take the lease over. Only the service account's own
resources are answered; any other sender gets ``forbidden``.
"""

from __future__ import annotations

from typing import ClassVar

from slixmpp import Iq
from slixmpp.xmlstream import register_stanza_plugin

from sdk.xmpp import stanza as st
from sync.errors import ProtocolViolation
from sync.protocol import Edit, Revision
from sync.text import validate_text

MAX_AUTHOR = 200  # an account's name, or a guest's chosen one with " (guest)"
PLACEMENTS = frozenset({"exact", "fuzzy", "duplicate"})
# A revision larger than this is not carried back (the forwarder reads it from the store):
# the answer stays small, and the edit it answers was small enough to forward anyway.
MAX_CARRIED_PATCH = 64 * 1024


class ForwardStanza(st._Payload):
    name = "forward"
    plugin_attrib = "collab_forward"
    interfaces: ClassVar[set[str]] = {"doc", "author"}


class ForwardedStanza(st._Payload):
    name = "forwarded"
    plugin_attrib = "collab_forwarded"
    interfaces: ClassVar[set[str]] = {"rev", "placement", "code", "body"}


register_stanza_plugin(Iq, ForwardStanza)
register_stanza_plugin(Iq, ForwardedStanza)
register_stanza_plugin(ForwardStanza, st.EditStanza)
register_stanza_plugin(ForwardedStanza, st.RevisionStanza)


def forward_payload(doc_id: str, edit: Edit, author: str) -> ForwardStanza:
    payload = ForwardStanza()
    payload["doc"] = doc_id
    payload["author"] = author
    payload.append(st.edit_stanza(doc_id, edit, "forwarded"))
    return payload


def edit_of(payload: ForwardStanza) -> tuple[str, Edit, str]:
    """``(doc_id, edit, author)``; ``ProtocolViolation`` for anything malformed."""
    doc_id = payload.str_attr("doc")
    author = payload.str_attr("author")
    if not 1 <= len(author) <= MAX_AUTHOR:
        raise ProtocolViolation(f"'author' must be 1 to {MAX_AUTHOR} characters")
    validate_text(author, what="author")
    inner = payload.xml.find(f"{{{st.NS}}}edit")
    if inner is None:
        raise ProtocolViolation("<forward> carries no <edit>")
    edit, _ = st.edit_from_stanza(payload["collab_edit"])
    return doc_id, edit, author


def applied(rev: int, placement: str, revision: Revision | None = None) -> ForwardedStanza:
    answer = ForwardedStanza()
    answer["rev"] = str(rev)
    answer["placement"] = placement
    if revision is not None and len(revision.patch) <= MAX_CARRIED_PATCH:
        answer.append(st.revision_stanza(revision))
    return answer


def refused(code: str, message: str) -> ForwardedStanza:
    answer = ForwardedStanza()
    answer["code"] = code[:64]
    answer["body"] = message[:2000]
    return answer


def revision_of(answer: ForwardedStanza, rev: int) -> Revision | None:
    """The revision an answer carries, if it carries revision ``rev`` well formed; None
    otherwise (the forwarder then reads it from the store, as before)."""
    inner = answer.xml.find(f"{{{st.NS}}}revision")
    if inner is None:
        return None
    try:
        revision = st.revision_from_stanza(answer["collab_revision"])
    except ProtocolViolation:
        return None
    return revision if revision.rev == rev else None


def outcome_of(answer: ForwardedStanza) -> tuple[int, str] | tuple[str, str]:
    """``(rev, placement)`` for an applied edit, or ``(code, message)`` for a refusal."""
    code = answer.xml.get("code")
    if code:
        return code, answer["body"]
    placement = answer.str_attr("placement")
    if placement not in PLACEMENTS:
        raise ProtocolViolation(f"<forwarded> has an unknown placement {placement!r}")
    return answer.int_attr("rev"), placement
