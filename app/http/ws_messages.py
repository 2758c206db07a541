"""Reading the WebSocket protocol's messages: JSON objects within bounds, and their fields.

Every check here happens before any work: a message over the size limit is not parsed, and
each field is validated to its documented type and range (integers up to 2^53 - 1, strings
of bounded length, no lone surrogates in anything that is echoed). What breaks the protocol's
state machine raises ``ProtocolError`` (the socket is closed with 4400); what is merely wrong
raises ``BadMessage`` carrying the error message to answer with (the socket stays open).
"""

from __future__ import annotations

import math
import re
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from app.core.limits import MAX_SAFE_INTEGER
from app.core.members import Person
from app.core.wire import DecodeError, decode
from sync import errors as sync_errors
from sync.protocol import Edit, Resync, from_wire, validate_client_id
from sync.text import find_invalid, validate_text

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_CLIENT = re.compile(r"[A-Za-z0-9_.~-]{1,64}")
# Where an oversized edit names itself, found without parsing it.
_CLIENT_FIELD = re.compile(r'"client"\s*:\s*"([A-Za-z0-9_.~-]{1,64})"')
_SEQ_FIELD = re.compile(r'"seq"\s*:\s*([0-9]{1,16})(?![0-9.eE])')
# A ping's ``at`` is echoed: a number, or a short string.
MAX_AT_CHARS = 64
MAX_TYPE_CHARS = 32


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


def is_count(value: object, low: int = 0) -> bool:
    """An integer from ``low`` to 2^53 - 1 (what a JavaScript number holds exactly)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_SAFE_INTEGER
    )


def parse_position(key: str, value: object) -> int | None:
    if value is None:
        return None
    if not is_count(value):
        raise sync_errors.ProtocolViolation(
            f"'{key}' must be an integer from 0 to {MAX_SAFE_INTEGER}, or null"
        )
    assert isinstance(value, int)
    return value


def message_type(data: dict[str, Any]) -> str:
    """The message's ``type``; BadMessage if it is not a short string (it is echoed)."""
    kind = data.get("type")
    if (
        not isinstance(kind, str)
        or not 1 <= len(kind) <= MAX_TYPE_CHARS
        or find_invalid(kind) is not None
    ):
        raise BadMessage(
            "bad-message", f"'type' must be a string of 1 to {MAX_TYPE_CHARS} characters"
        )
    return kind


def ping_at(data: dict[str, Any]) -> object:
    """A ping's ``at``, to echo: absent, null, a number within 2^53 - 1 of zero, or a short
    string without forbidden characters."""
    at = data.get("at")
    if at is None:
        return None
    if isinstance(at, int | float) and not isinstance(at, bool):
        if math.isfinite(at) and abs(at) <= MAX_SAFE_INTEGER:
            return at
    elif isinstance(at, str) and len(at) <= MAX_AT_CHARS and find_invalid(at) is None:
        return at
    raise BadMessage(
        "bad-message",
        f"'at' must be a number from -{MAX_SAFE_INTEGER} to {MAX_SAFE_INTEGER}, or a string of "
        f"at most {MAX_AT_CHARS} characters",
    )


def edit_from(data: dict[str, Any]) -> Edit:
    """The edit in ``data``; BadMessage naming the edit (when it names itself) if not."""
    try:
        message = from_wire(data)
        assert isinstance(message, Edit)
        if not is_count(message.op_id.seq, 1):
            raise sync_errors.ProtocolViolation(
                f"'seq' must be an integer from 1 to {MAX_SAFE_INTEGER}: a client numbers its "
                "edits from 1"
            )
        if not is_count(message.base):
            raise sync_errors.ProtocolViolation(
                f"'base' must be an integer from 0 to {MAX_SAFE_INTEGER}"
            )
    except sync_errors.ProtocolViolation as exc:
        raise BadMessage("bad-message", str(exc), **op_fields_of(data)) from None
    return message


def resync_from(data: dict[str, Any]) -> Resync:
    try:
        message = from_wire(data)
        assert isinstance(message, Resync)
        if not is_count(message.since):
            raise sync_errors.ProtocolViolation(
                f"'since' must be an integer from 0 to {MAX_SAFE_INTEGER}"
            )
    except sync_errors.ProtocolViolation as exc:
        raise BadMessage("bad-message", str(exc)) from None
    return message


def person_from_join(data: dict[str, Any], session: str) -> Person:
    client = validate_client_id(data.get("client"))
    name = parse_name(data.get("name", "Anonymous"))
    # The color asked for, if any: the room gives one nobody else present has
    # (app/core/colors.py).
    color = parse_color(data["color"]) if data.get("color") else ""
    return Person(session=session, client=client, name=name, color=color)


def join_position(data: dict[str, Any]) -> tuple[int, bool]:
    since = data.get("since", 0)
    full = data.get("full", "since" not in data)
    if not is_count(since):
        raise sync_errors.ProtocolViolation(
            f"'since' must be an integer from 0 to {MAX_SAFE_INTEGER}"
        )
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
    """The client and seq of an oversized edit, so its author can drop that edit.

    Found by a scan rather than a parse: a message over the limit gets no more work than
    reading it took.
    """
    if '"edit"' not in raw:
        return {}
    client = _CLIENT_FIELD.search(raw)
    seq = _SEQ_FIELD.search(raw)
    if client is None or seq is None:
        return {}
    return op_fields_of({"client": client.group(1), "seq": int(seq.group(1))})


def op_fields_of(data: object) -> dict[str, Any]:
    """The client and seq a refused edit named, to echo back: only if they are of the shape
    an operation id has, so that what is echoed is short and valid."""
    client = data.get("client") if isinstance(data, dict) else None
    seq = data.get("seq") if isinstance(data, dict) else None
    if isinstance(client, str) and _CLIENT.fullmatch(client) and is_count(seq):
        return {"client": client, "seq": seq}
    return {}
