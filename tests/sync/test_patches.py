from __future__ import annotations

import random
import re
import urllib.parse
from collections.abc import Callable

import pytest
from diff_match_patch import diff_match_patch
from hypothesis import given
from hypothesis import strategies as st

from sync import ops, patches
from sync.errors import InvalidText, MalformedPatch, PatchRejected
from sync.text import validate_text

ALPHABET = "ab c\n😀é字\r"
dmp = diff_match_patch()


def op_between(a: str, b: str) -> ops.Op:
    return ops.from_diffs(dmp.diff_main(a, b))


pairs = st.tuples(st.text(alphabet=ALPHABET, max_size=80), st.text(alphabet=ALPHABET, max_size=80))


@given(pairs)
def test_make_patch_equals_diff_match_patch(pair: tuple[str, str]) -> None:
    a, b = pair
    op = op_between(a, b)
    ours = patches.patch_text(a, op)
    assert ours == dmp.patch_toText(dmp.patch_make(a, ops.to_diffs(a, op)))


@given(pairs)
def test_parse_and_apply_round_trip_exactly(pair: tuple[str, str]) -> None:
    a, b = pair
    op = op_between(a, b)
    hunks = patches.parse_patch(patches.patch_text(a, op))
    new_text, parsed_op = patches.apply_patch(a, hunks)
    assert new_text == b
    assert parsed_op == op


@given(pairs)
def test_diff_match_patch_applies_our_patches(pair: tuple[str, str]) -> None:
    # A bot with the Python port and an exact copy gets the exact result.
    a, b = pair
    text = patches.patch_text(a, op_between(a, b))
    new_text, placed = dmp.patch_apply(dmp.patch_fromText(text), a)
    assert new_text == b
    assert all(placed)


def test_units_are_code_points() -> None:
    text = patches.patch_text("a😀b", op_between("a😀b", "a😁b"))
    assert text == "@@ -1,3 +1,3 @@\n a\n-%F0%9F%98%80\n+%F0%9F%98%81\n b\n"


def test_escaping_matches_encode_uri() -> None:
    text = patches.patch_text("", (ops.Insert('a b#%+&<>"\n]]>'),))
    assert text == "@@ -0,0 +1,14 @@\n+a b#%25+&%3C%3E%22%0A%5D%5D%3E\n"


def test_rolling_context_overlap_is_understood() -> None:
    # Changes close together make diff-match-patch give hunks overlapping context.
    rng = random.Random(7)
    for _ in range(500):
        base = "".join(rng.choice("xy") for _ in range(60))
        new = list(base)
        for position in sorted(rng.sample(range(60), 6), reverse=True):
            new[position] = "Z"
        target = "".join(new)
        hunks = patches.make_patch(base, op_between(base, target))
        assert patches.apply_patch(base, hunks)[0] == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "text before the first '@@' header"),
        ("@@ -1 +1 @@\n?x\n", "unknown line kind"),
        ("@@ bad @@\n", "bad hunk header"),
        ("@@ -1,2 +1,2 @@\n ab\n\n", "empty line inside a hunk"),
        ("@@ -1,3 +1,3 @@\n ab\n", "header says 3/3 characters but its lines hold 2/2"),
        ("@@ -0,0 +1 @@\n+%FF\n", "not UTF-8"),
        ("@@ -0,0 +1 @@\n+%ED%A0%80\n", "not UTF-8"),
        ("@@ -0,0 +1 @@\n+%4\n", "'%' not followed by two hex digits"),
    ],
)
def test_malformed_patches_are_named(text: str, message: str) -> None:
    with pytest.raises(MalformedPatch, match=message):
        patches.parse_patch(text)


def test_forbidden_characters_in_patches_are_refused() -> None:
    with pytest.raises(InvalidText, match="U\\+0001"):
        patches.parse_patch("@@ -0,0 +1 @@\n+%01\n")


def test_patch_past_the_end_is_rejected() -> None:
    hunks = patches.parse_patch("@@ -5,2 +5,2 @@\n ab\n")
    with pytest.raises(PatchRejected, match="past the end of the text"):
        patches.op_from_patch(hunks, 3)


def test_hunks_out_of_order_are_rejected() -> None:
    hunks = patches.parse_patch("@@ -3 +3,2 @@\n c\n+x\n@@ -1 +1,2 @@\n a\n+y\n")
    with pytest.raises(PatchRejected, match=r"already changed|starts before"):
        patches.op_from_patch(hunks, 5)


