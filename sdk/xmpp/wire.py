"""The hot path's stanzas: written as text, read from the parsed element.

slixmpp builds every stanza it sends from stanza objects and their plugins, serializes it in
Python, and turns every stanza it receives into stanza objects matched against each
registered handler in turn. For the few stanzas that every revision costs (its publication,
the server's answer, the event that echoes it back) that was most of the XMPP bridge's
time. Measured in isolation on a slow machine (EPYC, 2.4 GHz): 136 µs to build one publish
request through the pubsub plugin and 24 µs to serialize it, 265 µs to dispatch one received
event through the 20 handlers an app instance registers; the same here is a string format,
and a look at the parsed element's tag and a dictionary.

So a publication is written as text (:func:`publish_body`), sent through slixmpp's own
queue (so it keeps its place among the stanzas slixmpp sends), and its answer is picked out
by id before slixmpp sees it (:class:`RawIqs`). Stanzas nobody here claims go to slixmpp as
before. Nothing user-supplied is written unescaped: every attribute value and every text
passes :func:`escape`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable

from slixmpp import JID, ClientXMPP, InvalidJID

from sdk.xmpp.escaping import escape

CLIENT = "jabber:client"
PUBSUB = "http://jabber.org/protocol/pubsub"
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
IQ = f"{{{CLIENT}}}iq"
MESSAGE = f"{{{CLIENT}}}message"
EVENT_ITEMS = f"{{{PUBSUB_EVENT}}}event/{{{PUBSUB_EVENT}}}items"
EVENT_ITEM = f"{{{PUBSUB_EVENT}}}item"

# Takes a stanza (the element as parsed, a child of the stream) and says whether it dealt
# with it: True keeps it from slixmpp's handlers.
FastHandler = Callable[[ET.Element], bool]


class IqFailed(Exception):
    """An IQ that got no result: ``condition`` is the error's (XMPP's defined conditions),
    or ``timeout`` or ``disconnected`` when no answer came."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition} {text}".strip())
        self.condition = condition
        self.text = text


def publish_body(node: str, item_id: str, payload: str) -> str:
    """The ``<pubsub>`` of a publish request: one item (with an id unless ``item_id`` is
    empty, then the service names it) holding ``payload``, which is XML already."""
    item = f'<item id="{escape(item_id)}">' if item_id else "<item>"
    return (
        f'<pubsub xmlns="{PUBSUB}"><publish node="{escape(node)}">'
        f"{item}{payload}</item></publish></pubsub>"
    )


def iq_result(to: str, iq_id: str, payload: str = "") -> str:
    """The answer to request ``iq_id`` from ``to``, holding ``payload`` (XML already)."""
    return f'<iq type="result" id="{escape(iq_id)}" to="{escape(to)}">{payload}</iq>'


def iq_error(to: str, iq_id: str, kind: str, condition: str) -> str:
    """An error answer: ``kind`` is the error type (``auth``, ``cancel``, ``modify``, ...),
    ``condition`` one of the defined conditions (``forbidden``, ``item-not-found``, ...)."""
    return (
        f'<iq type="error" id="{escape(iq_id)}" to="{escape(to)}"><error type="{kind}">'
        f'<{condition} xmlns="{STANZAS}"/></error></iq>'
    )


def event_items(
    stanza: ET.Element, service: str
) -> tuple[str, list[tuple[ET.Element, ET.Element]]] | None:
    """A pubsub items event from ``service`` (as the server writes its address): its node and
    each item with its single payload element. None for anything else, or anything unusual
    (another sender, a retraction, an item with no payload or several): slixmpp decides."""
    if stanza.tag != MESSAGE:
        return None
    items = stanza.find(EVENT_ITEMS)
    if items is None or stanza.get("from") != service:
        return None
    entries = []
    for item in items:
        if item.tag != EVENT_ITEM or len(item) != 1:
            return None
        entries.append((item, item[0]))
    if not entries:
        return None
    return items.get("node", ""), entries


def error_of(iq: ET.Element) -> IqFailed:
    """The condition and text of an IQ of type error."""
    error = iq.find(f"{{{CLIENT}}}error")
    condition, text = "undefined-condition", ""
    if error is not None:
        for child in error:
            if child.tag == f"{{{STANZAS}}}text":
                text = child.text or ""
            elif child.tag.startswith(f"{{{STANZAS}}}"):
                condition = child.tag.split("}", 1)[1]
    return IqFailed(condition, text)


def _same_jid(one: str, other: str) -> bool:
    """The same address, once both are normalized (case of the domain, and so on)."""
    try:
        return bool(JID(one) == JID(other))
    except InvalidJID:
        return False


class RawIqs:
    """IQs of type ``set`` sent as text, their answers matched by id and sender.

    ``answer`` must see every incoming stanza first (``XmppConnection`` puts it in front of
    slixmpp's dispatch): it takes the results and errors of the requests it sent, and leaves
    everything else alone. An answer from anyone but the addressee is left to slixmpp, which
    ignores it: ids are not secrets, and a forged answer must not settle a request.
    """

    def __init__(self, client: ClientXMPP) -> None:
        self.client = client
        self._prefix = secrets.token_hex(4)  # ids unlike slixmpp's own (UUIDs)
        self._numbers = itertools.count(1)
        self._pending: dict[str, tuple[str, asyncio.Future[ET.Element]]] = {}
        client.add_event_handler("disconnected", self._on_disconnected)

    def __len__(self) -> int:
        return len(self._pending)

    async def set(self, to: str, body: str, *, timeout: float) -> ET.Element:
        """Send ``<iq type="set">`` with ``body`` (XML text) to ``to``; the result element.
        Raises ``IqFailed`` for an error, no answer within ``timeout`` seconds, or a stream
        that closed first."""
        iq_id = f"{self._prefix}-{next(self._numbers)}"
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[ET.Element] = loop.create_future()
        self._pending[iq_id] = (to, answer)
        expiry = loop.call_later(timeout, self._expire, iq_id)
        try:
            self.client.send(f'<iq type="set" id="{iq_id}" to="{escape(to)}">{body}</iq>')
            return await answer
        finally:
            expiry.cancel()
            self._pending.pop(iq_id, None)

    def answer(self, stanza: ET.Element) -> bool:
        if stanza.tag != IQ:
            return False
        kind = stanza.get("type")
        if kind != "result" and kind != "error":
            return False
        pending = self._pending.get(stanza.get("id", ""))
        if pending is None:
            return False
        to, answer = pending
        sender = stanza.get("from", "")
        if sender != to and not _same_jid(sender, to):
            return False
        del self._pending[stanza.get("id", "")]
        if not answer.done():
            if kind == "result":
                answer.set_result(stanza)
            else:
                answer.set_exception(error_of(stanza))
        return True

    def _expire(self, iq_id: str) -> None:
        pending = self._pending.pop(iq_id, None)
        if pending is not None and not pending[1].done():
            pending[1].set_exception(IqFailed("timeout", "the XMPP server did not answer in time"))

    def _on_disconnected(self, _event: object) -> None:
        # The answers cannot come any more: whoever waits learns it now, not at the timeout.
        pending, self._pending = self._pending, {}
        for _to, answer in pending.values():
            if not answer.done():
                answer.set_exception(IqFailed("disconnected", "the XMPP stream closed"))
