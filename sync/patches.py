"""diff-match-patch patches in text form, with positions in code points.

The wire form of every revision is the text that diff-match-patch's ``patch_toText`` emits:
hunks with a ``@@ -a,b +c,d @@`` header and ``%xx``-escaped UTF-8 lines. This module reads and
writes that form itself rather than through a port, because the ports disagree on units
(JavaScript counts UTF-16) and the Python port decodes invalid UTF-8 silently. Our reader is
strict: bad escapes, bad UTF-8, lone surrogates and XML-forbidden characters are errors.

Hunks use diff-match-patch's *rolling* coordinates: each hunk's start is a position in the text
as left by the hunks before it. :func:`make_patch` reproduces ``patch_make(text, diffs)``
exactly, and :func:`op_from_patch` turns hunks back into an exact operation.
"""

from __future__ import annotations

import codecs
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from diff_match_patch import diff_match_patch, patch_obj

from sync import ops
from sync.errors import EditTooComplex, MalformedPatch, PatchRejected
from sync.ops import DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT, Delete, Diff, Insert, Op, Retain
from sync.text import find_invalid, validate_text

PATCH_MARGIN = 4  # diff-match-patch's Patch_Margin
MATCH_MAX_BITS = 32  # diff-match-patch's Match_MaxBits
# How far either side of a hunk its context must be unique (see ``_add_context``): four times
# the farthest an exact match can be from its expected place and still win in
# diff-match-patch's matcher (Match_Distance 1000 x Match_Threshold 0.5).
CONTEXT_RADIUS = 2048

# The characters diff-match-patch leaves unescaped (the same set as JavaScript's encodeURI,
# plus the space).
_SAFE = "!~*'();/?:@&=+$,# "
# Numbers in a header have at most 16 digits (2**53 has 16): a header with thousands of
# digits is malformed before anything turns them into an integer.
_HEADER = re.compile(r"@@ -([0-9]{1,16}),?([0-9]{0,16}) \+([0-9]{1,16}),?([0-9]{0,16}) @@")


@dataclass(slots=True)
class Hunk:
    start1: int = 0
    length1: int = 0
    start2: int = 0
    length2: int = 0
    diffs: list[Diff] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ContextCheck:
    """Context text a patch expects: at ``position`` of its base text, or (``in_result``) of
    the patched text, for context that overlaps what an earlier hunk of the patch wrote."""

    position: int
    text: str
    in_result: bool = False


def _coords(start: int, length: int) -> str:
    if length == 0:
        return f"{start},0"
    if length == 1:
        return str(start + 1)
    return f"{start + 1},{length}"


def format_patch(hunks: Sequence[Hunk]) -> str:
    """The ``patch_toText`` form of ``hunks``."""
    out: list[str] = []
    for hunk in hunks:
        out.append(
            f"@@ -{_coords(hunk.start1, hunk.length1)} +{_coords(hunk.start2, hunk.length2)} @@\n"
        )
        for kind, text in hunk.diffs:
            sign = "+" if kind == DIFF_INSERT else "-" if kind == DIFF_DELETE else " "
            out.append(sign + urllib.parse.quote(text.encode("utf-8"), _SAFE) + "\n")
    return "".join(out)


_LINE_KINDS = {"+": DIFF_INSERT, "-": DIFF_DELETE, " ": DIFF_EQUAL}
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unescape(line: str) -> bytes:
    """``urllib.parse.unquote_to_bytes(line)``, for a line whose every '%' is followed by two
    hex digits (checked before)."""
    data = line.encode("utf-8")
    if b"\\" in data:
        return urllib.parse.unquote_to_bytes(data)
    # The C decoder of bytes literals' escapes, several times faster than unquote_to_bytes's
    # loop (most of a keystroke's patch reading): with no backslash of the line's own, every
    # escape it reads is one of ours, and each is a valid \xhh.
    unescaped: bytes = codecs.escape_decode(data.replace(b"%", b"\\x"))[0]
    return unescaped


