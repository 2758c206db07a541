"""``WSClient``'s resend deadline: an overdue answer makes it send again, and a client owed
nothing sleeps (no timer armed, nothing sent).

The server here is a script on ``websockets``' own server, for this narrow purpose: it must
withhold an acknowledgement on purpose, which a real server never does. The real server's
side of resending (rate-limited edits sent again and none lost) is tested in
``tests/app/http/test_ws_protocol.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from sdk.websocket import WSClient
from sync import patches
from sync.client import SyncClient
from sync.text import checksum

RESEND_AFTER = 0.3


class ScriptedServer:
    """Answers the join with an empty document and pings with pongs, withholds the answer to
    the first copy of each edit and acknowledges the second."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.text = ""
        self.rev = 0

    async def handle(self, socket: ServerConnection) -> None:
        async for raw in socket:
            message = json.loads(raw)
            self.received.append(message)
            if message["type"] == "join":
                await socket.send(
                    json.dumps(
                        {
                            "type": "joined",
                            "session": "s1",
                            "person": {"session": "s1", "name": "Tester"},
                            "doc": {"title": "Script"},
                            "people": [],
                            "limits": {},
                        }
                    )
                )
                snapshot = {"type": "snapshot", "rev": 0, "text": "", "last_seq": 0}
                await socket.send(json.dumps({**snapshot, "checksum": checksum("")}))
            elif message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong", "at": message["at"]}))
            elif message["type"] == "edit":
                copies = [m for m in self.received if m.get("seq") == message["seq"]]
                if len(copies) < 2:
                    continue  # the first copy goes unanswered
                self.text, _ = patches.apply_patch(self.text, patches.parse_patch(message["patch"]))
                self.rev += 1
                revision = {
                    "type": "revision",
                    "rev": self.rev,
                    "base": message["base"],
                    "author": "Tester",
                    "client": message["client"],
                    "seq": message["seq"],
                    "patch": message["patch"],
                    "checksum": checksum(self.text),
                }
                await socket.send(json.dumps(revision))


def test_an_overdue_edit_is_sent_again_and_an_idle_client_arms_no_timer() -> None:
    async def run() -> None:
        script = ScriptedServer()
        async with serve(script.handle, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = WSClient(
                f"ws://127.0.0.1:{port}", "doc", SyncClient("c1"), resend_after=RESEND_AFTER
            )
            await client.start()
            try:
                await client.wait_synced(timeout=5)
                # Joined and answered: nothing is owed, so nothing is scheduled.
                await asyncio.sleep(RESEND_AFTER * 1.5)
                assert client._timer is None

                started = asyncio.get_running_loop().time()
                client.replace(0, 0, "hello")
                await client.wait_synced(timeout=5)
                waited = asyncio.get_running_loop().time() - started
                edits = [m for m in script.received if m["type"] == "edit"]
                assert [(m["seq"], m["base"]) for m in edits] == [(1, 0), (1, 0)]
                assert waited >= RESEND_AFTER * 0.9  # sent again only once overdue
                assert client.text == script.text == "hello"

                # Acknowledged: the timer, armed for the edit, lapses and is not armed again,
                # and nothing more is sent however long the client idles.
                await asyncio.sleep(RESEND_AFTER * 2)
                assert client._timer is None
                count = len(script.received)
                await asyncio.sleep(RESEND_AFTER * 2)
                assert len(script.received) == count, script.received[count:]
            finally:
                await client.stop()

    asyncio.run(run())
