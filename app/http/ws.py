"""The WebSocket endpoint: the sync protocol plus presence, for one document per socket.

The message flow and every code are in docs/protocol.md. In short: the first message must be
``join``; the server answers ``joined`` and a catch-up (revisions then ``synced``, or a
``snapshot``). After that the client sends ``edit``, ``resync``, ``presence``, ``ping`` and
``chat`` (the document's chat, ``app/core/chat.py``).
Recoverable mistakes (bad JSON, a bad patch, a limit) get an ``error`` message and the
socket stays open; breaking the state machine closes it with 4400.

Once joined, everything sent to a client goes through its member's queue, so answers keep
their order relative to revisions and a slow client is noticed in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketState

from app.config import Settings
from app.core.access import OPEN, Access, Principal
from app.core.chat import ChatRefused, ChatService
from app.core.errors import AppError, DocumentNotFound, Refusal
from app.core.errors import Refused as ExtensionRefused
from app.core.extensions import ConnectionRequest, Extensions
from app.core.members import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_PROTOCOL_VIOLATION,
    CLOSE_UNAUTHENTICATED,
    SEND_MANY_EXTENSION,
    SEND_NOW_EXTENSION,
    Member,
    Person,
    TokenBucket,
)
from app.core.registry import RoomRegistry
from app.core.rooms import Room
from app.core.wire import encode
from app.http.api.routes.blame import blame_cache
from app.http.errors import REFUSAL_STATUS, error_body
from app.http.ws_messages import (
    BadMessage,
    ProtocolError,
    close_reason,
    edit_from,
    error_message,
    join_position,
    message_type,
    parse_color,
    parse_name,
    parse_position,
    person_from_join,
    ping_at,
    receive_json,
    resync_from,
)
from sync import errors as sync_errors
from sync.server import Placement
from sync.text import validate_text

log = logging.getLogger(__name__)
router = APIRouter()

JOIN_TIMEOUT_SECONDS = 10.0
# The WebSocket's own code for a server that failed (RFC 6455): a bug, logged.
CLOSE_INTERNAL_ERROR = 1011
# A resync can cost a snapshot of the whole document: a client needs one after a reconnect,
# a gap or a bad checksum, never dozens a second.
RESYNCS_PER_SECOND = 5.0
RESYNC_BURST = 20


def _access(member: Member) -> Access:
    """The app's access decisions, reached through the member's own socket."""
    channel = member.channel
    assert isinstance(channel, WebSocketChannel)
    access: Access = channel.websocket.app.state.access
    return access


def _cannot_send_now(data: tuple[str, ...]) -> bool:
    """``send_now`` where the server offers no direct write: everything goes through the queue."""
    return False


class WebSocketChannel:
    """A member's socket. Where the server offers it (``SEND_MANY_EXTENSION``, see
    app/serving.py), messages go out framed straight onto the connection's transport, several
    in one write, instead of one ASGI ``websocket.send`` each through every middleware."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        extensions = websocket.scope.get("extensions") or {}
        self._send_many: Callable[[list[str]], Awaitable[None]] | None = extensions.get(
            SEND_MANY_EXTENSION
        )
        # The server's own callable where it offers one, so that the fan-out, which calls it
        # for every member of every revision, reaches the transport without a hop through here.
        self.send_now: Callable[[tuple[str, ...]], bool] = (
            extensions.get(SEND_NOW_EXTENSION) or _cannot_send_now
        )

    async def send_text(self, data: str) -> None:
        if self._send_many is not None:
            await self._send_many([data])
        else:
            await self.websocket.send_text(data)

    async def send_many(self, data: list[str]) -> None:
        if self._send_many is not None:
            await self._send_many(data)
            return
        for text in data:
            await self.websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        if self.websocket.client_state is not WebSocketState.DISCONNECTED:
            await self.websocket.close(code, close_reason(reason))


async def _send_now(websocket: WebSocket, message: dict[str, Any]) -> None:
    """Send outside any member queue (before joining); a vanished peer is not an error."""
    with contextlib.suppress(Exception):
        await websocket.send_text(encode(message))


