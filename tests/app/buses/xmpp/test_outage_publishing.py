"""After an outage the bridge publishes everything committed meanwhile: however many
revisions, and for documents closed here before the server came back too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.buses.xmpp.bridge import MAX_REPUBLISH, XmppBridge
from tests.app.buses.support import Instance, XmppBackend, eventually, new_doc
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = [needs_prosody, pytest.mark.anyio]


@pytest.fixture
async def xmpp(xmpp_server: XmppServerForTests) -> AsyncIterator[XmppBackend]:
    backend = XmppBackend(xmpp_server)
    try:
        yield backend
    finally:
        await backend.close()


def bridge_of(instance: Instance) -> XmppBridge:
    assert isinstance(instance.bus, XmppBridge)
    return instance.bus


async def test_every_revision_of_a_long_outage_is_published(xmpp: XmppBackend) -> None:
    a, b = await xmpp.instance("a"), await xmpp.instance("b")
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    a.commit(doc, 2)
    await eventually(lambda: b.host.revs(doc) == [1, 2], "b hears r1-r2")

    await xmpp.outage(a)
    outage = MAX_REPUBLISH + 500  # more than used to be replaced by a snapshot
    a.commit(doc, outage)
    assert bridge_of(a).backlog() == outage
    assert bridge_of(a).report()["state"] == "stopped"
    status, detail = bridge_of(a).health()
    assert status == "down" and f"publishing a backlog of {outage} revision(s)" in detail

    await xmpp.recover(a)
    head = 2 + outage
    await eventually(lambda: b.host.revs(doc)[-1:] == [head], f"b hears r{head}", 60)
    heard = b.host.revs(doc)
    assert sorted(set(heard)) == list(range(1, head + 1)), "a revision was never published"
    # b may hear the last item before a hears the server accept it.
    await eventually(lambda: bridge_of(a).backlog() == 0, "a has nothing left to publish")
    assert bridge_of(a).report()["state"] == "connected"


async def test_a_document_closed_during_an_outage_is_still_published(
    xmpp: XmppBackend,
) -> None:
    a, b = await xmpp.instance("a"), await xmpp.instance("b")
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    a.commit(doc, 1)
    await eventually(lambda: b.host.revs(doc) == [1], "b hears r1")

    await xmpp.outage(a)
    a.commit(doc, 5)
    await a.close(doc)  # everyone left; the room is unloaded before the server is back
    assert bridge_of(a).backlog() == 5

    await xmpp.recover(a)
    await eventually(lambda: b.host.revs(doc) == [1, 2, 3, 4, 5, 6], "b hears r2-r6")
    await eventually(lambda: bridge_of(a).backlog() == 0, "a has nothing left to publish")
