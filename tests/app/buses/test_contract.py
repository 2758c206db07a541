"""The ``RevisionBus`` contract (``app/core/bus.py``), run against every adapter.

Each test takes ``pair``: instances ``a`` and ``b`` on the memory hub, then on the real test
Prosody (see ``conftest.py``). A test never waits a fixed time: what must arrive is polled
for, and what must not arrive is checked after a fence (``support.fence``), a presence sent
after it that the receiver has heard.
"""

from __future__ import annotations

import secrets

import pytest

from app.buses.memory import MemoryBus
from app.core.bus import PresenceEvent
from app.core.chat import ChatMessage, ChatRelay
from sdk.xmpp.nodes import ITEM_BUDGET
from tests.app.buses.support import Backend, Instance, eventually, fence, new_doc

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def person(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "session": f"s{secrets.token_hex(6)}",
        "name": "Ann <&> ]]>\t😀",
        "color": "#1a2B3c",
        "cursor": None,
        "anchor": None,
        "rev": 0,
    }
    return {**base, **fields}


def assert_in_order_and_complete(heard: list[int], first: int, last: int) -> None:
    assert heard == sorted(heard), f"heard out of order: {heard}"
    assert set(heard) == set(range(first, last + 1)), f"heard {heard}, not {first}..{last}"


async def hears_presence(instance: Instance, doc_id: str, count: int) -> None:
    def heard() -> bool:
        return len(instance.host.presence(doc_id)) >= count

    await eventually(heard, f"presence event {count} heard")


async def test_health_is_ok_when_connected(pair: tuple[Instance, Instance]) -> None:
    for instance in pair:
        state, detail = instance.bus.health()
        assert state == "ok", detail


