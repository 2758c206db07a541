"""Authorship carried through revisions: a reference model of one author per character."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import ops, patches
from sync.authorship import Attribution, attribute

AUTHORS = st.sampled_from(["ann", "bob", "cy", "dee"])
TEXT = st.text(alphabet="ab \nxé😀", max_size=30)


@st.composite
def edit(draw: st.DrawFn, length: int) -> tuple[int, int, str, str]:
    """A replacement ``(position, deleted count, inserted text, author)`` on ``length``."""
    position = draw(st.integers(0, length))
    deleted = draw(st.integers(0, length - position))
    return position, deleted, draw(TEXT), draw(AUTHORS)


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, str, str]]]:
    initial = draw(TEXT)
    length = len(initial)
    edits = []
    for _ in range(draw(st.integers(0, 12))):
        position, deleted, inserted, author = draw(edit(length))
        edits.append((position, deleted, inserted, author))
        length += len(inserted) - deleted
    return initial, edits


@given(histories())
def test_every_character_carries_its_authors_name(
    history: tuple[str, list[tuple[int, int, str, str]]],
) -> None:
    initial, edits = history
    text = initial
    model: list[str | None] = [None] * len(initial)  # one author per code point
    attribution = Attribution(len(initial))
    logged: list[tuple[str, str | None]] = []
    for position, deleted, inserted, author in edits:
        op = ops.replace(len(text), position, text[position : position + deleted], inserted)
        patch = patches.patch_text(text, op)
        logged.append((patch, author))
        attribution.apply(op, author)
        text = ops.apply(text, op)
        model[position : position + deleted] = [author] * len(inserted)
        assert len(attribution) == len(text)
        assert attribution.authors() == model
        runs = attribution.runs()
        assert all(length > 0 for _, length, _ in runs)
        assert all(a[2] != b[2] for a, b in pairwise(runs)), runs
    # The same from the log's patches alone.
    replayed = attribute(len(initial), logged)
    assert replayed.runs() == attribution.runs()
    assert sum(length for _, length, _ in replayed.runs()) == len(text)


@given(histories(), st.integers(-3, 40), st.integers(-3, 40))
def test_runs_of_a_range_are_the_range_cut_from_the_whole(
    history: tuple[str, list[tuple[int, int, str, str]]], start: int, end: int
) -> None:
    initial, edits = history
    attribution = Attribution(len(initial))
    text = initial
    for position, deleted, inserted, author in edits:
        op = ops.replace(len(text), position, text[position : position + deleted], inserted)
        attribution.apply(op, author)
        text = ops.apply(text, op)
    every = attribution.authors()
    lo, hi = max(0, start), min(end, len(text))
    expected = every[lo:hi] if lo < hi else []
    got: list[str | None] = []
    at = lo
    for run_start, length, who in attribution.runs(start, end):
        assert run_start == at and length > 0
        got.extend([who] * length)
        at += length
    assert got == expected
    assert Attribution.from_runs(attribution.runs()).runs() == attribution.runs()


def test_runs_are_merged_and_compact() -> None:
    attribution = Attribution(5)  # "hello", from before the log
    attribution.apply(ops.replace(5, 5, "", " world"), "ann")
    attribution.apply(ops.replace(11, 11, "", "!"), "ann")
    attribution.apply(ops.replace(12, 0, "h", "H"), "bob")
    assert attribution.runs() == [(0, 1, "bob"), (1, 4, None), (5, 7, "ann")]
    attribution.apply(ops.replace(12, 1, "ello", ""), "cy")  # a deletion adds nobody
    assert attribution.runs() == [(0, 1, "bob"), (1, 7, "ann")]
    assert attribution.runs(3, 5) == [(3, 2, "ann")]
    assert attribution.runs(5, 100) == [(5, 3, "ann")]


def test_an_operation_on_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="spans 4 code points, the text 3"):
        Attribution(3).apply(ops.identity(4), "ann")
    with pytest.raises(ValueError, match="contiguous"):
        Attribution.from_runs([(0, 2, "a"), (3, 1, "b")])