def test_context_mismatch_is_rejected() -> None:
    hunks = patches.make_patch("hello world", op_between("hello world", "hello there world"))
    with pytest.raises(PatchRejected, match="context does not match"):
        patches.apply_patch("jello world", hunks)


def test_empty_patch_is_the_identity() -> None:
    assert patches.parse_patch("") == []
    assert patches.apply_patch("abc", []) == ("abc", (ops.Retain(3),))


def test_fuzzy_apply_places_shifted_hunks() -> None:
    base = "The quick brown fox jumps over the lazy dog."
    hunks = patches.make_patch(base, op_between(base, base.replace("lazy", "sleepy")))
    moved = "Prefix added by someone else. " + base
    result = patches.fuzzy_apply(moved, hunks)
    assert result.placed == [True]
    assert result.text == "Prefix added by someone else. " + base.replace("lazy", "sleepy")
    result = patches.fuzzy_apply("0123456789 0123456789 0123456789 0123456789", hunks)
    assert result.placed == [False]
    assert "".join(text for _, text in result.lost_inserts) == "seep"


def test_fuzzy_apply_reports_long_hunks_as_one() -> None:
    # The port splits hunks over 32 characters into pieces; results stay one per hunk.
    base = "The quick brown fox jumps over the lazy dog."
    op = ops.replace(len(base), 4, base[4:39], "slow cat")
    result = patches.fuzzy_apply(
        "A quick brown fox jumps over the lazy dog!", patches.make_patch(base, op)
    )
    assert len(result.placed) == 1


def test_fuzzy_apply_never_leaks_its_padding() -> None:
    op = ops.from_json([{"delete": "abcd"}, {"retain": 2}, {"insert": "XY"}])
    result = patches.fuzzy_apply("ab", patches.make_patch("abcdef", op))
    assert not any(ch in result.text for ch in "\x01\x02\x03\x04")


def test_raw_lone_surrogate_in_a_patch_is_invalid_text() -> None:
    with pytest.raises(InvalidText, match="lone surrogate"):
        patches.parse_patch("@@ -1 +1 @@\n-\ud800\n")


def test_header_digits_must_be_ascii() -> None:
    with pytest.raises(MalformedPatch, match="bad hunk header"):
        patches.parse_patch("@@ -\u0661 +\u0661 @@\n-a\n+b\n")


def test_context_is_unique_near_the_hunk_not_in_the_whole_text() -> None:
    # The same ten characters 3,000 code points away: diff-match-patch grows the context past
    # them (it searches the whole text); we look only within CONTEXT_RADIUS of the hunk.
    text = "0123456789" + "-" * 3000 + "0123456789"
    op = ops.replace(len(text), 5, "", "Z")
    ours = patches.patch_text(text, op)
    assert ours == "@@ -1,13 +1,14 @@\n 01234\n+Z\n 56789---\n"
    assert ours != dmp.patch_toText(dmp.patch_make(text, ops.to_diffs(text, op)))
    # diff-match-patch's own fuzzy applier still puts it in the right place, on the text it
    # was made for and on one that drifted by a few characters.
    for base, expected in [(text, ops.apply(text, op)), ("ab" + text, "ab01234Z" + text[5:])]:
        result, applied = dmp.patch_apply(dmp.patch_fromText(ours), base)
        assert applied == [True]
        assert result == expected


def test_a_repeat_within_the_radius_still_grows_the_context() -> None:
    text = "0123456789" + "-" * 100 + "0123456789"
    op = ops.replace(len(text), 5, "", "Z")
    ours = patches.patch_text(text, op)
    assert ours == dmp.patch_toText(dmp.patch_make(text, ops.to_diffs(text, op)))
    assert ours == "@@ -1,17 +1,18 @@\n 01234\n+Z\n 56789-------\n"


def test_a_header_number_of_more_than_16_digits_is_malformed() -> None:
    assert patches.parse_patch("@@ -1,0 +9007199254740991,1 @@\n+a\n")[0].start2 == 9007199254740990
    for header in ("@@ -1,0 +" + "9" * 17 + ",1 @@", "@@ -" + "1" * 5000 + ",0 +1,1 @@"):
        with pytest.raises(MalformedPatch, match="bad hunk header"):
            patches.parse_patch(header + "\n+a\n")


# -- the reader against a plain one, on damaged patches ----------------------------------------


def reference_decode(line: str, number: int) -> str:
    validate_text(line, what=f"patch line {number}")
    if "%" not in line:
        return line
    if re.search(r"%(?![0-9A-Fa-f]{2})", line):
        raise MalformedPatch(f"patch line {number}: '%' not followed by two hex digits")
    try:
        text = urllib.parse.unquote_to_bytes(line).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPatch(
            f"patch line {number}: escaped bytes are not UTF-8 ({exc.reason})"
        ) from exc
    validate_text(text, what=f"patch line {number}")
    return text


