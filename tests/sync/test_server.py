from __future__ import annotations

import pytest

from sync import ops, patches
from sync.errors import (
    DocumentTooLarge,
    FutureRevision,
    InvalidText,
    MalformedPatch,
    PatchRejected,
    StaleRevision,
)
from sync.fold import fold
from sync.protocol import Edit, OpId, Snapshot
from sync.server import Placement, Sequencer
from sync.text import checksum, checksum_v1
from tests.sync.helpers import edit_on

BASE = "hello world"


def test_edit_on_head_applies_exactly() -> None:
    server = Sequencer(BASE)
    outcome = server.submit(edit_on(BASE, 0, "a", 1, 5, 0, ","), "alice")
    assert outcome.placement is Placement.EXACT
    assert server.text == "hello, world"
    revision = outcome.revision
    assert (revision.rev, revision.base, revision.author, revision.op_id) == (
        1,
        0,
        "alice",
        OpId("a", 1),
    )
    assert revision.checksum == checksum("hello, world")
    assert fold(BASE, revision)[0] == "hello, world"


def test_concurrent_edits_at_different_places_both_survive() -> None:
    server = Sequencer(BASE)
    server.submit(edit_on(BASE, 0, "a", 1, 0, 1, "J"), "a")
    outcome = server.submit(edit_on(BASE, 0, "b", 1, 11, 0, "!"), "b")
    assert server.text == "Jello world!"
    assert outcome.revision.base == 0
    assert outcome.placement is Placement.EXACT


def test_concurrent_inserts_at_one_spot_keep_sequencing_order() -> None:
    server = Sequencer(BASE)
    server.submit(edit_on(BASE, 0, "a", 1, 5, 0, "A"), "a")
    server.submit(edit_on(BASE, 0, "b", 1, 5, 0, "B"), "b")
    assert server.text == "helloAB world"


def test_insert_inside_a_concurrently_deleted_range_survives() -> None:
    server = Sequencer(BASE)
    server.submit(edit_on(BASE, 0, "a", 1, 2, 6, ""), "a")  # delete "llo wo"
    server.submit(edit_on(BASE, 0, "b", 1, 5, 0, "XY"), "b")
    assert server.text == "heXYrld"


def test_overlapping_deletes_delete_once() -> None:
    server = Sequencer(BASE)
    server.submit(edit_on(BASE, 0, "a", 1, 0, 7, ""), "a")  # "hello w"
    server.submit(edit_on(BASE, 0, "b", 1, 4, 5, ""), "b")  # "o wor"
    assert server.text == "ld"


def test_edits_at_both_ends() -> None:
    server = Sequencer(BASE)
    server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "<<"), "a")
    server.submit(edit_on(BASE, 0, "b", 1, 11, 0, ">>"), "b")
    assert server.text == "<<hello world>>"


def test_duplicate_operation_is_acknowledged_not_reapplied() -> None:
    server = Sequencer(BASE)
    edit = edit_on(BASE, 0, "a", 1, 0, 0, "x")
    first = server.submit(edit, "a")
    again = server.submit(edit, "a")
    assert again.placement is Placement.DUPLICATE
    assert again.revision == first.revision
    assert server.text == "x" + BASE
    assert server.rev == 1


def test_older_duplicate_in_history_is_found() -> None:
    server = Sequencer(BASE)
    first = server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "x"), "a")
    server.submit(edit_on("x" + BASE, 1, "a", 2, 0, 0, "y"), "a")
    assert server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "x"), "a").revision == first.revision


def test_duplicate_older_than_history_asks_for_resync() -> None:
    server = Sequencer(BASE, history_limit=1)
    server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "x"), "a")
    server.submit(edit_on("x" + BASE, 1, "b", 1, 0, 0, "y"), "b")
    with pytest.raises(StaleRevision, match="already applied"):
        server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "x"), "a")


def test_future_revision_is_refused() -> None:
    server = Sequencer(BASE)
    with pytest.raises(FutureRevision, match="based on revision 3, but the head is revision 0"):
        server.submit(edit_on(BASE, 3, "a", 1, 0, 0, "x"), "a")


