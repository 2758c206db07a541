"""Fuzzy placement in a worker process gives what placement here gives, and a process that
dies is replaced by placement here, never by a lost or stuck edit."""

from __future__ import annotations

from app.core.commits import _Placers
from sync import ops, patches

TEXT = "The quick brown fox jumps over the lazy dog. " * 20


def sloppy() -> tuple[list[patches.Hunk], list[int]]:
    wrong = TEXT.replace("lazy", "idle", 1)
    position = wrong.index("idle")
    hunks = patches.make_patch(wrong, ops.replace(len(wrong), position + 4, "", " old"))
    return hunks, [h.start2 for h in hunks]


def test_a_worker_process_places_as_this_process_does() -> None:
    hunks, starts = sloppy()
    here = patches.place_fuzzily(TEXT, hunks, starts, 1_000_000)
    assert here.op is not None and not here.unplaced
    placers = _Placers()
    try:
        assert placers.place(TEXT, hunks, starts, 1_000_000) == here
        # Over budget there too, as plain data.
        refused = placers.place(TEXT, hunks, starts, 10)
        assert refused.over_budget and refused.op is None
        assert placers._failures == 0  # both in the worker process
    finally:
        pool = placers._running()
        assert pool is not None
        pool.shutdown()


def test_a_dead_worker_process_is_replaced_by_placement_here() -> None:
    hunks, starts = sloppy()
    placers = _Placers()
    pool = placers._running()
    assert pool is not None
    for process in pool._processes.values():  # type: ignore[attr-defined]
        process.kill()
        process.join()
    assert placers.place(TEXT, hunks, starts, 1_000_000) == patches.place_fuzzily(
        TEXT, hunks, starts, 1_000_000
    )
    assert placers._failures == 1
    fresh = placers._running()  # started afresh for the next edit
    assert fresh is not None and fresh is not pool
    fresh.shutdown()