def _decode_line(line: str, number: int, *, checked: bool = False) -> str:
    """The text of a patch line's body. ``checked``: the whole patch is known to hold no
    forbidden character and no bad escape, so only the escaped bytes remain to be checked."""
    # Raw (unescaped) text is tolerated, as diff-match-patch's own reader does, but it must
    # be valid on its own: a lone surrogate cannot even be turned into bytes.
    if not checked and find_invalid(line) is not None:
        validate_text(line, what=f"patch line {number}")
    if "%" not in line:
        return line  # nothing escaped (most context lines): already checked above
    if not checked and _BAD_ESCAPE.search(line):
        raise MalformedPatch(f"patch line {number}: '%' not followed by two hex digits")
    try:
        text = _unescape(line).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPatch(
            f"patch line {number}: escaped bytes are not UTF-8 ({exc.reason})"
        ) from exc
    if find_invalid(text) is not None:
        validate_text(text, what=f"patch line {number}")
    return text


def _parse_coords(start: str, length: str) -> tuple[int, int]:
    if length == "":
        return int(start) - 1, 1
    if length == "0":
        return int(start), 0
    return int(start) - 1, int(length)


def parse_patch(text: str) -> list[Hunk]:
    """Read ``patch_toText`` output strictly (see the module docstring)."""
    hunks: list[Hunk] = []
    if not text:
        return hunks
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    # Raw text and escapes checked once for the whole patch, not line by line; a patch that
    # fails either is read line by line, so that the error names the line.
    checked = find_invalid(text) is None and _BAD_ESCAPE.search(text) is None
    diffs: list[Diff] | None = None  # the current hunk's
    # What each hunk's lines hold (base, result), counted as they are read and compared with
    # its header once every line is read: a malformed line later on is reported first.
    held: list[tuple[int, int]] = []
    length1 = length2 = 0
    for number, line in enumerate(lines, start=1):
        kind = _LINE_KINDS.get(line[:1])
        if kind is None:
            if line.startswith("@@"):
                match = _HEADER.fullmatch(line)
                if match is None:
                    raise MalformedPatch(f"patch line {number}: bad hunk header {line[:80]!r}")
                start1, size1 = _parse_coords(match.group(1), match.group(2))
                start2, size2 = _parse_coords(match.group(3), match.group(4))
                if start1 < 0 or start2 < 0:
                    raise MalformedPatch(f"patch line {number}: positions start at 1")
                if diffs is not None:
                    held.append((length1, length2))
                    length1 = length2 = 0
                diffs = []
                hunks.append(Hunk(start1, size1, start2, size2, diffs))
                continue
            if diffs is None:
                raise MalformedPatch(f"patch line {number}: text before the first '@@' header")
            if not line:
                raise MalformedPatch(f"patch line {number}: empty line inside a hunk")
            raise MalformedPatch(f"patch line {number}: unknown line kind {line[0]!r}")
        if diffs is None:
            raise MalformedPatch(f"patch line {number}: text before the first '@@' header")
        data = _decode_line(line[1:], number, checked=checked)
        diffs.append((kind, data))
        if kind != DIFF_INSERT:
            length1 += len(data)
        if kind != DIFF_DELETE:
            length2 += len(data)
    if diffs is not None:
        held.append((length1, length2))
    for index, (hunk, lengths) in enumerate(zip(hunks, held, strict=True)):
        if lengths != (hunk.length1, hunk.length2):
            raise MalformedPatch(
                f"hunk {index + 1}: header says {hunk.length1}/{hunk.length2} characters "
                f"but its lines hold {lengths[0]}/{lengths[1]}"
            )
    return hunks


