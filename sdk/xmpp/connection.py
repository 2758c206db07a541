"""An XMPP client connection that comes back: reconnects with backoff and reports its state.

slixmpp does not reconnect after an established stream drops, and a pubsub service does not
redeliver notifications sent while a subscriber was away. So this class reconnects, and
calls ``on_session`` after every (re)connection: that is where its owner subscribes again and
catches up on what it missed.

slixmpp does retry a refused TCP connection by itself, but waiting 1, 3, 7, 15, ... up to
300 s between attempts: a client that lost its server for a minute would then sit out minutes
more after the server came back. Its retries here follow our own capped policy instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import xml.etree.ElementTree as ET
from asyncio import BaseTransport, Transport
from collections.abc import Awaitable, Callable
from typing import Any, cast

from slixmpp import ClientXMPP

from sdk.backoff import Backoff
from sdk.sliced_reads import SlicedReads
from sdk.xmpp.wire import FastHandler, RawIqs

log = logging.getLogger(__name__)

SessionHook = Callable[[], Awaitable[None]]

# A server restart should not find every bot and instance knocking at once, nor leave them
# waiting long once it is back: a client tries again at least every few seconds.
XMPP_BACKOFF = Backoff(initial=0.2, maximum=3.0, jitter=0.5)
# From the TCP connection to an established session (authenticated, resource bound).
SESSION_TIMEOUT_SECONDS = 10.0


class XmppState(enum.Enum):
    STOPPED = "stopped"
    CONNECTING = "connecting"  # before the first session, or after losing one
    CONNECTED = "connected"  # a session is established


class _Client(ClientXMPP):
    """slixmpp's client, with its retries of a refused connection on our schedule, and the
    hot path's stanzas taken before slixmpp builds stanza objects for them (sdk/xmpp/wire.py)."""

    def __init__(self, jid: str, password: str, next_delay: Callable[[], float]) -> None:
        super().__init__(jid, password)
        self._next_delay = next_delay
        self.fast_handlers: list[FastHandler] = []

    # slixmpp parses all that one read brings, and handles every stanza in it, in one
    # callback; any account on the server can send us messages back to back (5,000 held the
    # loop 314 ms on Prosody, 505 ms on ejabberd). Read a slice at a time instead.
    _reads: SlicedReads | None = None

    def connection_made(self, transport: BaseTransport, send_event: bool = True) -> None:
        if self._reads is None:
            self._reads = SlicedReads()
        self._reads.connected(cast(Transport, transport))
        super().connection_made(transport, send_event)

    def data_received(self, data: bytes | str) -> None:
        if isinstance(data, str) or self._reads is None:  # not from a socket: taken as it is
            super().data_received(data)
            return
        self._reads.feed(self, data)

    # -- SliceParser --------------------------------------------------------------------------

    def parse_slice(self, data: bytes) -> None:
        super().data_received(data)

    def parsing_blocked(self) -> bool:
        return False

    def stream_over(self) -> bool:
        return self.parser is None

    def may_resume_reading(self) -> bool:
        return True

    def _spawn_event(self, xml: ET.Element) -> None:
        for handler in self.fast_handlers:
            try:
                if handler(xml):
                    return
            except Exception:
                # A handler's bug must not end the stream. The stanza is not handed on: the
                # handler may have acted on part of it, and twice would be worse than not at
                # all (a revision missed is a gap, which the next one shows and a catch-up
                # fills).
                log.exception("a fast handler failed on a stanza; it is dropped")
                return
        super()._spawn_event(xml)

    def reschedule_connection_attempt(self) -> asyncio.Future[Any] | None:
        # Replaces slixmpp's doubling without a useful cap (1, 3, 7, ... 300 s).
        if self._current_connection_attempt is None:
            return None
        self._connect_loop_wait = self._next_delay()
        self.attempts_failed += 1
        self._current_connection_attempt = asyncio.ensure_future(self._connect_loop())
        return self._current_connection_attempt

    attempts_failed = 0  # refused connections since the last session


