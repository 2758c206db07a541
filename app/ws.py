"""The WebSocket endpoint: the sync protocol plus presence, for one document per socket.

The message flow and every code are in docs/protocol.md. In short: the first message must be
``join``; the server answers ``joined`` and a catch-up (revisions then ``synced``, or a
``snapshot``). After that the client sends ``edit``, ``resync``, ``presence`` and ``ping``.
Recoverable mistakes (bad JSON, a bad patch, a limit) get an ``error`` message and the
socket stays open; breaking the state machine closes it with 4400.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from app.errors import AppError, DocumentNotFound
from app.rooms import (
    CLOSE_NOT_FOUND,
    CLOSE_PROTOCOL_VIOLATION,
    Member,
    Person,
    Room,
    RoomRegistry,
    TokenBucket,
)
from sync import errors as sync_errors
from sync.protocol import Edit, Resync, Snapshot, Synced, from_wire, validate_client_id
from sync.server import Placement
from sync.text import validate_text

log = logging.getLogger(__name__)
router = APIRouter()

JOIN_TIMEOUT_SECONDS = 10.0
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#9a6324"]


class ProtocolError(Exception):
    """Breaks the protocol's state machine: the socket is closed with 4400."""


class WebSocketChannel:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(message, ensure_ascii=False))

    async def close(self, code: int, reason: str) -> None:
        if self.websocket.client_state is not WebSocketState.DISCONNECTED:
            await self.websocket.close(code, reason)


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def _person_from_join(data: dict[str, Any], session: str) -> Person:
    client = validate_client_id(data.get("client"))
    name = data.get("name", "Anonymous")
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise sync_errors.ProtocolViolation("'name' must be 1 to 64 characters")
    validate_text(name, what="name")
    color = data.get("color") or _PALETTE[hash(client) % len(_PALETTE)]
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise sync_errors.ProtocolViolation("'color' must look like #1a2b3c")
    return Person(session=session, client=client, name=name, color=color)


