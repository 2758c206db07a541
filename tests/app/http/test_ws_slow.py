"""A stuck client cannot stall a document: its queue fills, it is closed with 4408, and the
others keep editing throughout.

The stuck client is a real socket that stops reading: ``max_queue=1`` makes websockets stop
reading from TCP at once, so the kernel buffers fill, then the server's transport, then the
member's queue. Large incompressible revisions fill them in a few dozen steps. (A tiny
SO_RCVBUF would fill them sooner, but it also fixes a tiny TCP window, and reading the backlog
afterwards would take minutes.)
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import (
    WAIT_SECONDS,
    LiveServer,
    closed_with,
    create_document,
    join,
    server_text,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

QUEUE_LIMIT = 8
CHUNK = 100_000  # characters replaced by every big edit: each revision carries ~200 kB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("ws-slow"), send_queue_limit=QUEUE_LIMIT) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


def noise(rng: random.Random, length: int) -> str:
    # Incompressible, so neither side's buffers are helped by compression.
    return "".join(rng.choices(string.ascii_letters, k=length))


async def test_a_stuck_client_is_closed_4408_and_the_others_keep_editing(
    server: LiveServer,
) -> None:
    rng = random.Random(4408)
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, noise(rng, CHUNK))

    stuck = await connect(
        f"{server.ws_url}/ws/{doc_id}",
        proxy=None,
        compression=None,
        max_queue=1,  # stop reading from the socket at once when nobody reads messages
        max_size=None,
        ping_interval=None,
    )
    writer = WSClient(server.ws_url, doc_id, SyncClient("writer"), name="Writer")
    reader = WSClient(server.ws_url, doc_id, SyncClient("reader"), name="Reader")
    async with stuck, writer, reader:
        joined, _, _ = await join(stuck, "stuck", name="Stuck")
        stuck_session = joined["session"]
        await writer.wait_synced(WAIT_SECONDS)
        await reader.wait_synced(WAIT_SECONDS)
        assert stuck_session in reader.people
        # From now on nobody reads from `stuck`.

        big_edits = 0
        while stuck_session in reader.people:
            assert big_edits < 200, "the stuck client was never dropped"
            writer.replace(0, CHUNK, noise(rng, CHUNK))
            await writer.wait_synced(WAIT_SECONDS)
            big_edits += 1
        assert big_edits > QUEUE_LIMIT

        # The stuck client is still not reading, and the document does not care.
        for i in range(10):
            reader.replace(len(reader.text), 0, f" r{i}")
            writer.replace(0, 0, f"w{i} ")
        await writer.wait_synced(WAIT_SECONDS)
        await reader.wait_synced(WAIT_SECONDS)
        await writer.wait_synced(WAIT_SECONDS)
        rev, text = await server_text(server, doc_id)
        assert reader.text == writer.text == text
        assert reader.client.rev == rev

        # When it reads again it finds what was queued before the drop, then the close.
        code, reason = await closed_with(stuck, WAIT_SECONDS)
        assert code == 4408
        assert "slow" in reason