def _add_context(hunk: Hunk, text: str) -> None:
    """diff-match-patch's ``patch_addContext``: grow context until unique, then pad.

    Unique, here, within ``CONTEXT_RADIUS`` code points either side of the hunk, where
    diff-match-patch looks at the whole text: a scan of the whole document per keystroke was
    most of what a keystroke on a large document cost. The context is only there for a fuzzy
    matcher, and diff-match-patch's own (``match_main`` with its default distance and
    threshold) never prefers a match farther than 500 code points from where the hunk says it
    is over an exact one there; so a repeat farther away cannot mislead it, and for texts
    shorter than the radius the result is exactly ``patch_make``'s.
    """
    if not text:
        return
    start, length = hunk.start2, hunk.length1
    pattern = text[start : start + length]
    padding = 0
    limit = MATCH_MAX_BITS - PATCH_MARGIN - PATCH_MARGIN
    low, high = max(0, start - CONTEXT_RADIUS), start + length + CONTEXT_RADIUS
    while text.find(pattern, low, high) != text.rfind(pattern, low, high) and len(pattern) < limit:
        padding += PATCH_MARGIN
        pattern = text[max(0, start - padding) : start + length + padding]
    padding += PATCH_MARGIN
    prefix = text[max(0, start - padding) : start]
    if prefix:
        hunk.diffs.insert(0, (DIFF_EQUAL, prefix))
    suffix = text[start + length : start + length + padding]
    if suffix:
        hunk.diffs.append((DIFF_EQUAL, suffix))
    hunk.start1 -= len(prefix)
    hunk.start2 -= len(prefix)
    hunk.length1 += len(prefix) + len(suffix)
    hunk.length2 += len(prefix) + len(suffix)


def make_patch(text: str, op: Op) -> list[Hunk]:
    """The hunks ``patch_make(text, diffs)`` builds for ``op`` applied to ``text``.

    Only the text around each change is copied per hunk (unchanged ranges are never sliced
    out whole: on a large document that was a copy of the text per keystroke), except for the
    uniqueness search that decides how much context a hunk carries, which looks only near the
    hunk (see ``_add_context``).
    """
    hunks: list[Hunk] = []
    hunk = Hunk()
    count1 = count2 = 0  # diff-match-patch's rolling positions
    base = 0  # position in ``text``
    # ``current`` is the text with every finished hunk applied (diff-match-patch's
    # ``prepatch_text``); ``edits`` holds finished hunks' changes not yet applied to it. They
    # are applied only when another hunk starts: after the last hunk nobody needs the text,
    # and rebuilding a large document for nothing was half the cost of a keystroke's patch.
    current = text
    edits: list[tuple[int, str, str]] = []  # (position in current, deleted, inserted)
    pending: list[tuple[int, str, str]] = []
    last = len(op) - 1
    for index, component in enumerate(op):
        if isinstance(component, Retain):
            kind, size = DIFF_EQUAL, component.count
        else:
            kind = DIFF_INSERT if isinstance(component, Insert) else DIFF_DELETE
            size = len(component.text)
        if not hunk.diffs and kind != DIFF_EQUAL:
            hunk.start1, hunk.start2 = count1, count2
            if pending:
                current = _apply_edits(current, pending)
                pending = []
        if isinstance(component, Insert):
            hunk.diffs.append((DIFF_INSERT, component.text))
            hunk.length2 += size
            edits.append((count2, "", component.text))
        elif isinstance(component, Delete):
            hunk.length1 += size
            hunk.diffs.append((DIFF_DELETE, component.text))
            edits.append((count2, component.text, ""))
        elif size <= 2 * PATCH_MARGIN and hunk.diffs and index != last:
            hunk.diffs.append((DIFF_EQUAL, text[base : base + size]))
            hunk.length1 += size
            hunk.length2 += size
        if kind == DIFF_EQUAL and size >= 2 * PATCH_MARGIN and hunk.diffs:
            _add_context(hunk, current)
            hunks.append(hunk)
            hunk = Hunk()
            pending, edits = edits, []
            count1 = count2
        if kind != DIFF_INSERT:
            count1 += size
            base += size
        if kind != DIFF_DELETE:
            count2 += size
    if hunk.diffs:
        _add_context(hunk, current)
        hunks.append(hunk)
    return hunks


def _apply_edits(text: str, edits: list[tuple[int, str, str]]) -> str:
    """Apply a finished hunk's edits, given at positions in the text as it grows."""
    pieces: list[str] = []
    old = 0  # index into ``text``
    shift = 0  # how far positions in the growing text are ahead of ``text``
    for position, deleted, inserted in edits:
        at = position - shift
        pieces.append(text[old:at])
        pieces.append(inserted)
        old = at + len(deleted)
        shift += len(inserted) - len(deleted)
    pieces.append(text[old:])
    return "".join(pieces)


