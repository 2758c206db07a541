"""What the bus delivers to an instance's rooms (``RoomRegistry.revisions_heard``): the store
is the truth. A revision heard that the store does not have (forged, garbled, not folding)
never reaches the room, and the document keeps taking edits."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from fastapi import FastAPI

from app.core.registry import RoomRegistry
from sync.server import Sequencer
from tests.sync.helpers import edit_on

pytestmark = pytest.mark.anyio


async def test_revisions_the_store_does_not_have_change_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post("/api/documents", json={"id": "heard", "text": "hello"})
    assert response.status_code == 201, response.text
    rooms: RoomRegistry = app.state.rooms
    room = await rooms.acquire("heard")
    try:
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
    finally:
        await rooms.release(room)
    text = (await client.get("/api/documents/heard/text")).json()
    assert (text["rev"], text["text"]) == (2, "hello world!")