async def _receive_json(websocket: WebSocket, limit: int) -> dict[str, Any] | None:
    """The next message as a JSON object, or None after answering a bad one."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("text")
    if raw is None:
        raise ProtocolError("binary frames are not part of this protocol; send JSON text")
    if len(raw.encode("utf-8", "surrogatepass")) > limit:
        await websocket.send_text(
            json.dumps(
                error_message(
                    "message-too-large",
                    f"a message may be at most {limit} bytes; this one was larger",
                    **_op_fields(raw),
                )
            )
        )
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        await websocket.send_text(json.dumps(error_message("bad-json", f"not valid JSON: {exc}")))
        return None
    if not isinstance(data, dict):
        await websocket.send_text(json.dumps(error_message("bad-message", "send a JSON object")))
        return None
    return data


def _op_fields(raw: str) -> dict[str, Any]:
    """The client and seq of an oversized edit, so its author can drop that edit."""
    try:
        data = json.loads(raw)
        return {"client": str(data["client"]), "seq": int(data["seq"])}
    except (ValueError, KeyError, TypeError):
        return {}


@router.websocket("/ws/{doc_id}")
async def document_socket(websocket: WebSocket, doc_id: str) -> None:
    state = websocket.app.state
    registry: RoomRegistry = state.rooms
    settings = state.settings
    await websocket.accept()
    state.metrics.connections.inc()
    session = uuid.uuid4().hex[:12]
    room: Room | None = None
    member: Member | None = None
    try:
        try:
            first = await asyncio.wait_for(
                _receive_json(websocket, settings.max_message_bytes), JOIN_TIMEOUT_SECONDS
            )
        except TimeoutError:
            raise ProtocolError("no 'join' message within 10 seconds") from None
        if first is None or first.get("type") != "join":
            raise ProtocolError("the first message must be 'join'")
        try:
            person = _person_from_join(first, session)
            since, full = _join_position(first)
        except sync_errors.SyncError as exc:
            raise ProtocolError(str(exc)) from exc
        try:
            room = await registry.acquire(doc_id)
        except DocumentNotFound as exc:
            await websocket.close(CLOSE_NOT_FOUND, str(exc)[:120])
            return
        channel = WebSocketChannel(websocket)
        member = Member(
            person,
            channel,
            settings.send_queue_limit,
            TokenBucket(settings.edits_per_second, settings.edit_burst),
        )
        member.start()
        member.push(
            {
                "type": "joined",
                "doc": {"id": room.doc_id, "title": room.title},
                "session": session,
                "people": room.people(),
                "limits": {
                    "max_message_bytes": settings.max_message_bytes,
                    "max_document_chars": settings.max_document_chars,
                    "edits_per_second": settings.edits_per_second,
                },
            }
        )
        room.add(member)
        await _send_catch_up(room, member, since, full)
        await _serve(websocket, room, member, settings.max_message_bytes)
    except WebSocketDisconnect:
        pass
    except ProtocolError as exc:
        log.info("protocol violation on %s: %s", doc_id, exc)
        if websocket.client_state is not WebSocketState.DISCONNECTED:
            await websocket.send_text(json.dumps(error_message("protocol-violation", str(exc))))
            await websocket.close(CLOSE_PROTOCOL_VIOLATION, str(exc)[:120])
    finally:
        state.metrics.connections.dec()
        if member is not None and room is not None:
            room.remove(member)
            await member.stop()
        if room is not None:
            await registry.release(room)


def _join_position(data: dict[str, Any]) -> tuple[int, bool]:
    since = data.get("since", 0)
    full = data.get("full", "since" not in data)
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise sync_errors.ProtocolViolation("'since' must be a non-negative integer")
    if not isinstance(full, bool):
        raise sync_errors.ProtocolViolation("'full' must be true or false")
    return since, full


async def _send_catch_up(room: Room, member: Member, since: int, full: bool) -> None:
    try:
        result = await room.catch_up(since, member.person.client, full=full)
    except sync_errors.SyncError as exc:
        member.push(error_message(exc.code, str(exc)))
        result = await room.catch_up(0, member.person.client, full=True)
    if isinstance(result, Snapshot):
        member.push(result.to_wire())
        return
    for revision in result:
        member.push(revision.to_wire())
    member.push(Synced(room.sequencer.rev).to_wire())


async def _serve(websocket: WebSocket, room: Room, member: Member, limit: int) -> None:
    while True:
        data = await _receive_json(websocket, limit)
        if data is None:
            continue
        kind = data.get("type")
        if kind == "join":
            raise ProtocolError("already joined; open a new socket for another document")
        if kind == "ping":
            member.push({"type": "pong", "at": data.get("at")})
        elif kind == "presence":
            _on_presence(room, member, data)
        elif kind in ("edit", "resync"):
            await _on_sync_message(room, member, data)
        else:
            member.push(error_message("bad-message", f"unknown message type {kind!r}"))


def _on_presence(room: Room, member: Member, data: dict[str, Any]) -> None:
    person = member.person
    try:
        for key in ("cursor", "anchor", "rev"):
            value = data.get(key, getattr(person, key))
            if value is not None and (not isinstance(value, int) or value < 0):
                raise sync_errors.ProtocolViolation(f"'{key}' must be a non-negative integer")
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str) or not 1 <= len(name) <= 64:
                raise sync_errors.ProtocolViolation("'name' must be 1 to 64 characters")
            validate_text(name, what="name")
            person.name = name
        if "color" in data:
            if not isinstance(data["color"], str) or not _COLOR.fullmatch(data["color"]):
                raise sync_errors.ProtocolViolation("'color' must look like #1a2b3c")
            person.color = data["color"]
    except sync_errors.SyncError as exc:
        member.push(error_message(exc.code, str(exc)))
        return
    person.cursor = data.get("cursor", person.cursor)
    person.anchor = data.get("anchor", person.anchor)
    person.rev = data.get("rev", person.rev)
    room.update_presence(member)


async def _on_sync_message(room: Room, member: Member, data: dict[str, Any]) -> None:
    try:
        message = from_wire(data)
    except sync_errors.ProtocolViolation as exc:
        member.push(error_message("bad-message", str(exc)))
        return
    if isinstance(message, Resync):
        if message.client != member.person.client:
            raise ProtocolError("'client' differs from the one given at join")
        await _send_catch_up(room, member, message.since, message.full)
        return
    assert isinstance(message, Edit)
    if message.op_id.client != member.person.client:
        raise ProtocolError("'client' differs from the one given at join")
    op_fields = {"client": message.op_id.client, "seq": message.op_id.seq}
    if not member.limiter.take():
        room.metrics.edit_errors.labels("rate-limited").inc()
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
        outcome = await room.submit(message, member.person.name)
    except sync_errors.SyncError as exc:
        room.metrics.edit_errors.labels(exc.code).inc()
        extra: dict[str, Any] = dict(op_fields)
        if isinstance(exc, sync_errors.PatchRejected) and exc.unplaced_hunks:
            extra["unplaced_hunks"] = exc.unplaced_hunks
        member.push(error_message(exc.code, str(exc), **extra))
    except AppError as exc:
        room.metrics.edit_errors.labels(exc.code).inc()
        member.push(error_message(exc.code, str(exc), **op_fields))
    else:
        if outcome.placement is Placement.DUPLICATE:
            # Already applied (a retry after a lost acknowledgement): acknowledge again.
            member.push(outcome.revision.to_wire())