def patch_text(text: str, op: Op) -> str:
    """The wire form of ``op`` applied to ``text``."""
    return format_patch(make_patch(text, op))


def op_from_patch(hunks: Sequence[Hunk], base_length: int) -> tuple[Op, list[ContextCheck]]:
    """The operation a patch performs on a text of ``base_length``, and the context it expects.

    Hunks apply one after another (rolling coordinates), and diff-match-patch lets their
    context overlap: a hunk's trailing context may cover text the next hunk changes, and a
    hunk's leading context may cover text the previous hunk wrote. So context before the
    previous hunk's last change is checked against the result (where it stays put), and all
    other context against the base. Raises :class:`PatchRejected` if hunks change the same
    text, run backwards or reach past the end.
    """
    op, checks = _op_and_context(hunks, base_length)
    return op, [ContextCheck(*check) for check in checks]


# A context check as ``_op_and_context`` gives it: ``ContextCheck``'s fields, in a tuple
# (a frozen dataclass costs more to make than the rest of a keystroke's check).
_Check: TypeAlias = tuple[int, str, bool]


def _op_and_context(hunks: Sequence[Hunk], base_length: int) -> tuple[Op, list[_Check]]:
    """``op_from_patch``, with the checks as tuples."""
    builder = ops.OpBuilder()
    checks: list[_Check] = []
    done = 0  # rolling position just after the previous hunk's last change
    built = 0  # base position up to which the operation is built
    shift = 0  # net length change of the changes so far
    for index, hunk in enumerate(hunks):
        kinds = [kind for kind, _ in hunk.diffs]
        changed = [i for i, kind in enumerate(kinds) if kind != DIFF_EQUAL]
        first = changed[0] if changed else len(kinds)
        last = changed[-1] if changed else len(kinds)
        position = hunk.start2
        for i, (kind, data) in enumerate(hunk.diffs):
            if i == first:
                if position < done:
                    raise PatchRejected(
                        f"hunk {index + 1} changes text that hunk {index} already changed"
                    )
                builder.retain(position - shift - built)
                built = position - shift
            if kind == DIFF_EQUAL:
                settled = max(0, min(len(data), done - position)) if i < first else 0
                if settled:
                    checks.append((position, data[:settled], True))
                if settled < len(data):
                    checks.append((position + settled - shift, data[settled:], False))
                if first < i < last:
                    builder.retain(len(data))
                    built += len(data)
                position += len(data)
            elif kind == DIFF_DELETE:
                builder.delete(data)
                built += len(data)
                shift -= len(data)
            else:
                builder.insert(data)
                position += len(data)
                shift += len(data)
            if position - shift > base_length:
                raise PatchRejected(
                    f"hunk {index + 1} reaches {position - shift}, "
                    f"past the end of the text ({base_length})"
                )
            if i == last:
                done = position
    builder.retain(base_length - built)
    return builder.build(), checks


def verify_context(
    text: str, checks: Sequence[ContextCheck], *, result: bool = False
) -> int | None:
    """Index of the first check ``text`` fails, or None.

    ``text`` is the base text, or with ``result=True`` the patched text (for overlaps).
    """
    return _failed_check(text, [(c.position, c.text, c.in_result) for c in checks], result)


def _failed_check(text: str, checks: list[_Check], result: bool) -> int | None:
    for index, (position, expected, in_result) in enumerate(checks):
        if in_result == result and text[position : position + len(expected)] != expected:
            return index
    return None


def apply_patch(text: str, hunks: Sequence[Hunk]) -> tuple[str, Op]:
    """Apply a patch that must fit ``text`` exactly; returns the new text and the operation."""
    op, checks = _op_and_context(hunks, len(text))
    failed = _failed_check(text, checks, False)
    if failed is None:
        new_text = ops.apply(text, op)  # also checks every deletion
        failed = _failed_check(new_text, checks, True)
        if failed is None:
            return new_text, op
    raise PatchRejected(f"the patch's context does not match the text (check {failed + 1})")


