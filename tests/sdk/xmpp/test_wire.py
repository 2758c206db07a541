"""The hot path's stanzas, without a server (the real publications are in test_nodes.py,
on Prosody and on ejabberd, written both ways)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, cast

import pytest
from slixmpp import ClientXMPP

from sdk.xmpp.wire import (
    IQ,
    IqFailed,
    RawIqs,
    error_of,
    event_items,
    iq_error,
    iq_result,
    publish_body,
)


class FakeClient:
    """What RawIqs uses of slixmpp's client: send, and the disconnected event."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.handlers: dict[str, Callable[[Any], None]] = {}

    def send(self, data: str) -> None:
        self.sent.append(data)

    def add_event_handler(self, name: str, handler: Callable[[Any], None]) -> None:
        self.handlers[name] = handler


def stanza(text: str) -> ET.Element:
    """A stanza as slixmpp's parser hands it over: in the stream's namespace."""
    return ET.fromstring(f'<stream xmlns="jabber:client">{text}</stream>')[0]


def sent_id(client: FakeClient) -> str:
    return stanza(client.sent[-1]).get("id", "")


def test_a_publish_body_escapes_what_it_is_given() -> None:
    body = publish_body('n"<&', "7'", "<x xmlns='urn:y'/>")
    element = ET.fromstring(body)
    publish = element[0]
    assert publish.get("node") == 'n"<&'
    assert publish[0].get("id") == "7'"
    assert publish[0][0].tag == "{urn:y}x"
    assert ET.fromstring(publish_body("n", "", "<x/>"))[0][0].get("id") is None


def test_an_error_says_its_condition_and_text() -> None:
    error = error_of(
        stanza(
            '<iq type="error" id="1"><error type="auth">'
            '<forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">not yours</text></error></iq>'
        )
    )
    assert (error.condition, error.text) == ("forbidden", "not yours")
    assert error_of(stanza('<iq type="error" id="1"/>')).condition == "undefined-condition"


async def request(client: FakeClient, iqs: RawIqs, timeout: float = 5.0) -> asyncio.Task[Any]:
    task = asyncio.create_task(iqs.set("pubsub.example", "<ping/>", timeout=timeout))
    await asyncio.sleep(0)
    return task


def test_the_answer_from_the_addressee_settles_the_request() -> None:
    async def scenario() -> None:
        client = FakeClient()
        iqs = RawIqs(cast(ClientXMPP, client))
        task = await request(client, iqs)
        sent = stanza(client.sent[-1])
        assert (sent.tag, sent.get("type"), sent.get("to")) == (IQ, "set", "pubsub.example")
        iq_id = sent_id(client)
        # Not ours, not a result, not from the addressee: left to slixmpp.
        assert not iqs.answer(stanza(f'<message id="{iq_id}" from="pubsub.example"/>'))
        assert not iqs.answer(stanza(f'<iq type="get" id="{iq_id}" from="pubsub.example"/>'))
        assert not iqs.answer(stanza('<iq type="result" id="other" from="pubsub.example"/>'))
        assert not iqs.answer(stanza(f'<iq type="result" id="{iq_id}" from="evil.example"/>'))
        assert not iqs.answer(stanza(f'<iq type="result" id="{iq_id}" from="@@@"/>'))
        assert not task.done()
        # The server may write its address differently (the domain is case-insensitive).
        assert iqs.answer(stanza(f'<iq type="result" id="{iq_id}" from="PubSub.Example"/>'))
        result = await task
        assert result.get("id") == iq_id
        assert len(iqs) == 0
        # Answered once: a second answer is not taken.
        assert not iqs.answer(stanza(f'<iq type="result" id="{iq_id}" from="pubsub.example"/>'))

    asyncio.run(scenario())


def test_an_error_answer_raises_its_condition() -> None:
    async def scenario() -> None:
        client = FakeClient()
        iqs = RawIqs(cast(ClientXMPP, client))
        task = await request(client, iqs)
        answer = (
            f'<iq type="error" id="{sent_id(client)}" from="pubsub.example"><error type="cancel">'
            '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
        )
        assert iqs.answer(stanza(answer))
        with pytest.raises(IqFailed) as failed:
            await task
        assert failed.value.condition == "item-not-found"

    asyncio.run(scenario())


