"""What the bus delivers to an instance's rooms (``RoomRegistry.revisions_heard``): the store
is the truth. A revision heard that the store does not have (forged, garbled, not folding)
never reaches the room, and the document keeps taking edits. What the bus vouches one of our
instances published is folded as heard, without a store read, as far as it checks out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from app.core.registry import RoomRegistry
from app.core.rooms import Room
from app.core.store import AppendResult, Commit
from sync.protocol import Revision
from sync.server import Sequencer
from tests.sync.helpers import edit_on

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def open_room(client: httpx.AsyncClient, app: FastAPI, doc_id: str) -> AsyncIterator[Room]:
    """A new document holding "hello", its room held open for the block."""
    response = await client.post("/api/documents", json={"id": doc_id, "text": "hello"})
    assert response.status_code == 201, response.text
    rooms: RoomRegistry = app.state.rooms
    room = await rooms.acquire(doc_id)
    try:
        yield room
    finally:
        await rooms.release(room)


async def test_revisions_the_store_does_not_have_change_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    rooms: RoomRegistry = app.state.rooms
    async with open_room(client, app, "heard") as room:
        # The next revision, valid in every way, but never committed: what a forged event
        # carried. Folded in, it would put the room ahead of the database for good.
        forged = Sequencer("hello", 0).submit(edit_on("hello", 0, "mallory", 1, 0, 0, "X"), "M")
        await rooms.revisions_heard("heard", [forged.revision])
        assert (room.sequencer.rev, room.sequencer.text) == (0, "hello")
        # One that does not even fold (its checksum is wrong).
        garbled = dataclasses.replace(forged.revision, checksum="5:0000000000000000")
        await rooms.revisions_heard("heard", [garbled])
        assert (room.sequencer.rev, room.sequencer.text) == (0, "hello")

        # Edits go on: none is refused as busy.
        for seq, word in enumerate((" world", "!"), start=1):
            text = room.sequencer.text
            edit = edit_on(text, room.sequencer.rev, "ann", seq, len(text), 0, word)
            outcome = await room.submit(edit, "Ann")
            assert outcome.revision.rev == seq
        assert room.sequencer.text == "hello world!"
    text = (await client.get("/api/documents/heard/text")).json()
    assert (text["rev"], text["text"]) == (2, "hello world!")


async def commit_elsewhere(room: Room, sequencer: Sequencer, words: list[str]) -> list[Revision]:
    """Revisions another instance sequenced (on its own copy, ``sequencer``) and committed to
    the shared store, which ``room`` has not heard of."""
    revisions = []
    for word in words:
        text = sequencer.text
        edit = edit_on(text, sequencer.rev, "bee", sequencer.rev + 1, len(text), 0, word)
        outcome = sequencer.submit(edit, "Bee")
        commit = Commit(outcome.revision, outcome.op, sequencer.text)
        assert await room.store.append(room.doc_id, [commit]) is AppendResult.APPENDED
        revisions.append(outcome.revision)
    return revisions


def count_store_reads(room: Room, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The store reads this task makes from now on. Other tasks' are not counted: a room
    that opens has the bus catch it up from the store in the background, and on a loaded
    machine that catch-up was once still reading while the test committed "elsewhere"
    (reads after 1 and 2, in CI with two workers)."""
    reads: list[int] = []
    read: Callable[[str, int, int], Awaitable[list[Revision]]] = room.store.revisions_after
    test = asyncio.current_task()

    async def counted(doc_id: str, after: int, limit: int) -> list[Revision]:
        if asyncio.current_task() is test:
            reads.append(after)
        return await read(doc_id, after, limit)

    monkeypatch.setattr(room.store, "revisions_after", counted)
    return reads


async def test_revisions_an_instance_published_fold_without_a_store_read(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    rooms: RoomRegistry = app.state.rooms
    async with open_room(client, app, "vouched") as room:
        elsewhere = Sequencer("hello", 0)
        first = await commit_elsewhere(room, elsewhere, [" big", " wide"])
        reads = count_store_reads(room, monkeypatch)
        await rooms.revisions_heard("vouched", first, from_instance=True)
        assert (room.sequencer.rev, room.sequencer.text) == (2, "hello big wide")
        assert reads == []
        # Heard again (an old item, or one already folded from an answer): nothing happens.
        await rooms.revisions_heard("vouched", first, from_instance=True)
        assert room.sequencer.rev == 2 and reads == []

        # A gap (revision 3 never heard): what lies between comes from the store.
        later = await commit_elsewhere(room, elsewhere, [" world", "!"])
        await rooms.revisions_heard("vouched", later[1:], from_instance=True)
        assert (room.sequencer.rev, room.sequencer.text) == (4, "hello big wide world!")
        assert reads[0] == 2  # from where the room was (then until the store has no more)
        del reads[:]

        # Vouched for, but garbled on the way: not folded; the store has the truth.
        (real,) = await commit_elsewhere(room, elsewhere, ["?"])
        garbled = dataclasses.replace(real, checksum="22:0000000000000000")
        await rooms.revisions_heard("vouched", [garbled], from_instance=True)
        assert (room.sequencer.rev, room.sequencer.text) == (5, "hello big wide world!?")
        assert reads[:1] == [4]