def _to_dmp(hunks: Sequence[Hunk], starts: Sequence[int] | None) -> list[patch_obj]:
    converted = []
    for index, hunk in enumerate(hunks):
        p = patch_obj()
        p.diffs = list(hunk.diffs)
        p.start1 = starts[index] if starts is not None else hunk.start1
        p.start2 = starts[index] if starts is not None else hunk.start2
        p.length1, p.length2 = hunk.length1, hunk.length2
        converted.append(p)
    return converted


@dataclass(frozen=True, slots=True)
class FuzzyResult:
    text: str
    placed: list[bool]  # per hunk: every piece of it found a place
    # Text that unplaced pieces would have inserted, with the position they expected.
    lost_inserts: list[tuple[int, str]]
    steps: int = 0  # the work the matcher was charged (see ``fuzzy_apply``'s budget)


# diff-match-patch pads the text with these while matching; a valid document holds none of
# them (XML forbids them), so any that survive are the port's leftovers.
_PADDING = str.maketrans("", "", "\x01\x02\x03\x04")

# What a step of the budget is: one inner iteration of the port's bitap matcher (a few
# bytecodes, about 0.1 microsecond). Copying text is C-level, hundreds of times cheaper per
# character, and charged as one step per this many characters.
COPY_CHARS_PER_STEP = 512
# A long deletion found by its ends is compared with what lies between them by a diff, which
# the port bounds by time only (a second by default: one 20 KB deletion whose middle
# differed took that long). Ours gets this long, and is charged as if it used all of it.
DIFF_TIMEOUT_SECONDS = 0.05
DIFF_STEPS = 500_000


class _MeteredMatcher(diff_match_patch):  # type: ignore[misc]
    """diff-match-patch whose matcher is charged, before each search, the most that search
    can cost, and stops past ``budget``: bitap's cost grows with the pattern and the
    distance searched, and a patch of many pieces that match nothing once held a server
    for 84 seconds."""

    def __init__(self, budget: int | None) -> None:
        super().__init__()
        self.budget = budget
        self.steps = 0

    def charge(self, steps: int) -> None:
        self.steps += steps
        if self.budget is not None and self.steps > self.budget:
            raise EditTooComplex(
                f"placing this edit by fuzzy matching would take more than {self.budget} "
                "steps (the fuzzy placement budget); resync and edit again",
                limit="fuzzy_budget",
            )

    def match_main(self, text: str, pattern: str, loc: int) -> int:
        # ``patch_apply`` rebuilds the whole text around each piece it places.
        steps = len(text) // COPY_CHARS_PER_STEP + len(pattern)
        at = max(0, min(loc, len(text)))
        if text[at : at + len(pattern)] != pattern:
            # Bitap tries every error count up to the threshold's share of the pattern, each
            # over the positions within the distance the threshold allows.
            reach = min(int(self.Match_Distance * self.Match_Threshold), len(text))
            levels = int(self.Match_Threshold * len(pattern)) + 1
            steps += levels * (2 * reach + len(pattern))
        self.charge(steps)
        result: int = super().match_main(text, pattern, loc)
        return result

    def diff_main(
        self, text1: str, text2: str, checklines: bool = True, deadline: float | None = None
    ) -> list[Diff]:
        if deadline is None:  # a call from patch_apply, not the port's own recursion
            self.charge(min((len(text1) + len(text2)) ** 2, DIFF_STEPS))
        diffs: list[Diff] = super().diff_main(text1, text2, checklines, deadline)
        return diffs