def test_no_answer_in_time_is_a_timeout_and_is_forgotten() -> None:
    async def scenario() -> None:
        client = FakeClient()
        iqs = RawIqs(cast(ClientXMPP, client))
        task = await request(client, iqs, timeout=0.05)
        with pytest.raises(IqFailed) as failed:
            await task
        assert failed.value.condition == "timeout"
        assert len(iqs) == 0
        late = f'<iq type="result" id="{sent_id(client)}" from="pubsub.example"/>'
        assert not iqs.answer(stanza(late))

    asyncio.run(scenario())


def test_a_closed_stream_fails_every_request_at_once() -> None:
    async def scenario() -> None:
        client = FakeClient()
        iqs = RawIqs(cast(ClientXMPP, client))
        tasks = [await request(client, iqs, timeout=60) for _ in range(3)]
        client.handlers["disconnected"](None)
        for task in tasks:
            with pytest.raises(IqFailed) as failed:
                await asyncio.wait_for(task, 1)
            assert failed.value.condition == "disconnected"
        assert len(iqs) == 0

    asyncio.run(scenario())


def test_ids_are_unique_and_unlike_slixmpps() -> None:
    async def scenario() -> None:
        client = FakeClient()
        iqs = RawIqs(cast(ClientXMPP, client))
        tasks = [await request(client, iqs, timeout=0.01) for _ in range(50)]
        ids = {stanza(text).get("id") for text in client.sent}
        assert len(ids) == 50 and all(i and "-" in i and len(i) < 32 for i in ids)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())


def test_answers_are_addressed_escaped_and_well_formed() -> None:
    result = stanza(iq_result('a@b/c"<', "i&1", "<forwarded xmlns='urn:x' rev='2'/>"))
    assert (result.get("type"), result.get("to"), result.get("id")) == ("result", 'a@b/c"<', "i&1")
    assert result[0].tag == "{urn:x}forwarded"
    error = stanza(iq_error("a@b/c", "i2", "auth", "forbidden"))
    assert (error.get("type"), error_of(error).condition) == ("error", "forbidden")
    assert error[0].get("type") == "auth"


EVENT = "http://jabber.org/protocol/pubsub#event"


def event(sender: str, items: str) -> ET.Element:
    return stanza(
        f'<message from="{sender}"><event xmlns="{EVENT}">'
        f'<items node="collab/doc/d">{items}</items></event></message>'
    )


def test_an_items_event_from_the_service_gives_each_item_and_its_payload() -> None:
    items = '<item id="1" publisher="a@x"><p xmlns="urn:y"/></item><item id="2"><q/></item>'
    found = event_items(event("pubsub.x", items), "pubsub.x")
    assert found is not None
    node, entries = found
    assert node == "collab/doc/d"
    assert [(item.get("id"), payload.tag) for item, payload in entries] == [
        ("1", "{urn:y}p"),
        ("2", f"{{{EVENT}}}q"),
    ]


def test_anything_unusual_is_left_to_slixmpp() -> None:
    one = '<item id="1"><p xmlns="urn:y"/></item>'
    assert event_items(event("mallory@x", one), "pubsub.x") is None  # not the service
    assert event_items(event("pubsub.x", ""), "pubsub.x") is None  # no items
    assert event_items(event("pubsub.x", '<item id="1"/>'), "pubsub.x") is None  # no payload
    two = '<item id="1"><p xmlns="urn:y"/><p xmlns="urn:y"/></item>'
    assert event_items(event("pubsub.x", two), "pubsub.x") is None  # two payloads
    assert event_items(event("pubsub.x", '<retract id="1"/>'), "pubsub.x") is None
    assert event_items(stanza('<iq type="set" from="pubsub.x"/>'), "pubsub.x") is None
    deletion = (
        f'<message from="pubsub.x"><event xmlns="{EVENT}"><delete node="n"/></event></message>'
    )
    assert event_items(stanza(deletion), "pubsub.x") is None
