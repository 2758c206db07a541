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

from collections.abc import Iterable
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
        lengths, authors = self._lengths, self._authors
        self._lengths, self._authors, self.length = [], [], 0
        index = 0  # the old segment being read
        used = 0  # how much of it is already consumed
        for component in op:
            if isinstance(component, ops.Insert):
                self._push(len(component.text), author)
                continue
            count = component.count if isinstance(component, ops.Retain) else len(component.text)
            keep = isinstance(component, ops.Retain)
            while count > 0:
                take = min(count, lengths[index] - used)
                if keep:
                    self._push(take, authors[index])
                used += take
                count -= take
                if used == lengths[index]:
                    index += 1
                    used = 0

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