def test_edit_older_than_history_is_stale() -> None:
    server = Sequencer(BASE, history_limit=2)
    text = BASE
    for seq in range(1, 4):
        server.submit(edit_on(text, seq - 1, "a", seq, 0, 0, "x"), "a")
        text = "x" + text
    with pytest.raises(StaleRevision, match="older than the history kept"):
        server.submit(edit_on(BASE, 0, "b", 1, 0, 0, "y"), "b")


@pytest.mark.parametrize("history_limit", [1, 3, 8])
def test_edit_from_any_kept_base_is_rebased_over_exactly_the_revisions_since(
    history_limit: int,
) -> None:
    # The history is full and has evicted older revisions: the revisions an edit is rebased
    # over are taken from the newest end, oldest kept base included.
    texts = [BASE]
    server = Sequencer(BASE, history_limit=history_limit)
    for seq in range(1, history_limit + 4):
        server.submit(edit_on(texts[-1], seq - 1, "a", seq, 0, 0, str(seq % 10)), "a")
        texts.append(server.text)
    for offset, base in enumerate(range(server.oldest_base, server.rev + 1)):
        at_base = texts[base]
        outcome = server.propose(edit_on(at_base, base, "b", offset + 1, len(at_base), 0, "!"), "b")
        assert outcome.placement is Placement.EXACT
        assert outcome.text == server.text + "!"
        assert server.catch_up(base) == [
            server.revision(r) for r in range(base + 1, server.rev + 1)
        ]


def test_malformed_and_forbidden_patches_are_refused() -> None:
    server = Sequencer(BASE)
    with pytest.raises(MalformedPatch):
        server.submit(Edit(0, OpId("a", 1), "not a patch"), "a")
    with pytest.raises(InvalidText):
        server.submit(Edit(0, OpId("a", 2), "@@ -0,0 +1 @@\n+%00\n"), "a")
    assert server.rev == 0


def sloppy_patch(wrong_copy: str, old: str, new: str) -> str:
    """A patch made by someone whose copy of the document was wrong."""
    position = wrong_copy.index(old)
    return patches.patch_text(wrong_copy, ops.replace(len(wrong_copy), position, old, new))


def test_inexact_patch_is_placed_fuzzily() -> None:
    server = Sequencer("The quick brown fox jumps over the lazy dog.")
    patch = sloppy_patch("A quick brown fox jumps over the lazy dog.", "lazy", "sleepy")
    outcome = server.submit(Edit(0, OpId("bot", 1), patch), "bot")
    assert outcome.placement is Placement.FUZZY
    assert server.text == "The quick brown fox jumps over the sleepy dog."
    assert fold("The quick brown fox jumps over the lazy dog.", outcome.revision)[0] == server.text


def test_unplaceable_hunks_are_reported() -> None:
    server = Sequencer("0123456789 0123456789 0123456789")
    patch = sloppy_patch("The quick brown fox", "quick", "QUICK")
    with pytest.raises(PatchRejected, match="hunk\\(s\\) 1 of 1 match nothing") as info:
        server.submit(Edit(0, OpId("bot", 1), patch), "bot")
    assert info.value.unplaced_hunks == [1]
    assert server.rev == 0


def test_document_size_limit() -> None:
    server = Sequencer("abc", max_length=5)
    with pytest.raises(DocumentTooLarge, match="limit is 5"):
        server.submit(edit_on("abc", 0, "a", 1, 3, 0, "def"), "a")
    assert server.text == "abc"


def test_catch_up_gives_revisions_then_snapshot() -> None:
    server = Sequencer(BASE, history_limit=2)
    text = BASE
    for seq in range(1, 4):
        server.submit(edit_on(text, seq - 1, "a", seq, 0, 0, "x"), "a")
        text = "x" + text
    revisions = server.catch_up(2)
    assert isinstance(revisions, list) and [r.rev for r in revisions] == [3]
    assert server.catch_up(3) == []
    snapshot = server.catch_up(0, "a")
    assert snapshot == Snapshot(3, text, checksum(text), last_seq=3)
    assert isinstance(server.catch_up(3, full=True), Snapshot)
    with pytest.raises(FutureRevision):
        server.catch_up(4)


