"""Every store keeps a revision's typing intent (``sync/intent.py``), and reads revisions
stored before intents (a NULL column) as "none"."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import update

from app.core.store import DocumentStore
from app.stores.sql.models import RevisionRow
from sync.intent import Intent
from tests.app.stores.support import Backend, Doc

pytestmark = pytest.mark.anyio


async def test_a_revision_keeps_its_intent(store: DocumentStore) -> None:
    doc = await Doc.create(store, "d", "[]")
    commits = doc.commits(["[a]", "[ab]", "[cab]", "[xcab]"])
    intents = [Intent.NONE, Intent.FORWARD, Intent.BACKWARD, Intent.NONE]
    batch = [
        replace(c, revision=replace(c.revision, intent=i))
        for c, i in zip(commits, intents, strict=True)
    ]
    await store.append("d", batch)
    doc.accept(batch)
    stored = await store.revisions_after("d", 0, 10)
    assert [r.intent for r in stored] == intents
    assert stored == doc.log
    assert (await store.revision("d", 2)).revision.intent is Intent.FORWARD
    loaded = await store.load("d", history=10)
    assert [r.intent for r in loaded.history] == intents
    assert [r.to_wire().get("intent") for r in stored] == [None, "forward", "backward", None]


async def test_revisions_stored_before_intents_read_as_none(sql_backend: Backend) -> None:
    sql_store = await sql_backend.open_sql()
    try:
        doc = await Doc.create(sql_store, "d", "")
        (commit,) = doc.commits(["a"])
        await sql_store.append("d", [replace(commit, revision=replace(commit.revision, intent=F))])
        async with sql_store.session() as session:
            await session.execute(update(RevisionRow).values(intent=None))
            await session.commit()
        (revision,) = await sql_store.revisions_after("d", 0, 10)
        assert revision.intent is Intent.NONE
    finally:
        await sql_store.close()


F = Intent.FORWARD
