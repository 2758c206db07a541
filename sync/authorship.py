"""Authorship ("blame"): who wrote each character of a text, carried through its revisions.

An :class:`Attribution` holds one author per code point of a text, stored compactly as
segments ``(length, author)``; adjacent segments by the same author are merged. Applying a
revision's operation keeps the authors of retained characters, drops deleted ones and gives
inserted characters the revision's author. Text that predates the log (a document created
with text, revision 0) has the author ``None``.

The JavaScript twin is ``frontend/src/sync/authorship.js``; both report runs as
``[start, length, author]`` in code points.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
from typing import TypeAlias

from sync import ops, patches

Author: TypeAlias = str | None
Run: TypeAlias = tuple[int, int, Author]  # start, length, author


class Attribution:
    """The author of every code point of one text, as merged segments."""

    __slots__ = ("_authors", "_lengths", "length")

    def __init__(self, length: int = 0, author: Author = None) -> None:
        self._lengths: list[int] = [length] if length > 0 else []
        self._authors: list[Author] = [author] if length > 0 else []
        self.length = length

    @classmethod
    def from_runs(cls, runs: Iterable[Run]) -> Attribution:
        """Rebuild from runs that cover a text from 0 with no gap (as :meth:`runs` gives)."""
        made = cls()
        for start, length, author in runs:
            if start != made.length or length < 0:
                raise ValueError(f"runs must be contiguous: {start} after {made.length}")
            made._push(length, author)
        return made

    def copy(self) -> Attribution:
        made = Attribution()
        made._lengths = self._lengths.copy()
        made._authors = self._authors.copy()
        made.length = self.length
        return made

    def _push(self, length: int, author: Author) -> None:
        if length <= 0:
            return
        if self._authors and self._authors[-1] == author:
            self._lengths[-1] += length
        else:
            self._lengths.append(length)
            self._authors.append(author)
        self.length += length

    def apply(self, op: ops.Op, author: Author) -> None:
        """Carry the attribution through ``op`` (on the text this attributes), whose inserted
        characters are ``author``'s. Raises ``ValueError`` if ``op`` spans another length."""
        if ops.base_length(op) != self.length:
            raise ValueError(
                f"the operation spans {ops.base_length(op)} code points, the text {self.length}"
            )
        edits: list[tuple[int, int, int]] = []  # (start, end, inserted) in the base text
        position = 0
        for component in op:
            if isinstance(component, ops.Retain):
                position += component.count
            elif isinstance(component, ops.Delete):
                edits.append((position, position + len(component.text), 0))
                position += len(component.text)
            else:
                edits.append((position, position, len(component.text)))
        # From the last, so each edit's positions are still those of the base text.
        for start, end, inserted in reversed(edits):
            self.replace(start, end, inserted, author)

    def replace(self, start: int, end: int, inserted: int, author: Author) -> None:
        """Replace ``[start, end)`` with ``inserted`` code points by ``author``.

        Splices the segment lists (a prefix sum, two bisections and slices, all done in C),
        so a small edit in a text of many runs costs little Python work.
        """
        if not 0 <= start <= end <= self.length:
            raise ValueError(f"[{start}, {end}) is outside a text of {self.length}")
        lengths, authors = self._lengths, self._authors
        ends = list(accumulate(lengths))
        first = bisect_right(ends, start)  # segments before it end at or before start
        last = bisect_right(ends, end)  # the segment holding `end`, if any
        middle: list[tuple[int, Author]] = []
        if first < len(lengths):
            head = start - (ends[first] - lengths[first])
            if head > 0:
                middle.append((head, authors[first]))
        if inserted > 0:
            middle.append((inserted, author))
        if last < len(lengths):
            middle.append((ends[last] - end, authors[last]))
            last += 1
        # Merge neighbours by one author, where the middle meets what is kept.
        left_lengths, left_authors = lengths[:first], authors[:first]
        merged_lengths: list[int] = []
        merged_authors: list[Author] = []
        for length, who in middle:
            if length <= 0:
                continue
            if merged_authors and merged_authors[-1] == who:
                merged_lengths[-1] += length
            elif not merged_authors and left_authors and left_authors[-1] == who:
                left_lengths[-1] += length
            else:
                merged_lengths.append(length)
                merged_authors.append(who)
        right_lengths, right_authors = lengths[last:], authors[last:]
        if right_authors:
            tail_author = merged_authors[-1] if merged_authors else None
            tail_known = bool(merged_authors)
            if not tail_known and left_authors:
                tail_author, tail_known = left_authors[-1], True
            if tail_known and tail_author == right_authors[0]:
                if merged_authors:
                    merged_lengths[-1] += right_lengths[0]
                else:
                    left_lengths[-1] += right_lengths[0]
                right_lengths, right_authors = right_lengths[1:], right_authors[1:]
        self._lengths = left_lengths + merged_lengths + right_lengths
        self._authors = left_authors + merged_authors + right_authors
        self.length += inserted - (end - start)

    def apply_patch(self, patch: str, author: Author) -> None:
        """Carry the attribution through a revision's patch (exact, as stored in the log)."""
        op, _ = patches.op_from_patch(patches.parse_patch(patch), self.length)
        self.apply(op, author)

    def runs(self, start: int = 0, end: int | None = None) -> list[Run]:
        """The runs covering ``[start, end)`` (clamped to the text), cut at its edges."""
        end = self.length if end is None else min(end, self.length)
        start = max(0, start)
        found: list[Run] = []
        at = 0
        for length, author in zip(self._lengths, self._authors, strict=True):
            if at >= end:
                break
            stop = at + length
            lo, hi = max(at, start), min(stop, end)
            if hi > lo:
                found.append((lo, hi - lo, author))
            at = stop
        return found

    def authors(self) -> list[Author]:
        """One author per code point (for tests and small texts)."""
        every: list[Author] = []
        for length, author in zip(self._lengths, self._authors, strict=True):
            every.extend([author] * length)
        return every

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"Attribution({self.runs()!r})"


def attribute(initial_length: int, revisions: Iterable[tuple[str, Author]]) -> Attribution:
    """The attribution after ``revisions`` (each a patch and its author), starting from a text
    of ``initial_length`` code points whose author is unknown."""
    attribution = Attribution(initial_length)
    for patch, author in revisions:
        attribution.apply_patch(patch, author)
    return attribution
