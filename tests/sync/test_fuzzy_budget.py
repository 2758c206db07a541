"""Fuzzy placement has a budget: it is charged each search's worst case before that search
runs, and an edit that would go past it is refused as EditTooComplex, naming the limit.

A patch of many pieces that match nothing once held a server for 84 seconds; with a budget
the work is bounded whatever the patch, and a sloppy patch that does fit still places.
"""

from __future__ import annotations

import random
import string
import time

import pytest

from sync import ops, patches
from sync.errors import EditTooComplex, PatchRejected
from sync.protocol import Edit, OpId
from sync.server import Placement, Sequencer


def noise(seed: int, length: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + " ", k=length))


def unmatched_delete(length: int, seed: int = 7) -> str:
    """A patch deleting ``length`` characters that are nowhere in the document."""
    wrong = noise(seed, length + 20)
    return patches.patch_text(wrong, ops.replace(len(wrong), 10, wrong[10 : 10 + length], ""))


def sloppy_patch(wrong_copy: str, old: str, new: str) -> str:
    position = wrong_copy.index(old)
    return patches.patch_text(wrong_copy, ops.replace(len(wrong_copy), position, old, new))


def test_the_charged_steps_are_exactly_what_the_budget_allows() -> None:
    text = noise(1, 20_000)
    hunks = patches.parse_patch(unmatched_delete(200))
    unbounded = patches.fuzzy_apply(text, hunks)
    assert not any(unbounded.placed)
    assert unbounded.steps > 0
    # The same work fits a budget of exactly its cost, and not one step less.
    assert patches.fuzzy_apply(text, hunks, budget=unbounded.steps).steps == unbounded.steps
    with pytest.raises(EditTooComplex) as refused:
        patches.fuzzy_apply(text, hunks, budget=unbounded.steps - 1)
    assert refused.value.limit == "fuzzy_budget"
    assert str(unbounded.steps - 1) in str(refused.value)


def ends_match_delete(text: str, start: int, length: int) -> str:
    """A patch deleting ``length`` characters at ``start`` from a copy of ``text`` that
    agrees with it only at the deletion's two ends: the matcher finds both ends and then
    compares everything between them."""
    stop = start + length
    wrong = text[: start + 40] + noise(9, length - 80) + text[stop - 40 :]
    return patches.patch_text(wrong, ops.replace(len(wrong), start, wrong[start:stop], ""))


def test_a_large_delete_matching_only_at_its_ends_is_refused_within_its_budget() -> None:
    # Each such 20 KB deletion cost the port's diff a full second (its own time limit).
    text = noise(2, 200_000)
    patch = ends_match_delete(text, 50_000, 20_000)
    server = Sequencer(text)
    server.fuzzy_budget = 200_000
    started = time.process_time()
    with pytest.raises(EditTooComplex, match="budget of 200000 steps") as refused:
        server.propose(Edit(0, OpId("bot", 1), patch), "bot")
    # A step is about a tenth of a microsecond; 200,000 of them are far from half a second
    # (of this process's CPU: what the budget bounds, whatever else the machine runs).
    assert time.process_time() - started < 0.5
    assert refused.value.code == "edit-too-complex"
    assert server.rev == 0
    # With budget to spare, the comparison runs, briefly, and finds the deletion does not fit.
    server.fuzzy_budget = 10_000_000
    started = time.process_time()
    with pytest.raises(PatchRejected, match="hunk\\(s\\) 1 of 1 match nothing"):
        server.propose(Edit(0, OpId("bot", 1), patch), "bot")
    assert time.process_time() - started < 0.5


def test_an_unmatched_delete_costs_its_searches_only() -> None:
    text = noise(2, 200_000)
    hunks = patches.parse_patch(unmatched_delete(20_000))
    result = patches.fuzzy_apply(text, hunks, budget=200_000)
    assert result.placed == [False]
    assert result.steps <= 200_000


def test_a_sloppy_patch_within_the_budget_still_places() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    patch = sloppy_patch("A quick brown fox jumps over the lazy dog.", "lazy", "sleepy")
    server = Sequencer(text)
    server.fuzzy_budget = 50_000
    outcome = server.submit(Edit(0, OpId("bot", 1), patch), "bot")
    assert outcome.placement is Placement.FUZZY
    assert server.text == "The quick brown fox jumps over the sleepy dog."


def test_a_budget_too_small_for_a_sloppy_patch_refuses_it_and_changes_nothing() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 50
    patch = sloppy_patch("A quick brown fox jumps over the lazy dog.", "lazy", "sleepy")
    server = Sequencer(text)
    server.fuzzy_budget = 10
    with pytest.raises(EditTooComplex, match="fuzzy_budget"):
        server.submit(Edit(0, OpId("bot", 1), patch), "bot")
    assert (server.rev, server.text) == (0, text)
    server.fuzzy_budget = None  # no bound: the engine's default
    assert server.submit(Edit(0, OpId("bot", 1), patch), "bot").placement is Placement.FUZZY


def test_a_refusal_of_many_hunks_names_the_first_few() -> None:
    wrong = noise(3, 4000)
    pieces = []
    for i in range(60):  # 60 deletions of 8 characters, each between 4 of context
        at = i * 60
        pieces.append(
            f"@@ -{at + 1},16 +{at + 1 - 8 * i},8 @@\n {wrong[at : at + 4]}\n"
            f"-{wrong[at + 4 : at + 12]}\n {wrong[at + 12 : at + 16]}\n"
        )
    text = noise(4, 4000)
    server = Sequencer(text)
    with pytest.raises(PatchRejected) as refused:
        server.submit(Edit(0, OpId("bot", 1), "".join(pieces)), "bot")
    assert refused.value.unplaced_hunks == list(range(1, 61))
    message = str(refused.value)
    assert "hunk(s) 1, 2, 3," in message
    assert "20, ... of 60 match nothing" in message
    assert len(message) < 300
