"""A document's pubsub nodes admit exactly the XMPP identities of its members.

With accounts on, the nodes are ``whitelist`` nodes owned by the app's account, and this
module keeps their affiliations equal to the document's roles (``Access.bus_members``):

===========  ==============================================  ===========================
role         revision, snapshot and live nodes                inbox
===========  ==============================================  ===========================
viewer       ``member``: subscribe, read items                none: cannot publish edits
editor       ``member``                                       ``publisher``: may publish
owner        ``member``                                       ``publisher``
===========  ==============================================  ===========================

Only the app publishes revisions, snapshots and live news: members are never publishers
there. Whoever is not a member is taken off (affiliation ``none``, which a whitelist node
treats as an outcast) and their subscriptions are ended, so a revoked bot stops hearing the
document at once rather than when it next reconnects. The app's own account (every
instance shares it) is the nodes' owner and is never touched; neither is any other owner
the server reports (its administrators, say), since taking ownership away is not ours to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.core.bus import BusMember, MembersOf
from sdk.xmpp.nodes import DocumentNodes, document_node, inbox_node, live_node, snapshot_node

log = logging.getLogger(__name__)

OWNER = "owner"
NONE = "none"


def normalized(jid: str) -> str:
    """Bare JIDs compare without case (nodeprep and nameprep fold it, for the ASCII that
    account names and domains use)."""
    return jid.split("/", 1)[0].lower()


def wanted(doc_id: str, members: Mapping[str, BusMember]) -> dict[str, dict[str, str]]:
    """Each of the document's nodes -> the affiliation each member's identity should have."""
    readable = (document_node(doc_id), snapshot_node(doc_id), live_node(doc_id))
    result: dict[str, dict[str, str]] = {node: {} for node in (*readable, inbox_node(doc_id))}
    for jid, member in members.items():
        bare = normalized(jid)
        for node in readable:
            result[node][bare] = "member"
        if member.may_edit:
            result[inbox_node(doc_id)][bare] = "publisher"
    return result


def changes(current: Mapping[str, str], target: Mapping[str, str], me: str) -> dict[str, str]:
    """What to set so that ``current`` becomes ``target`` (owners and ``me`` left alone)."""
    found = {normalized(jid): affiliation for jid, affiliation in current.items()}
    result: dict[str, str] = {}
    for jid, affiliation in target.items():
        if jid != me and found.get(jid) not in (affiliation, OWNER):
            result[jid] = affiliation
    for jid, affiliation in found.items():
        if jid not in target and jid != me and affiliation not in (OWNER, NONE, "outcast"):
            result[jid] = NONE
    return result


def unwelcome(subscribers: list[str], target: Mapping[str, str], me: str) -> list[str]:
    """The subscribers (as they subscribed: full or bare) whose account may not read."""
    return [jid for jid in subscribers if normalized(jid) not in target and normalized(jid) != me]


class AffiliationMirror:
    """Makes a document's nodes admit its members, and nobody else."""

    def __init__(self, nodes: DocumentNodes, members_of: MembersOf, me: str) -> None:
        self.nodes = nodes
        self.members_of = members_of
        self.me = normalized(me)
        # What each document's nodes were last made to admit: the sweep compares the
        # members with it, and talks to the server only for documents that changed.
        self.applied: dict[str, dict[str, BusMember]] = {}

    async def mirror(self, doc_id: str) -> None:
        """Read the document's members and make every node agree (``BridgeError`` if the
        server refuses or does not answer; the caller tries again)."""
        members = dict(await self.members_of(doc_id))
        for node, target in wanted(doc_id, members).items():
            current = await self.nodes.affiliations(node)
            to_set = changes(current, target, self.me)
            await self.nodes.set_affiliations(node, to_set)
            # After the affiliations: a subscriber that was just made an outcast is not
            # subscribed again by a delivery in between.
            gone = unwelcome(await self.nodes.subscribers(node), target, self.me)
            await self.nodes.remove_subscribers(node, gone)
            if to_set or gone:
                log.info(
                    "%s: affiliations %s, subscriptions ended: %s",
                    node,
                    to_set or "unchanged",
                    gone or "none",
                )
        self.applied[doc_id] = members

    async def stale(self, doc_id: str) -> bool:
        """Whether the document's members changed since its nodes were last made to agree."""
        return dict(await self.members_of(doc_id)) != self.applied.get(doc_id)

    def forget(self, doc_id: str) -> None:
        self.applied.pop(doc_id, None)