def fuzzy_apply(
    text: str,
    hunks: Sequence[Hunk],
    expected_starts: Sequence[int] | None = None,
    *,
    budget: int | None = None,
) -> FuzzyResult:
    """diff-match-patch's ``patch_apply``: place each hunk near where it is expected.

    ``expected_starts`` overrides each hunk's start (rolling coordinates), for a patch whose
    positions were mapped through later revisions first. The port splits hunks longer than
    its matcher's 32 characters into pieces and reports each piece; we split them ourselves,
    small enough that the port's own padding cannot make it split again, so that every
    result can be traced to its hunk.

    ``budget`` bounds the work, in steps of the matcher (``COPY_CHARS_PER_STEP``): each
    search is charged its worst case before it runs, and :class:`EditTooComplex` is raised
    instead of starting one that would go past the budget. None means no bound.
    """
    splitter = diff_match_patch()
    splitter.Match_MaxBits = MATCH_MAX_BITS - 2 * PATCH_MARGIN
    dmp = _MeteredMatcher(budget)
    pieces: list[patch_obj] = []
    owners: list[int] = []
    for index, patch in enumerate(_to_dmp(hunks, expected_starts)):
        # Splitting costs in proportion to the hunk's text, in Python.
        dmp.charge(sum(len(data) for _, data in patch.diffs) + 1)
        parts = [patch]
        splitter.patch_splitMax(parts)
        pieces.extend(parts)
        owners.extend([index] * len(parts))
    # Stricter than the port's defaults (0.5): a loose match edits the wrong words, and a
    # refusal is reported, while a misplaced edit is silent.
    dmp.Match_Threshold = 0.35
    dmp.Match_Distance = 5000
    dmp.Diff_Timeout = DIFF_TIMEOUT_SECONDS
    inserts = [(p.start2, [d for k, d in p.diffs if k == DIFF_INSERT]) for p in pieces]
    new_text, results = dmp.patch_apply(pieces, text)
    if len(results) != len(pieces):  # pragma: no cover - guarded by the split above
        raise PatchRejected("the patch could not be matched piece by piece")
    new_text = new_text.translate(_PADDING)
    # Each insert is looked for in the result below: a scan of the text per piece.
    dmp.charge(sum(1 for _, texts in inserts if texts) * (len(new_text) // COPY_CHARS_PER_STEP))
    placed = [True] * len(hunks)
    lost: list[tuple[int, str]] = []
    for ok, owner, (start, texts) in zip(results, owners, inserts, strict=True):
        # The port can report a piece placed whose insert landed in its padding and was cut
        # off with it; an insert that is nowhere in the result was not placed.
        if not ok or not all(text in new_text for text in texts):
            placed[owner] = False
            if texts:
                lost.append((start, "".join(texts)))
    return FuzzyResult(new_text, placed, lost, dmp.steps)


@dataclass(frozen=True, slots=True)
class FuzzyPlacement:
    """What fuzzy placement made of a patch: the operation on the text, or why none. Plain
    data, so that it can come back from another process (an exception with keyword
    arguments cannot be unpickled)."""

    op: Op | None
    unplaced: list[int] = field(default_factory=list)  # hunks (from 1) that match nothing
    over_budget: bool = False


def place_fuzzily(
    text: str, hunks: Sequence[Hunk], expected_starts: Sequence[int], budget: int | None
) -> FuzzyPlacement:
    """Place ``hunks`` with :func:`fuzzy_apply` and turn the result into an operation on
    ``text``, all within ``budget`` steps (None: no bound).

    The operation comes from a diff of the text and the result, by Myers' algorithm on what
    lies between their common prefix and suffix: about (length of that middle) x (characters
    the hunks change) steps, charged before it runs. Its own time limit (half a second)
    bounds it whatever the estimate.
    """
    try:
        result = fuzzy_apply(text, hunks, expected_starts, budget=budget)
    except EditTooComplex:
        return FuzzyPlacement(None, over_budget=True)
    unplaced = [index + 1 for index, ok in enumerate(result.placed) if not ok]
    if unplaced:
        return FuzzyPlacement(None, unplaced)
    new_text = result.text
    dmp = diff_match_patch()
    if budget is not None:
        prefix = dmp.diff_commonPrefix(text, new_text)
        suffix = dmp.diff_commonSuffix(text[prefix:], new_text[prefix:])
        middle = len(text) + len(new_text) - 2 * (prefix + suffix)
        changed = sum(len(d) for h in hunks for k, d in h.diffs if k != DIFF_EQUAL)
        if result.steps + middle * (changed + 1) > budget:
            return FuzzyPlacement(None, over_budget=True)
    dmp.Diff_Timeout = 0.5
    return FuzzyPlacement(ops.from_diffs(dmp.diff_main(text, new_text, False)))
