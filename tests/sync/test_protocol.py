from __future__ import annotations

import pytest

from sync.errors import ProtocolViolation
from sync.protocol import (
    Edit,
    EditError,
    OpId,
    Resync,
    Revision,
    Snapshot,
    Synced,
    from_wire,
)

MESSAGES = [
    Edit(3, OpId("c1", 7), "@@ -0,0 +1 @@\n+x\n"),
    Resync("c1", 3),
    Resync("c1", 3, full=True),
    Revision(4, 3, "alice", OpId("c1", 7), "@@ -0,0 +1 @@\n+x\n", "1:8cdc1683"),
    Snapshot(4, "x", "1:8cdc1683", last_seq=7),
    Synced(4),
    EditError(OpId("c1", 8), "patch-rejected", "hunk 1 matches nothing"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_wire_round_trip(message: object) -> None:
    assert from_wire(message.to_wire()) == message  # type: ignore[attr-defined]


def test_edit_wire_shape() -> None:
    assert Edit(3, OpId("c1", 7), "p").to_wire() == {
        "type": "edit",
        "base": 3,
        "client": "c1",
        "seq": 7,
        "patch": "p",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({"type": "nope"}, "unknown message type 'nope'"),
        ({"type": "edit", "client": "c", "seq": 1, "patch": ""}, "lacks 'base'"),
        ({"type": "edit", "base": -1, "client": "c", "seq": 1, "patch": ""}, "non-negative"),
        ({"type": "edit", "base": True, "client": "c", "seq": 1, "patch": ""}, "non-negative"),
        ({"type": "edit", "base": 0, "client": "c", "seq": 1, "patch": 5}, "must be a str"),
        ({"type": "edit", "base": 0, "client": "a:b", "seq": 1, "patch": ""}, "client id"),
        ({"type": "edit", "base": 0, "client": "", "seq": 1, "patch": ""}, "client id"),
        ({"type": "resync", "client": "c", "since": 0, "full": "yes"}, "true or false"),
    ],
)
def test_bad_messages_are_named(data: object, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=message):
        from_wire(data)


def test_op_id_text_form() -> None:
    assert str(OpId("c1", 7)) == "c1:7"
    assert OpId.parse("c1:7") == OpId("c1", 7)
    with pytest.raises(ProtocolViolation):
        OpId.parse("c1")
    with pytest.raises(ProtocolViolation):
        OpId.parse("a:\u00b2")