def test_restored_sequencer_rebases_like_the_original() -> None:
    original = Sequencer(BASE)
    text = BASE
    for seq, insert in enumerate(["a", "b", "c"], start=1):
        original.submit(edit_on(text, seq - 1, "w", seq, seq, 0, insert), "w")
        text = original.text
    history = [r for r in (original.revision(n) for n in (1, 2, 3)) if r]
    restored = Sequencer(original.text, original.rev, history=history, client_seqs={"w": (3, 3)})
    late = edit_on(BASE, 0, "late", 1, 11, 0, "!")
    assert restored.submit(late, "l").revision == original.submit(late, "l").revision
    assert (
        restored.submit(edit_on(BASE, 0, "w", 3, 0, 0, "?"), "w").placement is Placement.DUPLICATE
    )


def test_ingest_follows_another_sequencer() -> None:
    leader = Sequencer(BASE)
    follower = Sequencer(BASE)
    revision = leader.submit(edit_on(BASE, 0, "a", 1, 0, 5, "HELLO"), "a").revision
    follower.ingest(revision)
    assert follower.text == leader.text and follower.checksum == leader.checksum
    with pytest.raises(StaleRevision):
        follower.ingest(revision)


# -- checkpoints: sequencing a batch, then keeping it or putting it back ----------------------


def state_of(server: Sequencer) -> tuple[object, ...]:
    return (
        server.text,
        server.rev,
        server.checksum,
        server.oldest_base,
        server.catch_up(server.oldest_base),
        {c: server.last_seq(c) for c in ("a", "b", "c")},
    )


@pytest.mark.parametrize("history_limit", [1, 2, 3, 50])
def test_rollback_puts_back_text_history_and_client_seqs(history_limit: int) -> None:
    server = Sequencer(BASE, history_limit=history_limit)
    text = BASE
    for seq in (1, 2):
        outcome = server.submit(edit_on(text, server.rev, "a", seq, 0, 0, f"{seq}"), "alice")
        text = outcome.text
    before = state_of(server)

    server.checkpoint()
    for client, seq in (("a", 3), ("b", 1), ("c", 7)):
        edit = edit_on(server.text, server.rev, client, seq, len(server.text), 0, client)
        server.accept(server.propose(edit, client))
    assert server.rev == 5 and server.text.endswith("abc")
    server.rollback()
    assert state_of(server) == before

    # Rolled back, the same edits sequence again as if the batch had never been tried.
    again = server.submit(edit_on(server.text, server.rev, "a", 3, 0, 0, "x"), "alice")
    assert again.revision.rev == 3 and again.placement is Placement.EXACT


def test_keep_keeps_and_a_second_checkpoint_needs_the_first_closed() -> None:
    server = Sequencer(BASE)
    server.checkpoint()
    with pytest.raises(RuntimeError):
        server.checkpoint()
    server.submit(edit_on(BASE, 0, "a", 1, 0, 0, "!"), "alice")
    server.keep()
    assert server.text == "!" + BASE and server.rev == 1
    with pytest.raises(RuntimeError):
        server.rollback()


def test_an_operation_repeated_inside_a_batch_is_a_duplicate_of_the_first() -> None:
    server = Sequencer(BASE)
    server.checkpoint()
    edit = edit_on(BASE, 0, "a", 1, 0, 0, "!")
    first = server.accept(server.propose(edit, "alice"))
    repeat = server.propose(edit, "alice")
    assert repeat.placement is Placement.DUPLICATE and repeat.revision == first.revision
    server.rollback()
    assert server.propose(edit, "alice").placement is Placement.EXACT


def test_a_known_checksum_is_taken_only_if_it_can_be_the_texts() -> None:
    text = "hello world"
    known = checksum(text)
    assert Sequencer(text, 3, text_checksum=known).checksum == known
    # Another version, or another length: computed instead.
    assert Sequencer(text, 3, text_checksum=checksum_v1(text)).checksum == known
    assert Sequencer(text, 3, text_checksum=checksum("hello")).checksum == known
