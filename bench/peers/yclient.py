"""A y-websocket client in Python (runs in the peers' venv): a pycrdt ``Doc`` with one ``Text``,
synced over one WebSocket with the y-protocols sync messages, as y-websocket's browser
provider does (without awareness, which the benchmark does not exercise).

On connecting, client and server each send SyncStep1 (their state vector) and answer the
other's with SyncStep2 (what it lacks); after that every local transaction goes out as one
Update message, and the server relays every update it applies to every client, the author
included. An arrival is the moment a marker appears in the text: the Text's change event of
an applied message lists what it inserted. An update that arrives before one it depends on
is held back by pycrdt, and its markers appear (and are stamped) when it is integrated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pycrdt import (
    Doc,
    Text,
    TextEvent,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.peers.plan import MARKER, now


class YPeer:
    """One client of one room. ``arrivals[marker]`` is when the marker appeared here."""

    def __init__(self, url: str, client_id: int, *, track_arrivals: bool) -> None:
        self.url = url
        self.client_id = client_id
        self.doc = Doc(client_id=client_id)
        self.ytext = self.doc.get("text", type=Text)
        self.track_arrivals = track_arrivals
        self.arrivals: dict[str, float] = {}
        self.on_applied: Callable[[], None] | None = None
        self.synced = asyncio.Event()
        self.received = 0  # update messages applied
        self.sent = 0  # update messages sent
        self._outgoing: list[bytes] = []
        self._applying = False
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.doc.observe(self._on_transaction)
        if track_arrivals:
            self.ytext.observe(self._on_text)

    @property
    def text(self) -> str:
        return str(self.ytext)

    @property
    def length(self) -> int:
        return len(self.ytext)

    async def connect(self, timeout: float) -> None:
        """Connect and wait for the server's SyncStep2 (its whole document)."""
        async with asyncio.timeout(timeout):
            self._ws = await connect(self.url, max_size=None, compression=None, proxy=None)
            self._reader = asyncio.create_task(self._read(self._ws))
            await self._ws.send(create_sync_message(self.doc))
            await self.synced.wait()

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._reader

    # -- local edits ----------------------------------------------------------------------

    def insert(self, position: int, text: str) -> None:
        self.ytext.insert(position, text)

    def splice(self, position: int, deleted: int, inserted: str) -> None:
        if deleted:
            del self.ytext[position : position + deleted]
        if inserted:
            self.ytext.insert(position, inserted)

    async def flush(self) -> None:
        """Send every local transaction since the last flush, one Update message each."""
        outgoing, self._outgoing = self._outgoing, []
        assert self._ws is not None
        for update in outgoing:
            await self._ws.send(create_update_message(update))
            self.sent += 1

    def _on_transaction(self, event: TransactionEvent) -> None:
        if not self._applying:
            self._outgoing.append(event.update)

    # -- the server's messages ------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if not isinstance(message, bytes) or message[0] != YMessageType.SYNC:
                    continue  # awareness: not used here
                self._applying = True
                try:
                    reply = handle_sync_message(message[1:], self.doc)
                finally:
                    self._applying = False
                kind = message[1]
                if reply is not None:
                    await ws.send(reply)
                if kind == YSyncMessageType.SYNC_STEP1:
                    continue
                self.received += kind == YSyncMessageType.SYNC_UPDATE
                if kind == YSyncMessageType.SYNC_STEP2:
                    self.synced.set()
                if self.on_applied is not None:
                    self.on_applied()

    def _on_text(self, event: TextEvent) -> None:
        if not self._applying:
            return  # our own edit
        stamp = now()
        for change in event.delta:
            inserted = change.get("insert")
            if isinstance(inserted, str):
                for found in MARKER.finditer(inserted):
                    self.arrivals.setdefault(found.group(0), stamp)