async def _first_message(websocket: WebSocket, limit: int) -> dict[str, Any]:
    try:
        first = await asyncio.wait_for(receive_json(websocket, limit), JOIN_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ProtocolError(f"no 'join' message within {JOIN_TIMEOUT_SECONDS:g} seconds") from None
    except BadMessage as exc:
        await _send_now(websocket, exc.answer)
        raise ProtocolError("the first message must be 'join'") from None
    if first.get("type") != "join":
        raise ProtocolError("the first message must be 'join'")
    return first


def _welcome(room: Room, person: Person, settings: Settings) -> dict[str, Any]:
    return {
        "type": "joined",
        "doc": {"id": room.doc_id, "title": room.title},
        "session": person.session,
        "person": person.public(),
        "limits": {
            "max_message_bytes": settings.max_message_bytes,
            "max_document_chars": settings.max_document_chars,
            "edits_per_second": settings.edits_per_second,
        },
    }


def connection_request(websocket: WebSocket, doc_id: str) -> ConnectionRequest:
    client = websocket.client
    return ConnectionRequest(
        transport="websocket",
        path=websocket.url.path,
        doc_id=doc_id,
        method="GET",
        headers=dict(websocket.headers.items()),
        client=(client.host, client.port) if client else None,
    )


async def _refuse(websocket: WebSocket, exc: ExtensionRefused) -> None:
    """Answer the handshake with the refusal, before accepting anything.

    Where the server lets us (uvicorn does), the answer is an HTTP error with our JSON error
    body, as a REST call would get; otherwise closing before accepting answers 403.
    """
    log.info("refused a connection to %s: %s", websocket.url.path, exc)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = error_body(exc.code, str(exc))
        await websocket.send_denial_response(
            JSONResponse(body, status_code=REFUSAL_STATUS[exc.refusal])
        )
        return
    code = CLOSE_UNAUTHENTICATED if exc.refusal is Refusal.UNAUTHENTICATED else CLOSE_FORBIDDEN
    await websocket.close(code, close_reason(str(exc)))


@router.websocket("/ws/{doc_id}")
async def document_socket(websocket: WebSocket, doc_id: str) -> None:
    state = websocket.app.state
    registry: RoomRegistry = state.rooms
    settings: Settings = state.settings
    extensions: Extensions = state.extensions
    access: Access = state.access
    asking = connection_request(websocket, doc_id)
    try:
        await extensions.authenticate(asking)
        # Who may open this document, decided before accepting (app/core/access.py).
        principal: Principal = asking.identity.get("principal", OPEN)
        role = await access.admit(principal, doc_id)
    except ExtensionRefused as exc:
        await _refuse(websocket, exc)
        return
    await websocket.accept()
    state.metrics.connections.inc()
    session = uuid.uuid4().hex[:12]
    room: Room | None = None
    member: Member | None = None
    try:
        first = await _first_message(websocket, settings.max_message_bytes)
        try:
            person = person_from_join(first, session)
            since, full = join_position(first)
            wants_authorship = first.get("authorship", False)
            if not isinstance(wants_authorship, bool):
                raise sync_errors.ProtocolViolation("'authorship' must be true or false")
            wants_chat = first.get("chat", False)
            if not isinstance(wants_chat, bool):
                raise sync_errors.ProtocolViolation("'chat' must be true or false")
        except sync_errors.SyncError as exc:
            raise ProtocolError(str(exc)) from exc
        # Revisions are written under the account's name, never one the client chose.
        author = access.author(principal, person.name)
        person.name = access.display_name(principal, person.name)
        if access.enabled:  # fixed at join; with accounts off it follows the name
            person.author = author
        try:
            room = await registry.acquire(doc_id)
        except DocumentNotFound as exc:
            await websocket.close(CLOSE_NOT_FOUND, close_reason(str(exc)))
            return
        member = Member(
            person,
            WebSocketChannel(websocket),
            settings.send_queue_limit,
            TokenBucket(settings.edits_per_second, settings.edit_burst),
            byte_limit=settings.send_queue_bytes,
        )
        try:
            await access.check_client(doc_id, person.client, author, room.members.values())
        except ExtensionRefused as exc:
            await _send_now(websocket, error_message(exc.code, str(exc)))
            await websocket.close(CLOSE_FORBIDDEN, close_reason(str(exc)))
            return
        if access.enabled:
            access.watch(doc_id, member, principal, role, author)
        member.start()
        welcome = _welcome(room, person, settings)
        welcome["role"] = role.value  # a viewer's page is read-only
        member.authorship = wants_authorship
        caught_up = await room.join(member, since, full=full, welcome=welcome)
        await _send_authorship(room, member, caught_up)
        if wants_chat:  # asked for the chat: its recent lines, then new ones
            state.chat.listen(doc_id, member)
        await _serve(websocket, registry, room, member, settings.max_message_bytes)
    except WebSocketDisconnect:
        pass
    except ProtocolError as exc:
        log.info("protocol violation on %s: %s", doc_id, exc)
        answer = error_message("protocol-violation", str(exc))
        if member is None:
            await _send_now(websocket, answer)
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_PROTOCOL_VIOLATION, close_reason(str(exc)))
        else:
            if room is not None:
                room.remove(member)
            member.push(answer)
            await member.stop(CLOSE_PROTOCOL_VIOLATION, str(exc), flush=True)
    except Exception:
        # A bug, not the client's fault: logged, and the socket still gets a close frame.
        log.exception("the connection to %s failed", doc_id)
        if member is not None:
            await member.stop(CLOSE_INTERNAL_ERROR, "internal error")
        else:
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_INTERNAL_ERROR, "internal error")
    finally:
        state.metrics.connections.dec()
        if member is not None:
            access.unwatch(doc_id, member)
            if room is not None:
                room.remove(member)
            await member.stop()
        if room is not None:
            await registry.release(room)


