"""Revisions keep their typing intent across instances (``sync/intent.py``): on the memory hub
and through the real test Prosody, where it travels as the ``intent`` attribute."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sync.intent import Intent
from tests.app.buses.support import Instance, eventually, new_doc

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_a_revision_s_intent_reaches_the_other_instance(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    intents = [Intent.FORWARD, Intent.NONE, Intent.BACKWARD]
    made = a.host.commit(doc, len(intents))
    revisions = [replace(r, intent=i) for r, i in zip(made, intents, strict=True)]
    a.host.committed[doc][-len(revisions) :] = revisions
    a.bus.publish(doc, revisions)
    await eventually(lambda: len(b.host.revs(doc)) >= 3, "b hears r1-r3")
    assert [r.intent for r in b.host.revisions(doc)] == intents
    assert b.host.revisions(doc) == revisions