class XmppConnection:
    def __init__(
        self,
        jid: str,
        password: str,
        host: str,
        port: int,
        *,
        allow_plaintext: bool = True,
        on_session: SessionHook | None = None,
        backoff: Backoff = XMPP_BACKOFF,
        session_timeout: float = SESSION_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.port = port
        self.session_timeout = session_timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self._gave_up = ""  # why the watchdog dropped the stream, for last_error
        self.on_session = on_session
        self.backoff = backoff
        self.state = XmppState.STOPPED
        self.last_error = ""
        self.state_since = time.time()
        self.sessions = 0  # how many sessions have started: 2 or more means reconnects
        self.on_state: list[Callable[[XmppState], object]] = []  # told of every change
        self.xmpp = _Client(jid, password, lambda: next(self._delays))
        # Requests sent as text, their answers taken before slixmpp's dispatch.
        self.iqs = RawIqs(self.xmpp)
        self.xmpp.fast_handlers.append(self.iqs.answer)
        if allow_plaintext:
            # A TLS-less loopback server: slixmpp refuses plain SASL without encryption
            # unless told, and must not insist on STARTTLS.
            self.xmpp.enable_starttls = False
            self.xmpp.enable_direct_tls = False
            self.xmpp.enable_plaintext = True
            self.xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
        for plugin in ("xep_0030", "xep_0004", "xep_0060", "xep_0199"):
            self.xmpp.register_plugin(plugin)
        self.xmpp.add_event_handler("connected", self._on_connected)
        self.xmpp.add_event_handler("session_start", self._on_session_start)
        self.xmpp.add_event_handler("disconnected", self._on_disconnected)
        self.xmpp.add_event_handler("connection_failed", self._on_failed)
        self.xmpp.add_event_handler("failed_auth", self._on_failed_auth)
        self._stopping = False
        self._connected = asyncio.Event()
        self._delays = backoff.delays()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._session_task: asyncio.Task[None] | None = None

    def add_fast_handler(self, handler: FastHandler) -> None:
        """Let ``handler`` see each incoming stanza, as parsed, before slixmpp does; what it
        takes (returns True for), slixmpp's handlers never see."""
        self.xmpp.fast_handlers.append(handler)

    @property
    def connected(self) -> bool:
        return self.state is XmppState.CONNECTED

    @property
    def reconnecting(self) -> bool:
        """Lost a session (or never had one) and trying again."""
        return self.state is XmppState.CONNECTING and (
            self.sessions > 0 or self.xmpp.attempts_failed > 0
        )

    @property
    def attempts(self) -> int:
        """Connection attempts that failed since the last session."""
        return self.xmpp.attempts_failed

    def retry_now(self) -> None:
        """Try to connect at once instead of at the next backoff delay: the server is known
        to be back (the managed Prosody was just restarted)."""
        if self._stopping or self.state is not XmppState.CONNECTING:
            return
        if self.xmpp.transport is not None:
            return  # a stream is being set up already
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        log.info("XMPP: the server is back; connecting to %s:%d now", self.host, self.port)
        self.xmpp.connect(self.host, self.port)

    def _set_state(self, state: XmppState) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = time.time()
            for listener in list(self.on_state):
                try:
                    listener(state)
                except Exception:
                    log.exception("an XMPP state listener failed")

    async def start(self, *, wait: float | None = 10.0) -> None:
        """Connect; with ``wait``, return once the session is up (or raise TimeoutError)."""
        self._stopping = False
        self._set_state(XmppState.CONNECTING)
        self.xmpp.connect(self.host, self.port)
        if wait is not None:
            await asyncio.wait_for(self._connected.wait(), wait)

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        self._stop_watchdog()
        for task in (self._reconnect_task, self._session_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.state is XmppState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.xmpp.disconnect(wait=1.0), 3)
        self.xmpp.cancel_connection_attempt()
        self._connected.clear()
        self._set_state(XmppState.STOPPED)

    def _on_connected(self, _event: object) -> None:
        # Connected is not a session yet: the server may still fail authentication or the
        # resource binding (Prosody answers "Error loading roster" when its storage is
        # busy), and slixmpp then waits forever. Give up on such a stream and start over.
        self._stop_watchdog()
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.session_timeout, self._no_session)

    def _no_session(self) -> None:
        self._watchdog = None
        if self._stopping or self.state is XmppState.CONNECTED:
            return
        self._gave_up = (
            f"connected to {self.host}:{self.port}, but no session within "
            f"{self.session_timeout:g} s"
        )
        log.warning("XMPP %s; reconnecting", self._gave_up)
        self.xmpp.abort()  # ends in 'disconnected', which schedules the next attempt

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _on_session_start(self, _event: object) -> None:
        self._stop_watchdog()
        self.sessions += 1
        self._delays = self.backoff.delays()  # it worked: the next outage starts over
        self.xmpp.attempts_failed = 0
        self.last_error = ""
        self.xmpp.send_presence()
        self._set_state(XmppState.CONNECTED)
        log.info("XMPP session %d started as %s", self.sessions, self.xmpp.boundjid)
        self._session_task = asyncio.get_running_loop().create_task(self._run_session_hook())

    async def _run_session_hook(self) -> None:
        try:
            if self.on_session is not None:
                await self.on_session()
        except Exception as exc:  # a failed catch-up is retried on the next session
            self.last_error = f"catching up after connecting failed: {exc}"
            log.exception("XMPP session hook failed")
        finally:
            self._connected.set()

    def _on_disconnected(self, reason: object) -> None:
        self._stop_watchdog()
        self._connected.clear()
        if self._stopping:
            return
        self._set_state(XmppState.CONNECTING)
        if self._gave_up:
            self.last_error, self._gave_up = self._gave_up, ""  # said already, when giving up
        else:
            self.last_error = f"disconnected: {reason}" if reason else "disconnected"
            log.warning("XMPP %s; reconnecting", self.last_error)
        self._schedule_reconnect()

    def _on_failed(self, error: object) -> None:
        self.last_error = f"cannot connect to {self.host}:{self.port}: {error}"
        log.debug("XMPP %s", self.last_error)

    def _on_failed_auth(self, _event: object) -> None:
        self.last_error = f"authentication as {self.xmpp.boundjid.bare} failed"
        log.error("XMPP %s", self.last_error)

    def _schedule_reconnect(self) -> None:
        if self._reconnect_task is not None and not self._reconnect_task.done():
            return
        delay = next(self._delays)
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect(delay))

    async def _reconnect(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self._stopping:
            self.xmpp.connect(self.host, self.port)
