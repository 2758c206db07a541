"""JSON for the wire: strict reading, writing that is always valid JSON in valid UTF-8."""

from __future__ import annotations

import json

import orjson
import pytest

from app.core.wire import DecodeError, decode, encode


def test_encode_is_compact_and_keeps_non_ascii_text() -> None:
    text = encode({"type": "revision", "author": "Zoë 😀", "rev": 3})
    assert text == '{"type":"revision","author":"Zoë 😀","rev":3}'
    assert json.loads(text)["author"] == "Zoë 😀"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (2**70, 2**70),
        (-(2**80), -(2**80)),
        # A lone surrogate, even escaped, is refused by strict readers (orjson among them):
        # it is written as U+FFFD, and a surrogate pair is kept.
        ("\ud800", "\ufffd"),
        ({"nested": "a\udfffb😀"}, {"nested": "a\ufffdb😀"}),
        ([float("inf"), "\udc00"], [None, "\ufffd"]),
    ],
)
def test_what_orjson_refuses_to_write_is_still_written_as_valid_json(
    value: object, written: object
) -> None:
    text = encode({"at": value})
    assert json.loads(text) == {"at": written}
    text.encode("utf-8")  # no lone surrogate in the output
    if not isinstance(written, int):
        assert orjson.loads(text) == {"at": written}  # the strictest reader takes it


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
        # The standard library reads messages holding an escaped lone surrogate; it is held
        # to orjson's rules too.
        '{"a": "\\ud800", "b": 1e999}',
        '{"a": "\\ud800", "b": -Infinity}',
        '{"a": "\\ud800", "b": ' + "9" * 5000 + "}",
        '{"a": "\\ud800", "b": ' + "9" * 21 + "}",
        "[" * 200_000 + '"\\ud800", ' + "1" * 5000 + "]" * 200_000,
    ],
)
def test_decode_refuses_what_is_not_strict_json(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode(raw)
    with pytest.raises(ValueError):  # DecodeError is a ValueError too
        decode(raw)


def test_a_lone_surrogate_escape_is_read_so_its_field_can_be_refused() -> None:
    assert decode('{"patch": "+\\ud800", "seq": 7}') == {"patch": "+\ud800", "seq": 7}


def test_integers_the_standard_reader_takes_are_exact_up_to_20_digits() -> None:
    assert decode('{"a": "\\ud800", "b": ' + "9" * 20 + "}")["b"] == int("9" * 20)
