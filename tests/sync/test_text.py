from __future__ import annotations

import zlib

import pytest

from sync.errors import InvalidText
from sync.text import (
    checksum,
    checksum_length,
    codepoint_to_utf16,
    find_invalid,
    utf16_length,
    utf16_to_codepoint,
    validate_text,
)

ROUND_TRIP = [
    "plain ascii",
    "emoji 😀👍🏽 and a family 👨‍👩‍👧",
    "CJK 漢字かなカナ한국어",
    "combining e\u0301 and a\u0308\u0323",
    "RTL עברית العربية mixed",
    "windows\r\nline\r\nends\r\n",
    "astral 𝄞 𐐷 𠜎",
    "\t tab and \n newline",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_allowed_text_passes(text: str) -> None:
    assert find_invalid(text) is None
    validate_text(text)


@pytest.mark.parametrize(
    ("text", "position", "codepoint", "reason"),
    [
        ("ab\x00c", 2, 0x0, "not allowed in XML"),
        ("\x01", 0, 0x1, "not allowed in XML"),
        ("x\x1b[0m", 1, 0x1B, "not allowed in XML"),
        ("ok\ufffe", 2, 0xFFFE, "not allowed in XML"),
        ("ok\uffff", 2, 0xFFFF, "not allowed in XML"),
        ("lone \ud83d here", 5, 0xD83D, "lone surrogate"),
        ("lone \ude00", 5, 0xDE00, "lone surrogate"),
    ],
)
def test_forbidden_characters_are_named(
    text: str, position: int, codepoint: int, reason: str
) -> None:
    with pytest.raises(InvalidText, match=reason) as info:
        validate_text(text, what="title")
    assert info.value.position == position
    assert info.value.codepoint == codepoint
    assert f"U+{codepoint:04X} at position {position}" in str(info.value)
    assert str(info.value).startswith("title has")


def test_checksum_is_length_and_crc_of_utf8() -> None:
    text = "a😀\r\n"
    assert checksum(text) == f"4:{zlib.crc32(text.encode()):08x}"
    assert checksum_length(checksum(text)) == 4
    assert checksum("") == "0:00000000"


def test_checksum_tells_texts_apart() -> None:
    assert checksum("ab") != checksum("ba")
    assert checksum("e\u0301") != checksum("\u00e9")


def test_checksum_of_corrupt_text_does_not_raise() -> None:
    assert checksum("\ud800").startswith("1:")


def test_checksum_length_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a checksum"):
        checksum_length("abc")


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_utf16_conversion_round_trips(text: str) -> None:
    assert utf16_length(text) == len(text.encode("utf-16-le")) // 2
    for index in range(len(text) + 1):
        assert utf16_to_codepoint(text, codepoint_to_utf16(text, index)) == index


def test_utf16_index_inside_a_pair_is_an_error() -> None:
    with pytest.raises(IndexError, match="splits the surrogate pair"):
        utf16_to_codepoint("a😀b", 2)
    assert utf16_to_codepoint("a😀b", 3) == 2
    with pytest.raises(IndexError, match="outside"):
        utf16_to_codepoint("ab", 3)
    with pytest.raises(IndexError, match="negative"):
        utf16_to_codepoint("ab", -1)
    with pytest.raises(IndexError, match="outside"):
        codepoint_to_utf16("ab", 3)
