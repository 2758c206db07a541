"""Typing at one spot over real WebSockets: each person's run stays in one piece.

A real server (SQLite, the WebSocket endpoint, the store's ``intent`` column) and real
clients (``sdk.websocket.WSClient`` driving the Python engine) type fast, all at one
position, forwards or backwards: on loopback a round trip takes about a millisecond, so a key
every two milliseconds keeps several of each person's letters in flight or buffered while the
others' arrive (without intents this interleaves every time). An edit's ``intent`` travels from the
client's message to the revision everyone receives, and one without it (an older client) is
still served as before.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest

from sdk.backoff import Backoff
from sdk.websocket import WSClient
from sync import ops, patches
from sync.client import SyncClient
from sync.intent import Intent
from tests.app.live import (
    WAIT_SECONDS,
    LiveServer,
    create_document,
    join,
    of_type,
    open_socket,
    receive_until,
    server_text,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

FAST = Backoff(initial=0.02, maximum=0.3)
BLOCKS = (0x4E00, 0x0410, 0x05D0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("ws-intent")) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


class OldClient(SyncClient):
    """A client from before intents: its edits carry no ``intent`` field."""

    def edit(self, op: ops.Op) -> None:
        super().edit(op)
        self._buffer_intent = Intent.LEGACY


async def type_run(ws: WSClient, block: int, forward: bool, letters: list[str]) -> None:
    for n in range(24):
        text = ws.text
        # After (forwards) or before (backwards) the letter typed last; first at the spot.
        last = letters[-1] if letters else None
        at = text.index("[") + 1 if last is None else text.index(last) + int(forward)
        letter = chr(block + n)
        ws.replace(at, 0, letter)
        letters.append(letter)
        await asyncio.sleep(0.002)


@pytest.mark.parametrize("directions", [(True, True), (False, False), (True, False, True)])
async def test_people_typing_at_one_spot_keep_their_runs_whole(
    server: LiveServer, directions: tuple[bool, ...]
) -> None:
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, "before [] after")
    everyone = [
        WSClient(server.ws_url, doc_id, SyncClient(f"t{i}-{uuid.uuid4().hex[:6]}"), backoff=FAST)
        for i in range(len(directions))
    ]
    for ws in everyone:
        await ws.start()
    try:
        await asyncio.gather(*(ws.wait_synced(WAIT_SECONDS) for ws in everyone))
        typed: list[list[str]] = [[] for _ in everyone]
        await asyncio.gather(
            *(type_run(ws, BLOCKS[i], directions[i], typed[i]) for i, ws in enumerate(everyone))
        )
        for _ in range(2):
            await asyncio.gather(*(ws.wait_synced(WAIT_SECONDS) for ws in everyone))
        _, text = await server_text(server, doc_id)
        assert all(ws.text == text for ws in everyone)
        for letters, forward in zip(typed, directions, strict=True):
            run = "".join(letters if forward else reversed(letters))
            assert run in text, f"{run!r} is split in {text!r}"
    finally:
        await asyncio.gather(*(ws.stop() for ws in everyone))


async def test_intent_travels_to_the_revision_and_old_clients_still_edit(
    server: LiveServer,
) -> None:
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, "ab")
    async with await open_socket(server, doc_id) as ws:
        _, rev, text = await join(ws, "raw-intent")
        op = ops.replace(len(text), 1, "", "X")
        message = {
            "type": "edit",
            "base": rev,
            "client": "raw-intent",
            "seq": 1,
            "patch": patches.patch_text(text, op),
            "intent": "forward",
        }
        await ws.send(json.dumps(message))
        revision = await receive_until(ws, of_type("revision", seq=1))
        assert revision["intent"] == "forward"
        # Without the field (an older client): applied, and its revision carries none.
        op = ops.replace(3, 2, "", "Y")
        old = {**message, "seq": 2, "base": rev + 1, "patch": patches.patch_text("aXb", op)}
        del old["intent"]
        await ws.send(json.dumps(old))
        revision = await receive_until(ws, of_type("revision", seq=2))
        assert "intent" not in revision
        await ws.send(json.dumps({**message, "seq": 3, "intent": "sideways"}))
        error = await receive_until(ws, of_type("error", code="bad-message"))
        assert "'intent' must be" in error["message"] and error["seq"] == 3
    assert (await server_text(server, doc_id))[1] == "aXYb"


async def test_an_old_client_among_new_ones_converges(server: LiveServer) -> None:
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, "before [] after")
    engines = [SyncClient(f"n-{uuid.uuid4().hex[:6]}"), OldClient(f"o-{uuid.uuid4().hex[:6]}")]
    everyone = [WSClient(server.ws_url, doc_id, e, backoff=FAST) for e in engines]
    for ws in everyone:
        await ws.start()
    try:
        await asyncio.gather(*(ws.wait_synced(WAIT_SECONDS) for ws in everyone))
        typed: list[list[str]] = [[], []]
        await asyncio.gather(
            *(type_run(ws, BLOCKS[i], True, typed[i]) for i, ws in enumerate(everyone))
        )
        for _ in range(2):
            await asyncio.gather(*(ws.wait_synced(WAIT_SECONDS) for ws in everyone))
        _, text = await server_text(server, doc_id)
        assert all(ws.text == text for ws in everyone)
        assert "".join(typed[0]) in text  # the new client's forward run
        assert not any(ws.client.rejected for ws in everyone)
    finally:
        await asyncio.gather(*(ws.stop() for ws in everyone))
