from __future__ import annotations

import pytest

from sync import fold as fold_module
from sync import ops, patches
from sync.errors import ChecksumMismatch, PatchRejected
from sync.fold import fold
from sync.protocol import OpId, Revision
from sync.text import checksum, checksum_v1

TEXT = (
    "Jackdaws love my big sphinx of quartz. Pack my box with five dozen liquor jugs. 😀 "
    "The quick brown fox jumps over the lazy dog. How vexingly quick daft zebras jump!"
)
AT = TEXT.index("liquor")  # its patch carries 4 characters of context on each side


def revision_of(text: str, op: ops.Op, *, v1: bool = False) -> Revision:
    after = ops.apply(text, op)
    value = checksum_v1(after) if v1 else checksum(after)
    return Revision(5, 4, "Ann", OpId("ann", 1), patches.patch_text(text, op), value)


EDIT = ops.replace(len(TEXT), AT, "liquor", "wine")
REVISION = revision_of(TEXT, EDIT)


def test_fold_with_the_copys_checksum_reads_only_around_the_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def whole_text(_: str) -> str:
        raise AssertionError("a checksum over the whole text")

    monkeypatch.setattr(fold_module, "checksum", whole_text)
    monkeypatch.setattr(fold_module, "checksum_v1", whole_text)
    assert fold(TEXT, REVISION, checksum(TEXT)) == (ops.apply(TEXT, EDIT), EDIT)


def test_fold_without_it_computes_the_checksum_in_full() -> None:
    assert fold(TEXT, REVISION)[0] == ops.apply(TEXT, EDIT)
    assert fold(TEXT, REVISION, checksum_v1(TEXT))[0] == ops.apply(TEXT, EDIT)


def test_version_1_revisions_still_verify() -> None:
    old = revision_of(TEXT, EDIT, v1=True)
    assert fold(TEXT, old, checksum(TEXT))[0] == fold(TEXT, old)[0] == ops.apply(TEXT, EDIT)
    with pytest.raises(ChecksumMismatch):
        fold(TEXT, Revision(5, 4, "Ann", OpId("ann", 1), old.patch, checksum_v1(TEXT)))


@pytest.mark.parametrize("known", [True, False])
def test_a_copy_that_differs_anywhere_is_caught_on_the_next_revision(known: bool) -> None:
    """Divergence the engine made (the copy's checksum is its own): caught however far from
    the change, whether the length differs or not."""
    for copy in (TEXT[:-3] + "X" + TEXT[-2:], TEXT[:-3] + TEXT[-2:], "#" + TEXT[1:]):
        with pytest.raises(ChecksumMismatch, match="this copy has checksum"):
            fold(copy, REVISION, checksum(copy) if known else None)
    # Text added or removed before the change moves it: the patch no longer fits.
    with pytest.raises(PatchRejected):
        fold(TEXT[1:], REVISION, checksum(TEXT[1:]) if known else None)


def test_a_copy_corrupted_behind_the_engines_back_is_caught_near_a_change() -> None:
    """The copy changed but its checksum did not: the update reads the copy around the
    change, so corruption there (inside the windows, outside the patch's context) is caught,
    and so is any corruption that changes the length."""
    near = TEXT[: AT - 10] + "E" + TEXT[AT - 9 :]
    with pytest.raises(ChecksumMismatch):
        fold(near, REVISION, checksum(TEXT))
    shorter = TEXT[:-3] + TEXT[-2:]
    with pytest.raises(ChecksumMismatch):
        fold(shorter, REVISION, checksum(TEXT))


def test_a_copy_corrupted_behind_the_engines_back_far_from_changes_is_not_caught() -> None:
    """The limit of updating (docs/protocol.md, "Checksums"): a same-length change made
    outside the engine, far from every later change, is only found by a full check (a
    snapshot, or ``checksum_matches`` on the copy)."""
    far = TEXT[:-3] + "X" + TEXT[-2:]
    new_text, _ = fold(far, REVISION, checksum(TEXT))
    assert new_text != ops.apply(TEXT, EDIT)


def test_a_patch_that_does_not_fit_is_rejected_before_any_checksum() -> None:
    with pytest.raises(PatchRejected, match="does not fit this copy of revision 4"):
        fold(TEXT.replace("dozen", "DOZEN"), REVISION, checksum(TEXT))
