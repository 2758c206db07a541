"""The messages of the sync model, and their JSON form on every wire.

The same shapes travel over WebSockets, through tests' simulated networks and (as XML
attributes) through XMPP. ``from_wire`` is strict: a message of the wrong shape raises
:class:`ProtocolViolation` naming the field, never a ``KeyError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from sync.errors import ProtocolViolation
from sync.intent import Intent
from sync.intent import parse as parse_intent

_CLIENT_ID = re.compile(r"[A-Za-z0-9_.~-]{1,64}")


def validate_client_id(value: object) -> str:
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise ProtocolViolation("client id must be 1 to 64 characters from A-Z a-z 0-9 _ . ~ -")
    return value


@dataclass(frozen=True, slots=True, order=True)
class OpId:
    """An edit's identity: unique per client, increasing with every edit it sends."""

    client: str
    seq: int

    def __str__(self) -> str:
        return f"{self.client}:{self.seq}"

    @classmethod
    def parse(cls, value: str) -> OpId:
        client, sep, seq = value.rpartition(":")
        if not sep or not (seq.isascii() and seq.isdigit()):
            raise ProtocolViolation(f"operation id {value!r} is not '<client>:<seq>'")
        return cls(validate_client_id(client), int(seq))


@dataclass(frozen=True, slots=True)
class Edit:
    """A client's change: a patch against the text at revision ``base``.

    ``intent`` says how its insert continues its author's previous one (``sync.intent``);
    an edit without the field (from an older client) is ``LEGACY``.
    """

    base: int
    op_id: OpId
    patch: str
    intent: Intent = Intent.LEGACY

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "edit",
            "base": self.base,
            "client": self.op_id.client,
            "seq": self.op_id.seq,
            "patch": self.patch,
        }
        if self.intent is not Intent.LEGACY:
            wire["intent"] = self.intent.value
        return wire


@dataclass(frozen=True, slots=True)
class Revision:
    """One step of a document's history: the exact patch from ``rev - 1`` to ``rev``."""

    rev: int
    base: int  # the revision the author's edit was made on (``rev - 1`` unless rebased)
    author: str
    op_id: OpId
    patch: str
    checksum: str  # of the text at ``rev``
    # The author's edit's intent (``sync.intent``); never LEGACY, and "none" is left out.
    intent: Intent = Intent.NONE

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "revision",
            "rev": self.rev,
            "base": self.base,
            "author": self.author,
            "client": self.op_id.client,
            "seq": self.op_id.seq,
            "patch": self.patch,
            "checksum": self.checksum,
        }
        if self.intent is not Intent.NONE:
            wire["intent"] = self.intent.value
        return wire


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole text at ``rev``; ``last_seq`` is the newest edit of the asking client
    that the text already contains (0 if none)."""

    rev: int
    text: str
    checksum: str
    last_seq: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "rev": self.rev,
            "text": self.text,
            "checksum": self.checksum,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True, slots=True)
class Resync:
    """A client asks for everything after ``since`` (on connect and after a gap), or with
    ``full`` for a snapshot (after its copy failed a checksum)."""

    client: str
    since: int
    full: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"type": "resync", "client": self.client, "since": self.since, "full": self.full}


@dataclass(frozen=True, slots=True)
class Synced:
    """The end of a catch-up: the client is now at ``rev``."""

    rev: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "synced", "rev": self.rev}


@dataclass(frozen=True, slots=True)
class EditError:
    """The server refused an edit; the client drops it and tells its user."""

    op_id: OpId
    code: str
    message: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "error",
            "code": self.code,
            "message": self.message,
            "client": self.op_id.client,
            "seq": self.op_id.seq,
        }


ServerMessage: TypeAlias = Revision | Snapshot | Synced | EditError
ClientMessage: TypeAlias = Edit | Resync


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise ProtocolViolation(f"'{data.get('type', 'message')}' message lacks '{name}'")
    value = data[name]
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProtocolViolation(f"'{name}' must be a non-negative integer")
    elif not isinstance(value, kind):
        raise ProtocolViolation(f"'{name}' must be a {kind.__name__}")
    return value


def _op_id(data: dict[str, Any]) -> OpId:
    return OpId(validate_client_id(_field(data, "client", str)), _field(data, "seq", int))


def from_wire(data: object) -> ClientMessage | ServerMessage:
    if not isinstance(data, dict):
        raise ProtocolViolation("a message must be a JSON object")
    kind = data.get("type")
    if kind == "edit":
        return Edit(
            _field(data, "base", int),
            _op_id(data),
            _field(data, "patch", str),
            parse_intent(data.get("intent"), default=Intent.LEGACY),
        )
    if kind == "resync":
        full = data.get("full", False)
        if not isinstance(full, bool):
            raise ProtocolViolation("'full' must be true or false")
        return Resync(
            validate_client_id(_field(data, "client", str)), _field(data, "since", int), full
        )
    if kind == "revision":
        return Revision(
            _field(data, "rev", int),
            _field(data, "base", int),
            _field(data, "author", str),
            _op_id(data),
            _field(data, "patch", str),
            _field(data, "checksum", str),
            parse_intent(data.get("intent"), default=Intent.NONE),
        )
    if kind == "snapshot":
        return Snapshot(
            _field(data, "rev", int),
            _field(data, "text", str),
            _field(data, "checksum", str),
            _field(data, "last_seq", int),
        )
    if kind == "synced":
        return Synced(_field(data, "rev", int))
    if kind == "error":
        return EditError(_op_id(data), _field(data, "code", str), _field(data, "message", str))
    raise ProtocolViolation(f"unknown message type {kind!r}")