async def _serve(
    websocket: WebSocket, registry: RoomRegistry, room: Room, member: Member, limit: int
) -> None:
    # A member can be stopped from elsewhere (too slow, document deleted); a stuck peer
    # would never send the disconnect that ends a receive, so wait for either.
    closed = asyncio.ensure_future(member.closed.wait())
    resyncs = TokenBucket(RESYNCS_PER_SECOND, RESYNC_BURST)
    try:
        while True:
            receiving = asyncio.ensure_future(receive_json(websocket, limit))
            await asyncio.wait({receiving, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                return
            failure = receiving.exception()
            if failure is not None and not isinstance(failure, BadMessage):
                # Raised without a reference to it or its task left in this frame: the
                # exception's traceback holds the frame, and a frame holding the exception
                # back is a cycle that keeps the connection's whole graph (transport,
                # buffers, queues) until a full collection (docs/benchmarks.md).
                del receiving
                try:
                    raise failure
                finally:
                    del failure
            try:
                data = receiving.result()
                if member.closing:
                    return
                await _dispatch(registry, room, member, data, resyncs)
            except BadMessage as exc:
                member.push(exc.answer)
    finally:
        closed.cancel()


async def _dispatch(
    registry: RoomRegistry, room: Room, member: Member, data: dict[str, Any], resyncs: TokenBucket
) -> None:
    kind = message_type(data)
    if kind == "join":
        raise ProtocolError("already joined; open a new socket for another document")
    if kind == "ping":
        member.push({"type": "pong", "at": ping_at(data)})
    elif kind == "presence":
        _on_presence(room, member, data)
    elif kind == "resync":
        if not resyncs.take():
            raise BadMessage(
                "rate-limited",
                f"more than {RESYNCS_PER_SECOND:g} resyncs per second; send it again shortly",
            )
        await _on_resync(room, member, data)
    elif kind == "edit":
        await _on_edit(registry, room, member, data)
    elif kind == "chat":
        _on_chat(room, member, data)
    else:
        member.push(error_message("bad-message", f"unknown message type {kind!r}"))


def _on_presence(room: Room, member: Member, data: dict[str, Any]) -> None:
    person = member.person
    try:
        cursor = parse_position("cursor", data.get("cursor", person.cursor))
        anchor = parse_position("anchor", data.get("anchor", person.anchor))
        rev = parse_position("rev", data.get("rev", person.rev))
        name = parse_name(data["name"]) if "name" in data else person.name
        if _access(member).keeps_name(room.doc_id, member):
            name = person.name  # an account's name is its own, not the client's to change
        color = parse_color(data["color"]) if "color" in data else None
    except sync_errors.SyncError as exc:
        member.push(error_message("bad-message", str(exc)))
        return
    person.cursor, person.anchor, person.rev = cursor, anchor, rev or 0
    person.name = name
    if color is not None:
        room.recolor(member, color)  # if nobody else here has it
    room.update_presence(member)


def _on_chat(room: Room, member: Member, data: dict[str, Any]) -> None:
    channel = member.channel
    assert isinstance(channel, WebSocketChannel)
    chat: ChatService = channel.websocket.app.state.chat
    try:
        chat.say(room.doc_id, member, data)
    except ChatRefused as exc:
        member.push(error_message(exc.code, str(exc), about="chat", **exc.extra))


async def _on_resync(room: Room, member: Member, data: dict[str, Any]) -> None:
    message = resync_from(data)
    if message.client != member.person.client:
        raise ProtocolError("'client' differs from the one given at join")
    await _send_authorship(
        room, member, await room.resync(member, message.since, full=message.full)
    )


async def _send_authorship(room: Room, member: Member, rev: int | None) -> None:
    """Who wrote the text at ``rev`` (where a join's catch-up or a resync's snapshot just
    brought ``member``), as runs, if it asked at ``join``. Computed outside the room's lock:
    the blame cache may replay the log, and edits to the document must not wait for it."""
    if rev is None or not member.authorship:
        return
    channel = member.channel
    assert isinstance(channel, WebSocketChannel)
    try:
        _, attribution = await blame_cache(channel.websocket).at(room.store, room.doc_id, rev)
    except AppError as exc:  # deleted meanwhile: the page learns it from its close
        log.info("no authorship for %s at %s: %s", room.doc_id, rev, exc)
        return
    runs = [[start, length, author] for start, length, author in attribution.runs()]
    member.push({"type": "authorship", "rev": rev, "runs": runs})


async def _on_edit(
    registry: RoomRegistry, room: Room, member: Member, data: dict[str, Any]
) -> None:
    message = edit_from(data)
    if message.op_id.client != member.person.client:
        raise ProtocolError("'client' differs from the one given at join")
    op_fields: dict[str, Any] = {"client": message.op_id.client, "seq": message.op_id.seq}
    access = _access(member)
    if not access.may_edit(room.doc_id, member):
        await room.extensions.edit_refused(room.doc_id, "forbidden")
        member.push(
            error_message("forbidden", "you may view this document, not edit it", **op_fields)
        )
        return
    author = access.author_of(room.doc_id, member)
    if not member.limiter.take():
        await room.extensions.edit_refused(room.doc_id, "rate-limited")
        member.push(
            error_message(
                "rate-limited",
                f"more than {room.settings.edits_per_second:g} edits per second; "
                "this edit was not applied, send it again shortly",
                **op_fields,
            )
        )
        return
    try:
        # Patches are %-escaped: a raw forbidden character (a lone surrogate that JSON let
        # through) is refused here, before it reaches the patch parser.
        validate_text(message.patch, what="patch")
        outcome = await room.submit(message, author)
    except sync_errors.SyncError as exc:
        await room.extensions.edit_refused(room.doc_id, exc.code)
        extra: dict[str, Any] = dict(op_fields)
        if isinstance(exc, sync_errors.PatchRejected) and exc.unplaced_hunks:
            extra["unplaced_hunks"] = exc.unplaced_hunks
        if isinstance(exc, sync_errors.InvalidText):
            extra.update(position=exc.position, codepoint=exc.codepoint)
        member.push(error_message(exc.code, str(exc), **extra))
    except DocumentNotFound:
        # Deleted by another process (or while this room was loading): close everyone.
        await registry.forget(room.doc_id)
    except AppError as exc:
        await room.extensions.edit_refused(room.doc_id, exc.code)
        member.push(error_message(exc.code, str(exc), **op_fields))
    except Exception:
        log.exception(
            "edit %s:%s on %s failed", message.op_id.client, message.op_id.seq, room.doc_id
        )
        await room.extensions.edit_refused(room.doc_id, "internal-error")
        member.push(error_message("internal-error", "the server failed on this edit", **op_fields))
    else:
        if outcome.placement is Placement.DUPLICATE and outcome.revision.author != author:
            # The operation id was used by someone else first: this edit was not applied,
            # and their revision is not this edit's acknowledgement.
            member.push(
                error_message(
                    "forbidden",
                    "this operation id was used by another author; the edit was not applied",
                    **op_fields,
                )
            )
        elif outcome.placement is Placement.DUPLICATE:
            # Already applied (a retry after a lost acknowledgement): acknowledge again.
            member.push(outcome.revision.to_wire())