async def test_revisions_reach_a_subscriber_in_order_and_not_their_publisher(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    assert b.host.of("caught_up", doc), "subscribing reads what was missed"
    published = []
    for count in (3, 1, 5, 2, 4):  # several publish calls, some while others are in flight
        published += a.commit(doc, count)
    await eventually(lambda: set(b.host.revs(doc)) >= set(range(1, 16)), "b hears r1-r15")
    assert_in_order_and_complete(b.host.revs(doc), 1, 15)
    assert {r.rev: r for r in b.host.revisions(doc)} == {r.rev: r for r in published}
    # The bus vouches that an instance published them (XMPP: the server names the publisher,
    # the service account), so b's rooms may fold them in without reading the store.
    assert b.host.vouched == [True] * len(b.host.revs(doc))
    await fence(b, a, doc)
    assert a.host.revs(doc) == [], "a heard its own revisions"


async def test_a_revision_too_big_for_one_item_is_heard_whole(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    (big,) = a.commit(doc, 1, insert="x" * (ITEM_BUDGET + 1000))
    await eventually(lambda: b.host.revs(doc) == [1], "b hears r1")
    assert b.host.revisions(doc) == [big]
    # On XMPP it came in parts, and each part could have come from anyone on the node: the
    # bus does not vouch for it (the store serves it). In process, only instances publish.
    assert b.host.vouched == [isinstance(a.bus, MemoryBus)]


async def test_an_unsubscribed_document_is_not_heard(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    doc, other = new_doc(), new_doc()
    for instance in pair:
        await instance.open(doc)
        await instance.open(other)
    a.commit(doc, 1)
    await eventually(lambda: b.host.revs(doc) == [1], "b hears r1")
    await b.close(doc)
    a.commit(doc, 2)
    a.commit(other, 1)
    await eventually(lambda: b.host.revs(other) == [1], "b hears the other document")
    a.bus.relay_presence(doc, PresenceEvent("join", person()))
    await a.bus.document_renamed(doc, "Not for b")
    await fence(a, b, other)
    assert b.host.revs(doc) == [1]
    assert b.host.presence(doc) == [] and b.host.of("renamed", doc) == []


async def test_presence_join_update_leave(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    joined = person()
    moved = {**joined, "cursor": 12, "anchor": 7, "rev": 3, "name": "Ann\r\nB", "color": "#ffffff"}
    sent = [PresenceEvent("join", joined), PresenceEvent("update", moved)]
    sent.append(PresenceEvent("leave", moved))
    for count, event in enumerate(sent, start=1):  # one at a time: nothing to coalesce
        a.bus.relay_presence(doc, event)
        await hears_presence(b, doc, count)
    heard = b.host.presence(doc)
    assert [(e.event, e.person) for e in heard] == [(e.event, e.person) for e in sent]
    assert {e.origin for e in heard} == {a.identity()}
    await fence(b, a, doc)
    assert a.host.presence(doc) == [], "a heard its own people"


async def test_an_instance_that_opens_later_hears_who_is_already_here(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    doc = new_doc()
    # Ann is on instance a, and was announced before b listened: b never heard that.
    ann = person(name="Ann", cursor=4)
    a.host.here[doc] = [ann]
    await a.open(doc)
    a.bus.relay_presence(doc, PresenceEvent("join", ann))
    await b.open(doc)
    # Opening, b asks; a says again who it has, without Ann doing anything.
    await eventually(
        lambda: any(e.person.get("session") == ann["session"] for e in b.host.presence(doc)),
        "b hears Ann",
    )
    heard = [e for e in b.host.presence(doc) if e.person.get("session") == ann["session"]]
    assert heard[-1].event in ("join", "update")
    assert heard[-1].person == ann
    assert heard[-1].origin == a.identity()


async def test_a_burst_of_presence_ends_with_the_newest(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    first = person()
    a.bus.relay_presence(doc, PresenceEvent("join", first))
    for cursor in range(1, 31):  # without yielding: the bus may send only the newest
        a.bus.relay_presence(doc, PresenceEvent("update", {**first, "cursor": cursor}))
    await eventually(
        lambda: [e.person["cursor"] for e in b.host.presence(doc)][-1:] == [30], "b hears the end"
    )
    heard = b.host.presence(doc)
    assert heard[0].event == "join"
    cursors = [e.person["cursor"] or 0 for e in heard]
    assert cursors == sorted(cursors)
    a.bus.relay_presence(doc, PresenceEvent("leave", {**first, "cursor": 30}))
    await eventually(lambda: b.host.presence(doc)[-1].event == "leave", "b hears the leave")


async def test_presence_is_not_kept_for_a_late_subscriber(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    doc, other = new_doc(), new_doc()
    await a.open(doc)
    for instance in pair:
        await instance.open(other)
    a.bus.relay_presence(doc, PresenceEvent("join", person()))
    await fence(a, b, other)  # sent after the join: the join is through
    await b.open(doc)
    await fence(a, b, doc)
    assert b.host.presence(doc) == []


async def test_a_rename_reaches_the_other_instance(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    title = "Q3 plan <&> ]]> é\t😀 " + "x" * 150
    await a.bus.document_renamed(doc, title)
    await eventually(lambda: b.host.of("renamed", doc) == [title], "b hears the rename")
    await fence(b, a, doc)
    assert a.host.of("renamed", doc) == [], "a heard its own rename"


async def test_a_deletion_reaches_the_other_instance(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    doc, other = new_doc(), new_doc()
    for instance in pair:
        await instance.open(doc)
        await instance.open(other)
    a.commit(doc, 2)
    await eventually(lambda: b.host.revs(doc) == [1, 2], "b hears r1-r2")
    await a.bus.document_deleted(doc)  # a still listens to doc: it must not hear this
    await eventually(lambda: b.host.of("deleted", doc) == [None], "b hears the deletion")
    await fence(b, a, other)
    assert a.host.of("deleted", doc) == [], "a heard its own deletion"
    assert b.host.of("deleted", other) == []


async def test_publishing_while_down_never_fails_and_catches_up(
    backend: Backend, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    a.commit(doc, 2)
    await eventually(lambda: b.host.revs(doc) == [1, 2], "b hears r1-r2")
    await backend.outage(a)
    for count in (1, 3):
        a.commit(doc, count)  # raises nothing, and returns at once
    a.bus.relay_presence(doc, PresenceEvent("join", person()))
    await backend.recover(a)
    await eventually(lambda: set(b.host.revs(doc)) >= set(range(1, 7)), "b hears r3-r6")
    assert_in_order_and_complete(b.host.revs(doc), 1, 6)
    a.commit(doc, 1)
    await eventually(lambda: b.host.revs(doc)[-1:] == [7], "b hears r7")


async def test_an_instance_going_away_is_told_to_the_others(
    backend: Backend, pair: tuple[Instance, Instance]
) -> None:
    # A crash is a connection that ends without a word; a stop without a leave relayed for
    # each person is the same to the others. Either way they learn that a's people are gone.
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    a.bus.relay_presence(doc, PresenceEvent("join", person()))
    await hears_presence(b, doc, 1)
    origin = b.host.presence(doc)[0].origin
    assert origin == a.identity()
    await backend.outage(a)
    await eventually(lambda: origin in b.host.of("gone", ""), "b hears that a is gone")
    assert a.identity() not in a.host.of("gone", "")


async def test_a_listener_back_from_an_outage_catches_up(
    backend: Backend, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    await backend.outage(b)
    a.commit(doc, 3)  # b may miss these: its host reads them from the store
    seen = len(b.host.heard)
    await backend.recover(b)
    await eventually(
        lambda: any(h.kind == "caught_up" and h.doc_id == doc for h in b.host.heard[seen:]),
        "b is told to catch up",
    )
    a.commit(doc, 2)
    await eventually(lambda: {4, 5} <= set(b.host.revs(doc)), "b hears r4-r5")
    revs = b.host.revs(doc)
    assert revs == sorted(revs)


class ChatHeard:
    """A ``ChatHost`` that keeps what it hears."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, ChatMessage, bool]] = []

    async def chat_heard(self, doc_id: str, messages: list[ChatMessage], *, history: bool) -> None:
        self.lines.extend((doc_id, message, history) for message in messages)


async def test_a_chat_line_reaches_the_other_instance_named(
    pair: tuple[Instance, Instance],
) -> None:
    """Buses that carry chat (``ChatRelay``): a line said on one instance reaches the other
    with its writer's name, text and color, once; not its sayer."""
    a, b = pair
    assert isinstance(a.bus, ChatRelay) and isinstance(b.bus, ChatRelay)
    heard_a, heard_b = ChatHeard(), ChatHeard()
    a.bus.attach_chat(heard_a)
    b.bus.attach_chat(heard_b)
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    line = ChatMessage(
        id=f"c-{secrets.token_hex(8)}",
        name="Ann <&> ]]>\t😀",
        text="first <b>line</b> & ]]>\nsecond 😀",
        at=1764513960123,
        color="#1a2b3c",
    )
    a.bus.send_chat(doc, line)  # said before a is in the room, if it is not yet: said once in

    def b_heard() -> list[ChatMessage]:
        return [m for d, m, _ in heard_b.lines if d == doc and m.id == line.id]

    await eventually(lambda: bool(b_heard()), "b hears the chat line")
    got = b_heard()[0]
    assert (got.name, got.text, got.color, got.source) == (line.name, line.text, "#1a2b3c", "page")
    await fence(b, a, doc)
    assert [m for d, m, _ in heard_a.lines if m.id == line.id] == [], "a heard its own line"
