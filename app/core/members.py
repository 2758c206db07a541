"""The people in a room: one ``Member`` per connection, each with its own bounded queue.

A member's messages go out through its ``Channel`` (the WebSocket adapter, or a test double)
from a task of its own, so a slow peer holds up nobody but itself: when its queue is full it
counts as stuck and is closed, and it resyncs when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from app.core.wire import encode

log = logging.getLogger(__name__)

# WebSocket close codes (documented in docs/protocol.md). The core names them; the WebSocket
# adapter sends them.
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_VIOLATION = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_DELETED = 4410

# What one connection's outgoing queue may hold, in characters, before it counts as stuck.
DEFAULT_QUEUE_BYTES = 32 * 1024 * 1024

# How long closing a connection may wait for its peer (to flush, to take the close frame).
# A stuck peer never would, and a room must not wait on it.
CLOSE_TIMEOUT_SECONDS = 10.0


# What one write to a channel that takes several messages at once (``BatchChannel``) may carry:
# whatever is queued, up to this many messages or characters (one message is always taken).
BATCH_MESSAGES = 64
BATCH_CHARS = 256 * 1024


class Channel(Protocol):
    """Where a member's messages go: the WebSocket adapter, or a test double."""

    async def send_text(self, data: str) -> None:
        """Send one message, already encoded as JSON text."""

    async def close(self, code: int, reason: str) -> None: ...


# The ASGI scope extensions under which a server offers ``BatchChannel.send_many`` and
# ``send_now`` for a WebSocket (``app/serving.py``): callables taking a list of texts.
SEND_MANY_EXTENSION = "collab.send_many"
SEND_NOW_EXTENSION = "collab.send_now"


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that sends several messages, in order, with one write to the socket: a
    member that fell a few revisions behind (a commit batch fans out several) catches up in
    one system call instead of one per message."""

    async def send_many(self, data: list[str]) -> None:
        """Send each of ``data`` as its own message, in order."""

    def send_now(self, data: tuple[str, ...]) -> bool:
        """Send ``data`` as ``send_many`` would, but only if that needs no waiting: True if
        it was written, False if not (nothing was; the caller queues it instead). Called with
        the same tuple for every member a broadcast reaches, so that a channel may frame it
        once for all of them."""


@dataclass(slots=True)
class Person:
    session: str
    client: str
    name: str
    color: str
    cursor: int | None = None
    anchor: int | None = None
    rev: int = 0
    # The name this person's revisions carry, where it is not ``name`` (an account shown by
    # its display name): pages match people to the authors of the text by it.
    author: str = ""

    def public(self) -> dict[str, Any]:
        public = {
            "session": self.session,
            "name": self.name,
            "color": self.color,
            "cursor": self.cursor,
            "anchor": self.anchor,
            "rev": self.rev,
        }
        if self.author and self.author != self.name:
            public["author"] = self.author
        return public


class TokenBucket:
    """Allows ``rate`` events per second with bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(eq=False)
