"""Reading the WebSocket protocol's messages: JSON objects within bounds, and their fields.

Every check here happens before any work: a message over the size limit is not parsed, and
each field is validated to its documented type and range. What breaks the protocol's state
machine raises ``ProtocolError`` (the socket is closed with 4400); what is merely wrong
raises ``BadMessage`` carrying the error message to answer with (the socket stays open).
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from app.core.members import Person
from app.core.wire import DecodeError, decode
from sync import errors as sync_errors
from sync.protocol import validate_client_id
from sync.text import validate_text

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#9a6324"]


class ProtocolError(Exception):
    """Breaks the protocol's state machine: the socket is closed with 4400."""


class BadMessage(Exception):
    """A message answered with an error; the socket stays open."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.answer = error_message(code, message, **extra)


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes of UTF-8 a close frame has room for."""
    return text.encode("utf-8", "replace")[:123].decode("utf-8", "ignore")


def parse_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise sync_errors.ProtocolViolation("'name' must be 1 to 64 characters")
    validate_text(value, what="name")
    return value


def parse_color(value: object) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise sync_errors.ProtocolViolation("'color' must look like #1a2b3c")
    return value


def parse_position(key: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise sync_errors.ProtocolViolation(f"'{key}' must be a non-negative integer or null")
    return value


def person_from_join(data: dict[str, Any], session: str) -> Person:
    client = validate_client_id(data.get("client"))
    name = parse_name(data.get("name", "Anonymous"))
    # A stable default: the same client keeps its color across reconnects and restarts.
    color = parse_color(data.get("color") or _PALETTE[zlib.crc32(client.encode()) % len(_PALETTE)])
    return Person(session=session, client=client, name=name, color=color)


def join_position(data: dict[str, Any]) -> tuple[int, bool]:
    since = data.get("since", 0)
    full = data.get("full", "since" not in data)
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise sync_errors.ProtocolViolation("'since' must be a non-negative integer")
    if not isinstance(full, bool):
        raise sync_errors.ProtocolViolation("'full' must be true or false")
    return since, full


async def receive_json(websocket: WebSocket, limit: int) -> dict[str, Any]:
    """The next message as a JSON object. Raises BadMessage with the answer to a bad one,
    ProtocolError for a binary frame, WebSocketDisconnect when the peer is gone."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("text")
    if raw is None:
        raise ProtocolError("binary frames are not part of this protocol; send JSON text")
    if len(raw.encode("utf-8", "surrogatepass")) > limit:
        raise BadMessage(
            "message-too-large",
            f"a message may be at most {limit} bytes; this one was larger",
            **op_fields(raw),
        )
    try:
        data = decode(raw)
    except DecodeError as exc:
        raise BadMessage("bad-json", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadMessage("bad-message", "send a JSON object")
    return data


def op_fields(raw: str) -> dict[str, Any]:
    """The client and seq of an oversized edit, so its author can drop that edit."""
    try:
        data = decode(raw)
    except DecodeError:
        return {}
    return op_fields_of(data)


def op_fields_of(data: object) -> dict[str, Any]:
    client = data.get("client") if isinstance(data, dict) else None
    seq = data.get("seq") if isinstance(data, dict) else None
    if isinstance(client, str) and isinstance(seq, int) and not isinstance(seq, bool):
        return {"client": client, "seq": seq}
    return {}
