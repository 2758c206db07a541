"""JSON for the wire: strict reading, writing that is always valid JSON in valid UTF-8."""

from __future__ import annotations

import json

import pytest

from app.core.wire import DecodeError, decode, encode


def test_encode_is_compact_and_keeps_non_ascii_text() -> None:
    text = encode({"type": "revision", "author": "Zoë 😀", "rev": 3})
    assert text == '{"type":"revision","author":"Zoë 😀","rev":3}'
    assert json.loads(text)["author"] == "Zoë 😀"


@pytest.mark.parametrize("value", [2**70, -(2**80), "\ud800", {"nested": "a\udfffb"}])
def test_what_orjson_refuses_to_write_is_still_written_as_valid_json(value: object) -> None:
    text = encode({"at": value})
    assert json.loads(text) == {"at": value}
    text.encode("utf-8")  # no lone surrogate in the output


@pytest.mark.parametrize(
    "raw",
    [
        "[1, 2",
        "NaN",
        '{"at": Infinity}',
        "[1e999]",
        "[" * 5000 + "]" * 5000,
        '{"a": "\\ud800", "b": NaN}',
        "[" * 200_000 + '"\\ud800"' + "]" * 200_000,
    ],
)
def test_decode_refuses_what_is_not_strict_json(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode(raw)
    with pytest.raises(ValueError):  # DecodeError is a ValueError too
        decode(raw)


def test_a_lone_surrogate_escape_is_read_so_its_field_can_be_refused() -> None:
    assert decode('{"patch": "+\\ud800", "seq": 7}') == {"patch": "+\ud800", "seq": 7}
