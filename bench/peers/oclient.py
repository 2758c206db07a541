"""Our client for the benchmark (runs in the peers' venv, with the project root on the path):
``sdk.websocket.WSClient`` driving a ``sync.client.SyncClient``, as a bot or a test would.

``TracingClient`` only watches the engine through its public methods. ``flush()`` is where an
edit gets its sequence number, so the markers typed since the last edit went out are tagged
with it; ``receive()`` is where a revision is folded in, so that is the moment it arrived.
The engine keeps one edit in flight and sends what was typed meanwhile as one edit when the
acknowledgement comes, so one sequence number may carry several markers.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.peers.plan import MARKER, now
from sdk.websocket import WSClient
from sync import ops
from sync.client import SyncClient
from sync.protocol import ClientMessage, Edit, Revision, ServerMessage, Snapshot


class TracingClient(SyncClient):
    def __init__(self, client_id: str, *, track_arrivals: bool) -> None:
        super().__init__(client_id)
        self.track_arrivals = track_arrivals
        self.untagged: list[str] = []  # markers typed, not yet in an edit
        self.seq_of: dict[str, int] = {}
        self.edits_sent = 0
        self._last_seq = 0
        # author -> [(seq, time)]: when each of the author's edits was folded in here
        self.arrivals: dict[str, list[tuple[int, float]]] = {}
        self.snapshots: list[tuple[float, list[str]]] = []  # markers that came in a snapshot
        self.revisions = 0  # remote revisions folded in
        self.on_applied: Callable[[], None] | None = None

    def flush(self) -> list[ClientMessage]:
        messages = super().flush()
        for message in messages:
            if isinstance(message, Edit) and message.op_id.seq > self._last_seq:
                self._last_seq = message.op_id.seq
                self.edits_sent += 1
                for name in self.untagged:
                    self.seq_of[name] = message.op_id.seq
                self.untagged.clear()
        return messages

    def receive(self, message: ServerMessage) -> list[ClientMessage]:
        before = self.rev
        replies = super().receive(message)
        if self.rev != before:
            if isinstance(message, Revision) and message.op_id.client != self.client_id:
                self.revisions += 1
                if self.track_arrivals:
                    author = message.op_id.client
                    self.arrivals.setdefault(author, []).append((message.op_id.seq, now()))
            elif isinstance(message, Snapshot) and self.track_arrivals and message.text:
                names = [m.group(0) for m in MARKER.finditer(message.text)]
                self.snapshots.append((now(), names))
            if self.on_applied is not None:
                self.on_applied()
        return replies


class OursPeer:
    """One connection to our server, for one document."""

    def __init__(self, url: str, doc_id: str, client_id: str, *, track_arrivals: bool) -> None:
        self.client = TracingClient(client_id, track_arrivals=track_arrivals)
        # No permessage-deflate, for every server alike (see docs/benchmarks-peers.md).
        self.ws = WSClient(
            url,
            doc_id,
            self.client,
            name=client_id,
            connect_options={"compression": None},
            open_timeout=30,
        )

    @property
    def text(self) -> str:
        return self.client.text

    @property
    def length(self) -> int:
        return len(self.client.text)

    async def connect(self, timeout: float) -> None:
        await self.ws.start()
        await self.ws.wait_synced(timeout)

    async def close(self) -> None:
        await self.ws.stop()

    def insert(self, position: int, name: str) -> None:
        self.client.untagged.append(name)
        self.ws.replace(position, 0, name)

    async def flush(self) -> None:
        """Nothing to do: ``WSClient`` sends as soon as the engine lets it."""

    def splice(self, position: int, deleted: int, inserted: str, *, send: bool = True) -> None:
        if send:
            self.ws.replace(position, deleted, inserted)
        else:
            self.client.replace(position, deleted, inserted)

    def send_buffered(self) -> None:
        """Send what ``splice(..., send=False)`` typed, if no edit is in flight."""
        self.ws.edit(ops.identity(len(self.client.text)))
