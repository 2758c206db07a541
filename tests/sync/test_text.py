from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import ops
from sync import text as text_module
from sync.errors import InvalidText
from sync.text import (
    K,
    checksum,
    checksum_length,
    checksum_matches,
    checksum_v1,
    checksum_version,
    codepoint_to_utf16,
    find_invalid,
    update_checksum,
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


def test_checksum_v1_is_length_and_crc_of_utf8() -> None:
    text = "a😀\r\n"
    assert checksum_v1(text) == f"4:{zlib.crc32(text.encode()):08x}"
    assert checksum_length(checksum_v1(text)) == 4
    assert checksum_v1("") == "0:00000000"
    assert checksum_version(checksum_v1(text)) == 1


def test_checksum_v2_is_length_and_two_lanes() -> None:
    value = checksum("a😀\r\n")
    assert re.fullmatch(r"4:[0-9a-f]{16}", value)
    assert checksum_length(value) == 4
    assert checksum_version(value) == 2
    assert checksum("") == reference_checksum("")  # K - 1 windows of sentinels only
    assert checksum("") != "0:" + "0" * 16


@pytest.mark.parametrize("version", [checksum, checksum_v1])
def test_checksum_tells_texts_apart(version: Callable[[str], str]) -> None:
    assert version("ab") != version("ba")
    assert version("e\u0301") != version("\u00e9")
    assert version("a" * 40) != version("a" * 20 + "b" + "a" * 19)  # same length
    assert version("x" * 20 + "ab") != version("x" * 20 + "ba")  # order matters
    assert version("ab" * 20) != version("ba" * 20)


def test_checksum_cannot_tell_blocks_swapped_between_identical_contexts() -> None:
    """The limit docs/protocol.md states: no window is longer than K, so two blocks that
    each sit between the same K - 1 characters can trade places unseen."""
    context = "-" * (K - 1)
    one = f"start{context}cat{context}dog{context}end"
    two = f"start{context}dog{context}cat{context}end"
    assert checksum(one) == checksum(two)
    assert checksum_v1(one) != checksum_v1(two)
    shorter = context[1:]  # K - 2 characters of context: some window sees both blocks
    assert checksum(f"{shorter}cat{shorter}dog{shorter}") != checksum(
        f"{shorter}dog{shorter}cat{shorter}"
    )


def test_checksum_of_corrupt_text_does_not_raise() -> None:
    assert checksum("\ud800").startswith("1:")
    assert checksum_v1("\ud800").startswith("1:")
    assert checksum("\ud800") == reference_checksum("\ud800")


def test_checksum_versions_and_matching() -> None:
    assert checksum_version("3:0") is None
    assert checksum_version("3:" + "0" * 12) is None
    assert checksum_version("3:" + "A" * 16) is None  # lowercase only
    assert checksum_matches("abc", checksum("abc"))
    assert checksum_matches("abc", checksum_v1("abc"))
    assert not checksum_matches("abd", checksum("abc"))
    assert not checksum_matches("abd", checksum_v1("abc"))
    assert not checksum_matches("abc", "3:0")


def test_checksum_length_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a checksum"):
        checksum_length("abc")


# -- the version 2 checksum against a plain definition, and its update ------------------------


def reference_checksum(text: str) -> str:
    """Version 2 as docs/protocol.md defines it, one window at a time."""
    values = [0x110000] * (K - 1) + [ord(ch) for ch in text] + [0x110000] * (K - 1)
    lanes = []
    for base in (0x9E3779B1, 0x85EBCA77):
        total = 0
        for start in range(len(values) - K + 1):
            h = 0
            for value in values[start : start + K]:
                h = (h * base + value) & 0xFFFFFFFF
            h ^= h >> 16
            h = (h * 0x85EBCA6B) & 0xFFFFFFFF
            h ^= h >> 13
            h = (h * 0xC2B2AE35) & 0xFFFFFFFF
            h ^= h >> 16
            total = (total + h) & 0xFFFFFFFF
        lanes.append(total)
    return f"{len(text)}:{lanes[0]:08x}{lanes[1]:08x}"


ALPHABET = "ab\n😀é字\U0010fffd"


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_checksum_is_the_definition(text: str) -> None:
    assert checksum(text) == reference_checksum(text)


def test_long_texts_are_hashed_in_chunks_that_agree() -> None:
    chunk = text_module._CHUNK
    text = ("lorem ipsum 😀 " * (3 * chunk // 15 + 50))[: 3 * chunk + 7]
    [whole] = text_module._window_sums((text, 0, len(text) + K - 1))  # one piece
    assert checksum(text) == text_module._format(len(text), whole)
    assert checksum(text[:300]) == reference_checksum(text[:300])
    op = ops.replace(len(text), chunk - 3, text[chunk - 3 : 2 * chunk], "x" * chunk)
    new = ops.apply(text, op)  # a change too long for one piece
    assert update_checksum(checksum(text), text, op, new) == checksum(new)


@st.composite
def text_and_edit(draw: st.DrawFn) -> tuple[str, ops.Op]:
    """A text (often with long repeats) and an operation of several changes, with gaps around
    K - 1 between them, long inserts and deletes, at either end too."""
    unit = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=3))
    text = draw(st.text(alphabet=ALPHABET, max_size=120) | st.just(unit * draw(st.integers(0, 60))))
    builder = ops.OpBuilder()
    index = 0
    gaps = st.sampled_from([0, 1, K - 2, K - 1, K, 2 * K, 3 * K]) | st.integers(0, len(text))
    while True:
        gap = min(draw(gaps), len(text) - index)
        builder.retain(gap)
        index += gap
        if index == len(text) and not draw(st.booleans()):
            return text, builder.build()
        deleted = min(draw(st.sampled_from([0, 1, 3, K, 40])), len(text) - index)
        builder.delete(text[index : index + deleted])
        index += deleted
        if deleted == 0 or draw(st.booleans()):
            builder.insert(draw(st.text(alphabet=ALPHABET, min_size=1, max_size=40)))


@given(text_and_edit())
def test_update_equals_the_checksum_from_scratch(case: tuple[str, ops.Op]) -> None:
    old, op = case
    new = ops.apply(old, op)
    assert update_checksum(checksum(old), old, op, new) == checksum(new)


@st.composite
def two_ranges(draw: st.DrawFn) -> tuple[tuple[str, int, int], tuple[str, int, int]]:
    """An old and a new range of windows, ASCII or not, in the middle or at either end."""
    ranges = []
    for _ in range(2):
        text = draw(st.text(alphabet=draw(st.sampled_from(["ab\n", ALPHABET])), max_size=60))
        start = draw(st.integers(0, len(text) + K - 1))
        stop = draw(st.integers(start, min(start + 100, len(text) + K - 1)))
        ranges.append((text, start, stop))
    return ranges[0], ranges[1]


@given(two_ranges())
def test_window_delta_is_the_difference_of_window_sums(
    ranges: tuple[tuple[str, int, int], tuple[str, int, int]],
) -> None:
    old, new = ranges
    gone, come = text_module._window_sums(old, new)
    assert text_module._window_delta(old, new) == (
        (come[0] - gone[0]) & 0xFFFFFFFF,
        (come[1] - gone[1]) & 0xFFFFFFFF,
    )


@given(st.text(alphabet=ALPHABET + "\ud800", max_size=40))
def test_ascii_and_general_spreading_agree(text: str) -> None:
    ascii_text = text.encode("ascii", "replace").decode()
    for body in (text, ascii_text):
        utf32 = body.encode("utf-32-le", "surrogatepass")
        expected = b"".join(utf32[i : i + 4] + bytes(4) for i in range(0, len(utf32), 4))
        assert bytes(text_module._spread(body)) == expected


def test_update_needs_a_version_2_checksum() -> None:
    op = ops.replace(3, 0, "", "x")
    with pytest.raises(ValueError, match="not a version 2 checksum"):
        update_checksum(checksum_v1("abc"), "abc", op, "xabc")


def test_update_reads_only_around_the_change() -> None:
    """What makes a keystroke cost the same on any document: the update never looks at text
    more than K - 1 characters from a change."""
    old = "a" * 1000 + "b" * 1000
    op = ops.replace(2000, 1000, "", "x")
    new = ops.apply(old, op)
    blind_old = "?" * (1000 - K) + old[1000 - K : 1000 + K] + "?" * (1000 - K)
    blind_new = "?" * (1000 - K) + new[1000 - K : 1001 + K] + "?" * (1000 - K)
    assert update_checksum(checksum(old), blind_old, op, blind_new) == checksum(new)


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
