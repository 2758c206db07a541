"""Editing over real WebSockets: convergence, offline typing, and a server crash.

Every test runs a real uvicorn process and real ``websockets`` clients driving the Python
client engine through :class:`sdk.websocket.WSClient`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdk.backoff import Backoff
from sdk.link import LinkState
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import (
    WAIT_SECONDS,
    LiveServer,
    create_document,
    eventually,
    server_text,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# Pieces that stress code-point positions: combining marks, astral emoji (surrogate pairs in
# JavaScript), a ZWJ sequence, CJK, CRLF line ends.
PIECES = ["a", "é", "e\u0301", "😀", "👩\u200d👩\u200d👧", "中文", "\r\n", " ", "\t", "ﬁ", "Ω"]
FAST = Backoff(initial=0.02, maximum=0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("ws-sync")) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


def new_id() -> str:
    return f"doc-{uuid.uuid4().hex[:12]}"


def clients(server: LiveServer, doc_id: str, count: int, **options: Any) -> list[WSClient]:
    return [
        WSClient(
            server.ws_url,
            doc_id,
            SyncClient(f"c{i}-{uuid.uuid4().hex[:6]}"),
            name=f"Person {i}",
            backoff=FAST,
            **options,
        )
        for i in range(count)
    ]


async def settle(everyone: list[WSClient]) -> None:
    """Quiet: every edit confirmed, then every client caught up with all of them."""
    await asyncio.gather(*(c.wait_synced(WAIT_SECONDS) for c in everyone))
    await asyncio.gather(*(c.wait_synced(WAIT_SECONDS) for c in everyone))


def random_edit(rng: random.Random, ws: WSClient) -> None:
    text = ws.text
    roll = rng.random()
    if roll < 0.3:
        position = 0  # everyone fights over the same spots
    elif roll < 0.5:
        position = len(text)
    else:
        position = rng.randint(0, len(text))
    delete = rng.choice([0, 0, 0, 1, 2, 3])
    delete = min(delete, len(text) - position)
    insert = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3)))
    if delete or insert:
        ws.replace(position, delete, insert)


async def test_five_clients_editing_at_random_converge(server: LiveServer) -> None:
    doc_id = new_id()
    await create_document(server, doc_id, "Start: 中文 e\u0301 😀\r\nline two\r\n")
    everyone = clients(server, doc_id, 5)
    for ws in everyone:
        await ws.start()
    try:
        await asyncio.gather(*(c.wait_synced(WAIT_SECONDS) for c in everyone))

        async def type_randomly(ws: WSClient, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(60):
                random_edit(rng, ws)
                await asyncio.sleep(rng.choice([0, 0, 0.001, 0.005]))

        await asyncio.gather(*(type_randomly(ws, seed) for seed, ws in enumerate(everyone)))
        await settle(everyone)
        rev, text = await server_text(server, doc_id)
        assert rev > 5
        for ws in everyone:
            assert ws.text == text
            assert ws.client.rev == rev
            assert not ws.client.rejected
    finally:
        await asyncio.gather(*(ws.stop() for ws in everyone))


async def test_a_client_that_drops_mid_typing_keeps_its_edits(server: LiveServer) -> None:
    doc_id = new_id()
    await create_document(server, doc_id, "shared\n")
    typist, other = clients(server, doc_id, 2)
    async with typist, other:
        await typist.wait_synced(WAIT_SECONDS)
        await other.wait_synced(WAIT_SECONDS)
        typist_session = typist.session
        assert typist_session in other.people
        typed: list[str] = []

        def type_token(ws: WSClient, token: str) -> None:
            ws.replace(len(ws.text), 0, token)
            typed.append(token)

        for i in range(5):
            type_token(typist, f"<on{i}>")
        # Mid-typing: an edit is in flight and more wait behind it when the socket dies.
        assert typist.client.has_unconfirmed
        typist.pause()
        await eventually(lambda: typist.state is LinkState.OFFLINE, what="going offline")
        # The server noticed the abrupt close: the other person saw us leave.
        await other.wait_until(lambda: typist_session not in other.people, WAIT_SECONDS)
        for i in range(5):
            type_token(typist, f"<off{i}😀>")
        other.replace(0, 0, "other was here\r\n")
        await other.wait_synced(WAIT_SECONDS)
        typist.resume()
        await settle([typist, other])

        rev, text = await server_text(server, doc_id)
        assert typist.text == other.text == text
        assert typist.client.rev == other.client.rev == rev
        assert typist.joins == 2
        for token in typed:
            assert text.count(token) == 1, token
        assert text.startswith("other was here\r\n")
        assert not typist.client.rejected


def batched(metrics: str) -> float:
    """How many commits held more than one revision, from the server's /metrics text."""
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("collab_commit_batch_revisions_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            counts[bound] = float(line.rsplit(" ", 1)[1])
    return counts.get("+Inf", 0.0) - counts.get("1.0", 0.0)


@pytest.mark.parametrize("authors", [3, 16])
async def test_a_crash_loses_no_acknowledged_edit(tmp_path: Path, authors: int) -> None:
    server = LiveServer(tmp_path / "crash")
    server.start()
    try:
        doc_id = new_id()
        await create_document(server, doc_id, "before the crash\n")
        acknowledged: dict[int, str] = {}  # rev -> checksum, as the clients received them

        def record(message: dict[str, Any]) -> None:
            if message.get("type") == "revision":
                known = acknowledged.setdefault(message["rev"], message["checksum"])
                assert known == message["checksum"]

        everyone = clients(server, doc_id, authors, on_message=record, resend_after=1.0)
        for ws in everyone:
            await ws.start()
        typed: dict[str, list[str]] = {ws.client.client_id: [] for ws in everyone}
        stop = asyncio.Event()

        async def type_tokens(ws: WSClient) -> None:
            me = ws.client.client_id
            count = 0
            while not stop.is_set():
                token = f"[{me}:{count}]"
                ws.replace(len(ws.text) if count % 2 else 0, 0, token)
                typed[me].append(token)
                count += 1
                await asyncio.sleep(0.005)

        typing = [asyncio.create_task(type_tokens(ws)) for ws in everyone]
        try:
            await eventually(lambda: len(acknowledged) >= 30, what="30 revisions")
            if authors > 3:
                # Many authors at once: the server commits in batches, and is killed among them.
                async with server.http() as http:
                    metrics = (await http.get("/metrics")).text
                assert batched(metrics) > 0, "no commit held more than one revision"
            server.kill()
            before_crash = dict(acknowledged)
            # Each client's shadow is the text at the newest revision it has: committed.
            shadows = {(ws.client.rev, ws.client.shadow) for ws in everyone}
            # Offline now: everyone keeps typing into their buffers.
            await eventually(
                lambda: all(ws.state is not LinkState.ONLINE for ws in everyone),
                what="every client noticing the crash",
            )
            counts = {me: len(tokens) for me, tokens in typed.items()}
            await eventually(
                lambda: all(len(typed[me]) >= counts[me] + 5 for me in typed),
                what="typing while the server is down",
            )
            await asyncio.to_thread(server.start)  # the clients keep trying meanwhile
            await eventually(
                lambda: all(ws.joins >= 2 and ws.state is LinkState.ONLINE for ws in everyone),
                what="every client reconnecting",
            )
        finally:
            stop.set()
            await asyncio.gather(*typing)
        await settle(everyone)

        rev, text = await server_text(server, doc_id)
        for ws in everyone:
            assert (ws.client.rev, ws.text) == (rev, text)
            assert not ws.client.rejected
        for tokens in typed.values():
            for token in tokens:
                assert text.count(token) == 1, token
        assert "before the crash" in text
        # Every revision any client saw before the crash is in the restarted server's log,
        # with the same text (by checksum).
        assert before_crash
        async with server.http() as http:
            for number, expected in sorted(before_crash.items()):
                response = await http.get(f"/api/documents/{doc_id}/revisions/{number}")
                assert response.status_code == 200, response.text
                assert response.json()["checksum"] == expected, number
            for number, shadow in shadows:
                response = await http.get(f"/api/documents/{doc_id}/text", params={"rev": number})
                assert response.json()["text"] == shadow, number
        await asyncio.gather(*(ws.stop() for ws in everyone))
    finally:
        server.stop()


async def test_a_graceful_restart_with_people_connected(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "graceful")
    server.start()
    try:
        doc_id = new_id()
        await create_document(server, doc_id, "")
        everyone = clients(server, doc_id, 2)
        for ws in everyone:
            await ws.start()
        await settle(everyone)
        everyone[0].replace(0, 0, "before ")
        await settle(everyone)
        # SIGTERM: uvicorn closes the sockets, shuts down, then re-raises the signal.
        assert await asyncio.to_thread(server.stop) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.log()
        assert all(ws.state is not LinkState.ONLINE for ws in everyone)
        assert {ws.close_code for ws in everyone} <= {1001, 1012}
        everyone[1].replace(len(everyone[1].text), 0, "offline")
        await asyncio.to_thread(server.start)
        await settle(everyone)
        assert await server_text(server, doc_id) == (2, "before offline")
        assert all(ws.text == "before offline" and ws.joins == 2 for ws in everyone)
        await asyncio.gather(*(ws.stop() for ws in everyone))
    finally:
        server.stop()
