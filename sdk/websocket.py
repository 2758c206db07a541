"""Drive a :class:`sync.client.SyncClient` over the server's WebSocket, with asyncio.

The engine decides what to send; this module moves it. :class:`WSClient` opens
``/ws/{doc_id}``, joins at the engine's revision, feeds every server message to
:meth:`SyncClient.receive` and sends what comes back, sends local edits as they are made, and
keeps the clock the engine leaves to its caller: an answer overdue for ``resend_after``
seconds (or an edit refused as rate-limited) is sent again. After a drop it reconnects with
backoff and resyncs; edits made meanwhile wait in the engine and go out once caught up. It
also tracks who else is present.

    async with WSClient("ws://127.0.0.1:8000", "notes", SyncClient("bot-1"), name="Bot") as ws:
        await ws.wait_synced()
        ws.replace(0, 0, "Hello ")
        await ws.wait_synced()

One instance serves one document; it is not thread-safe (use it from one event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from sdk.backoff import Backoff
from sdk.link import FATAL_CLOSE_CODES, FATAL_HANDSHAKE_STATUSES, LinkState, SessionEnded
from sync.client import RETRYABLE, ClientState, SyncClient
from sync.errors import SyncError
from sync.ops import Op
from sync.protocol import ClientMessage, Edit, Resync, from_wire

log = logging.getLogger(__name__)

MessageHook = Callable[[dict[str, Any]], None]


class WSClient:
    """One document's live connection for one :class:`SyncClient`.

    ``url`` is the server's base URL (``ws://host:port``; ``http://`` works too).
    ``on_message`` sees every server message, parsed, before the driver handles it.
    ``connect_options`` go to :func:`websockets.asyncio.client.connect` as they are.
    ``token`` is an API token, for a server with accounts (``COLLAB_AUTH=on``).
    """

    def __init__(
        self,
        url: str,
        doc_id: str,
        client: SyncClient,
        *,
        name: str = "Anonymous",
        color: str | None = None,
        resend_after: float = 2.0,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        max_size: int | None = 64 * 1024 * 1024,
        on_message: MessageHook | None = None,
        connect_options: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> None:
        base = url.rstrip("/")
        if base.startswith("http"):
            base = "ws" + base[len("http") :]
        self.url = f"{base}/ws/{quote(doc_id, safe='')}"
        self.doc_id = doc_id
        self.client = client
        self.name = name
        self.color = color
        self.resend_after = resend_after
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.on_message = on_message
        self.connect_options = dict(connect_options or {})
        if token:
            # An API token (made on the account page, or by `collab login`): the server
            # checks it before it accepts the socket, and the edits are the account's.
            headers = dict(self.connect_options.get("additional_headers") or {})
            headers["Authorization"] = f"Bearer {token}"
            self.connect_options["additional_headers"] = headers

        self.state = LinkState.OFFLINE
        self.session: str | None = None  # this connection's session id, from 'joined'
        self.me: dict[str, Any] | None = None  # how the others see us
        self.people: dict[str, dict[str, Any]] = {}  # everyone else present, by session
        self.title: str | None = None
        self.limits: dict[str, Any] = {}
        self.errors: deque[dict[str, Any]] = deque(maxlen=100)  # the latest error messages
        self.joins = 0  # connections that reached 'joined'
        self.close_code: int | None = None  # of the last connection that ended
        self.close_reason = ""

        self._ended: SessionEnded | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._allowed = asyncio.Event()  # cleared while paused
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._deadline = 0.0  # when the answer we wait for is overdue
        # One timer, armed only while something is owed an answer: an idle client (a bot
        # that watches, a reader) costs no wake-ups at all. A service with hundreds of
        # connections in one process polled 20 times a second each before.
        self._timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._tokens = itertools.count(1)
        self._pongs: dict[int, asyncio.Future[bool]] = {}
        self._presence: dict[str, Any] = {}
        self._reached_online = False

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> WSClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._run_task is not None:
            raise RuntimeError(f"the client for '{self.doc_id}' is already running")
        self._allowed.set()
        self._run_task = asyncio.create_task(self._run(), name=f"wsclient-{self.doc_id}")

    async def stop(self) -> None:
        """Close the connection for good; edits not yet confirmed stay in the engine."""
        self._end(SessionEnded("the client was stopped"))
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1000, "bye"), 2.0)
        task, self._run_task = self._run_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def pause(self) -> None:
        """Drop the connection abruptly (no close handshake) and stay offline until
        :meth:`resume`. Local edits keep accumulating."""
        self._allowed.clear()
        self.interrupt()

    def resume(self) -> None:
        self._allowed.set()

    def interrupt(self) -> None:
        """Drop the connection abruptly, as a network failure would; it reconnects."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    # -- local side ---------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.client.text

    def edit(self, op: Op) -> None:
        """Apply a local change (an operation on the current text) and send it when it can."""
        self.client.edit(op)
        self._send(self.client.flush())

    def replace(self, position: int, delete_count: int, insert: str) -> Op:
        op = self.client.replace(position, delete_count, insert)
        self._send(self.client.flush())
        return op

    def set_text(self, new_text: str) -> Op:
        op = self.client.set_text(new_text)
        self._send(self.client.flush())
        return op

    def set_presence(self, **fields: Any) -> None:
        """Tell the others our ``cursor``, ``anchor``, ``name`` or ``color``; kept and sent
        again after every reconnect."""
        self._presence.update(fields)
        if self.state in (LinkState.JOINING, LinkState.ONLINE):
            self._post({"type": "presence", **fields})

    # -- waiting ------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Caught up, with nothing of ours unconfirmed (as far as we know now)."""
        return (
            self.state is LinkState.ONLINE
            and self.client.state is ClientState.READY
            and not self.client.has_unconfirmed
        )

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``condition()`` holds; it is checked after every event.
        Raises SessionEnded if the driver ends first, TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                if condition():
                    return
                if self._ended is not None:
                    raise self._ended
                await changed.wait()

    async def wait_online(self, timeout: float | None = None) -> None:
        await self.wait_until(lambda: self.state is LinkState.ONLINE, timeout)

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until every local edit is confirmed and we have every revision the server
        had sequenced when this was called (a ping's answer follows them)."""
        async with asyncio.timeout(timeout):
            while True:
                await self.wait_until(lambda: self.synced)
                if await self._round_trip() and self.synced:
                    return

    async def ping(self, timeout: float | None = None) -> None:
        """One round trip through the server: what it queued for us before is now here."""
        async with asyncio.timeout(timeout):
            while not await self._round_trip():
                await self.wait_online()

    async def _round_trip(self) -> bool:
        """False if the connection ended before the answer."""
        token = next(self._tokens)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pongs[token] = answer
        try:
            if not self._post({"type": "ping", "at": token}):
                return False
            return await answer
        finally:
            self._pongs.pop(token, None)

    # -- the connection -----------------------------------------------------------------

    async def _run(self) -> None:
        delays = self.backoff.delays()
        while True:
            if not self._allowed.is_set():
                self._set_state(LinkState.OFFLINE)
                await self._allowed.wait()
            if self._ended is not None:
                return
            self._set_state(LinkState.CONNECTING)
            try:
                async with connect(
                    self.url,
                    open_timeout=self.open_timeout,
                    max_size=self.max_size,
                    proxy=None,
                    **self.connect_options,
                ) as ws:
                    await self._session(ws)
            except InvalidStatus as exc:
                status = exc.response.status_code
                code = FATAL_HANDSHAKE_STATUSES.get(status)
                if code is not None:
                    reason = (
                        exc.response.body.decode("utf-8", "replace")[:300]
                        if exc.response.body
                        else ""
                    )
                    self._end(
                        SessionEnded(
                            f"the server refused the connection: HTTP {status} {reason}".strip(),
                            code,
                        )
                    )
                    return
                log.debug("connection to %s refused: HTTP %d", self.url, status)
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.debug("connection to %s failed: %r", self.url, exc)
            except Exception as exc:  # a bug here: end loudly rather than retry forever
                log.exception("the client for %s failed", self.url)
                self._end(SessionEnded(f"the client failed: {exc!r}"))
                return
            finally:
                self._disconnected()
            if self.close_code in FATAL_CLOSE_CODES:
                self._end(SessionEnded(self.close_reason or "refused", self.close_code))
                return
            if self._reached_online:
                delays = self.backoff.delays()  # it worked for a while: start over
            self._reached_online = False
            await asyncio.sleep(next(delays))

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self._outbox = outbox
        self.close_code, self.close_reason = None, ""
        (resync,) = self.client.connect()
        assert isinstance(resync, Resync)
        join: dict[str, Any] = {
            "type": "join",
            "client": self.client.client_id,
            "name": self.name,
            "since": resync.since,
            # A copy at revision 0 may not know the document's initial text: take a snapshot.
            "full": resync.full or resync.since == 0,
        }
        if self.color is not None:
            join["color"] = self.color
        await ws.send(json.dumps(join))
        self._wait_until(self._now() + self.resend_after)
        writer = asyncio.create_task(self._write(ws, outbox))
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self._on_text(raw)
        except ConnectionClosed:
            pass
        finally:
            self._disarm()
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason or ""

    async def _write(self, ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await outbox.get())

    # -- the resend deadline ------------------------------------------------------------

    def _wait_until(self, deadline: float) -> None:
        """Owe a resend at ``deadline`` unless an answer comes first. Every path that leaves
        the engine waiting for an answer (the join, an edit or a resync sent, a retryable
        refusal) comes through here, so the timer is armed whenever it is needed."""
        self._deadline = deadline
        timer = self._timer
        if timer is not None and timer.when() <= deadline:
            return  # fires first, sees the later deadline and waits on for it
        if timer is not None:
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        if self._outbox is None:
            return  # between connections: the next session sets its own deadline
        waiting = self.client.state is ClientState.SYNCING or self.client.has_unconfirmed
        if not waiting:
            return  # answered in time; the next request arms the timer again
        now = self._now()
        if now < self._deadline:
            self._wait_until(self._deadline)
            return
        self._wait_until(now + self.resend_after)
        self._send(self.client.resend())

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _disconnected(self) -> None:
        self._ws = None
        self._outbox = None
        self.client.disconnect()
        self.session, self.me = None, None
        self.people.clear()
        for answer in self._pongs.values():
            if not answer.done():
                answer.set_result(False)
        if self._ended is None:
            self._set_state(LinkState.CONNECTING if self._allowed.is_set() else LinkState.OFFLINE)

    def _end(self, ended: SessionEnded) -> None:
        if self._ended is None:
            self._ended = ended
        self._allowed.set()  # a paused run loop must wake to end
        self._set_state(LinkState.CLOSED)

    # -- messages -----------------------------------------------------------------------

    def _on_text(self, raw: str) -> None:
        try:
            # orjson: a third of the standard library's time, on every message a bot or a
            # watching service reads (its errors are ValueErrors too).
            data = orjson.loads(raw)
        except ValueError:
            log.warning("%s sent something that is not JSON: %.80r", self.url, raw)
            return
        if not isinstance(data, dict):
            return
        if self.on_message is not None:
            self.on_message(data)
        kind = data.get("type")
        if kind == "joined":
            self._on_joined(data)
        elif kind == "presence":
            self._on_presence(data)
        elif kind == "pong":
            at = data.get("at")
            answer = self._pongs.get(at) if isinstance(at, int) else None
            if answer is not None and not answer.done():
                answer.set_result(True)
        elif kind == "renamed":
            self.title = data.get("title")
        elif kind == "error":
            self.errors.append(data)
            if "client" in data and "seq" in data:
                if data.get("code") in RETRYABLE:
                    self._wait_until(self._now() + self._retry_delay())
                self._feed(data)
        elif kind in ("revision", "snapshot", "synced"):
            self._feed(data)
        if self.state is LinkState.JOINING and self.client.state is ClientState.READY:
            self._reached_online = True
            self._set_state(LinkState.ONLINE)
        self._notify()

    def _feed(self, data: dict[str, Any]) -> None:
        try:
            message = from_wire(data)
            if isinstance(message, Edit | Resync):
                return  # a client's message; no server sends these
            replies = self.client.receive(message)
        except SyncError as exc:
            # A copy that cannot be repaired in place: start over with a fresh connection.
            log.warning("resyncing %s after %s", self.doc_id, exc)
            self.interrupt()
            return
        self._send(replies)

    def _on_joined(self, data: dict[str, Any]) -> None:
        self.joins += 1
        self.session = data.get("session")
        self.me = data.get("person")
        self.title = data.get("doc", {}).get("title")
        self.limits = data.get("limits", {})
        self.people = {p["session"]: p for p in data.get("people", []) if "session" in p}
        self._set_state(LinkState.JOINING)
        if self._presence:
            self._post({"type": "presence", **self._presence})

    def _on_presence(self, data: dict[str, Any]) -> None:
        person = data.get("person")
        if not isinstance(person, dict) or "session" not in person:
            return
        if data.get("event") == "leave":
            self.people.pop(person["session"], None)
        else:
            self.people[person["session"]] = person

    # -- sending ------------------------------------------------------------------------

    def _send(self, messages: list[ClientMessage]) -> None:
        for message in messages:
            if self._post(message.to_wire()) and isinstance(message, Edit | Resync):
                self._wait_until(self._now() + self.resend_after)

    def _post(self, message: dict[str, Any]) -> bool:
        """Queue ``message`` on the current connection; False if there is none."""
        if self._outbox is None:
            return False
        self._outbox.put_nowait(json.dumps(message, ensure_ascii=False))
        return True

    def _retry_delay(self) -> float:
        rate = self.limits.get("edits_per_second")
        if isinstance(rate, int | float) and rate > 0:
            return min(self.resend_after, max(0.02, 1.0 / rate))
        return min(self.resend_after, 0.2)

    def _set_state(self, state: LinkState) -> None:
        if self.state is not LinkState.CLOSED:
            self.state = state
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