def reference_parse(text: str) -> list[patches.Hunk]:
    """The reader written plainly: every line checked on its own, lengths summed at the end."""
    hunks: list[patches.Hunk] = []
    hunk: patches.Hunk | None = None
    lines = text.split("\n") if text else []
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.startswith("@@"):
            match = patches._HEADER.fullmatch(line)
            if match is None:
                raise MalformedPatch(f"patch line {number}: bad hunk header {line[:80]!r}")
            start1, length1 = patches._parse_coords(match.group(1), match.group(2))
            start2, length2 = patches._parse_coords(match.group(3), match.group(4))
            if start1 < 0 or start2 < 0:
                raise MalformedPatch(f"patch line {number}: positions start at 1")
            hunk = patches.Hunk(start1, length1, start2, length2, [])
            hunks.append(hunk)
            continue
        if hunk is None:
            raise MalformedPatch(f"patch line {number}: text before the first '@@' header")
        if not line:
            raise MalformedPatch(f"patch line {number}: empty line inside a hunk")
        kind = patches._LINE_KINDS.get(line[0])
        if kind is None:
            raise MalformedPatch(f"patch line {number}: unknown line kind {line[0]!r}")
        hunk.diffs.append((kind, reference_decode(line[1:], number)))
    for index, hunk in enumerate(hunks):
        length1 = sum(len(t) for k, t in hunk.diffs if k != ops.DIFF_INSERT)
        length2 = sum(len(t) for k, t in hunk.diffs if k != ops.DIFF_DELETE)
        if (length1, length2) != (hunk.length1, hunk.length2):
            raise MalformedPatch(
                f"hunk {index + 1}: header says {hunk.length1}/{hunk.length2} characters "
                f"but its lines hold {length1}/{length2}"
            )
    return hunks


def outcome(read: Callable[[], object]) -> object:
    try:
        return read()
    except (MalformedPatch, InvalidText) as exc:
        return type(exc), str(exc)


DAMAGE = [
    "%",
    "%4",
    "%C3",
    "%FF",
    "%00",
    "%01",
    "%0A",
    "%5C",
    "\\",
    "\\x41",
    "%5Cx41",
    "%e9",
    "\x01",
    "\ud800",
    "\n",
    "@",
    "@@",
    "?",
    "1",
    " ",
]


@given(pairs, st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(DAMAGE)), max_size=3))
def test_reader_refuses_as_a_plain_reader_does(
    pair: tuple[str, str], damage: list[tuple[int, str]]
) -> None:
    a, b = pair
    text = patches.patch_text(a, op_between(a, b))
    for at, piece in damage:
        at %= len(text) + 1
        text = text[:at] + piece + text[at:]
    assert outcome(lambda: patches.parse_patch(text)) == outcome(lambda: reference_parse(text))


@given(pairs, st.text(alphabet=ALPHABET, max_size=80))
def test_apply_patch_is_op_from_patch_checked(pair: tuple[str, str], other: str) -> None:
    """apply_patch's own checks give what op_from_patch's checks and verify_context give."""
    a, b = pair
    hunks = patches.make_patch(a, op_between(a, b))
    for text in (a, other, a[1:], a + "x"):
        try:
            expected: object = patches.apply_patch(text, hunks)
        except PatchRejected as exc:
            expected = str(exc)
        try:
            op, checks = patches.op_from_patch(hunks, len(text))
            failed = patches.verify_context(text, checks)
            if failed is None:
                new_text = ops.apply(text, op)
                failed = patches.verify_context(new_text, checks, result=True)
                if failed is None:
                    assert expected == (new_text, op)
                    continue
            assert expected == f"the patch's context does not match the text (check {failed + 1})"
        except PatchRejected as exc:
            assert expected == str(exc)


@given(
    st.binary(max_size=40),
    st.text(alphabet="ab\\x%é😀", max_size=10),
    st.sampled_from([str, str.upper, str.lower]),
)
def test_unescaping_is_unquote_to_bytes(data: bytes, raw: str, case: Callable[[str], str]) -> None:
    """Escapes in either case, raw text around them, raw backslashes (another path)."""
    line = case(raw.replace("%", "%25") + urllib.parse.quote(data, safe=patches._SAFE + "\\"))
    assert patches._unescape(line) == urllib.parse.unquote_to_bytes(line)