class Member:
    """One connection in a room, with its own bounded outgoing queue.

    ``closed`` is set the moment the member stops (dropped as too slow, its document deleted,
    its socket failed): whoever reads from the connection should then stop too.
    """

    person: Person
    channel: Channel
    queue_limit: int
    limiter: TokenBucket
    # Encoded messages: a broadcast is encoded once and the same text queued to everyone.
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task[None] | None = None
    _stopping: asyncio.Future[None] | None = None
    # The queue is bounded in bytes too: a thousand messages may be a thousand snapshots of a
    # 5 MB document for a client that never reads. One message is always taken, however
    # large, when nothing else waits.
    byte_limit: int = DEFAULT_QUEUE_BYTES
    queued_bytes: int = 0
    # True while messages must go through the queue: something is queued or being written
    # (a direct send would overtake it), or the member is closed. Kept as one flag, not
    # worked out from the queue, because the fan-out asks it once per member per revision.
    _queue_first: bool = False
    _send_now: Callable[[tuple[str, ...]], bool] | None = field(default=None, init=False)
    # Asked at ``join`` to be told who wrote the text with each snapshot (``authorship``).
    authorship: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.channel, BatchChannel):
            self._send_now = self.channel.send_now

    @property
    def closing(self) -> bool:
        return self.closed.is_set()

    @property
    def backlogged(self) -> bool:
        """Whether messages wait in its queue or are being written (or it is closed): what
        it is sent now waits its turn instead of going out directly."""
        return self._queue_first

    def mark_closed(self) -> None:
        """Take nothing more for this member, from this moment (``stop`` closes it)."""
        self._queue_first = True
        self.closed.set()

    @property
    def room_left(self) -> int:
        """How many more messages the queue takes before the member counts as stuck."""
        return max(0, self.queue_limit - self.queue.qsize())

    def start(self) -> None:
        self.sender = asyncio.create_task(self._drain(), name=f"send-{self.person.session}")

    def push(self, message: dict[str, Any] | str) -> bool:
        """Queue a message (or its encoding); False if the member is too far behind to keep."""
        if self.closing:
            return True
        if self.queue.qsize() >= self.queue_limit:
            return False
        data = message if isinstance(message, str) else encode(message)
        # Characters, not bytes: what the queue holds is str (1 to 4 bytes a character in
        # CPython); close enough for a bound that is about not holding gigabytes.
        if self.queued_bytes and self.queued_bytes + len(data) > self.byte_limit:
            return False
        self.queued_bytes += len(data)
        self._queue_first = True
        self.queue.put_nowait(data)
        return True

    def push_many(self, messages: tuple[str, ...]) -> bool:
        """Queue encoded messages, in order; False if the member is too far behind to keep.

        A member with nothing queued or being sent, whose channel can write at once, is sent
        them right here: no queue, no wake-up of its sender (the common case, and the hot
        path of fan-out). Otherwise they wait behind what is queued, as ``push`` does.
        """
        send_now = self._send_now
        if send_now is not None and not self._queue_first:
            try:
                if send_now(messages):
                    return True
            except Exception:  # never the broadcaster's problem: the sender meets it again
                log.debug("direct send to %s failed", self.person.session, exc_info=True)
        if self.closing:
            return True
        return all(self.push(message) for message in messages)

    async def _drain(self) -> None:
        send_many = self.channel.send_many if isinstance(self.channel, BatchChannel) else None
        while True:
            message = await self.queue.get()
            if message is None:
                return
            self.queued_bytes -= len(message)
            batch, last = [message], False
            if send_many is not None:
                # What else is queued already goes out in the same write, in order, up to a
                # bound (so what is taken off the queue, uncounted, stays small).
                chars = len(message)
                queue = self.queue
                while queue.qsize() and len(batch) < BATCH_MESSAGES and chars < BATCH_CHARS:
                    more = queue.get_nowait()
                    if more is None:
                        last = True
                        break
                    self.queued_bytes -= len(more)
                    chars += len(more)
                    batch.append(more)
            try:
                if send_many is None:
                    await self.channel.send_text(message)
                else:
                    await send_many(batch)
            except Exception:  # the socket is gone: nothing more can reach this member
                log.debug("send to %s failed", self.person.session, exc_info=True)
                self.mark_closed()
                return
            if last:
                return
            if not self.queue.qsize() and not self.closing:
                self._queue_first = False  # all written: the next message may go directly

    async def stop(self, code: int | None = None, reason: str = "", *, flush: bool = False) -> None:
        """Stop sending and, with ``code``, close the channel. ``flush`` first sends what is
        queued (an error explaining the close); a member too slow to keep is closed without.

        Idempotent: a second call waits for the first, whose code wins. Never waits on the
        peer longer than ``CLOSE_TIMEOUT_SECONDS``.
        """
        self.mark_closed()
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(code, reason, flush))
        await asyncio.shield(self._stopping)

    async def _stop(self, code: int | None, reason: str, flush: bool) -> None:
        sender = self.sender
        if sender is not None:
            if flush:
                self.queue.put_nowait(None)
                await asyncio.wait({sender}, timeout=CLOSE_TIMEOUT_SECONDS)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if code is not None:
            try:
                await asyncio.wait_for(self.channel.close(code, reason), CLOSE_TIMEOUT_SECONDS)
            except Exception:  # already gone, or stuck: either way it is closed to us
                log.debug("closing %s failed", self.person.session, exc_info=True)
