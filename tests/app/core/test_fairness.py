"""Round-robin across sources, with a bound per source."""

from __future__ import annotations

import pytest

from app.core.fairness import FairQueue


def test_keys_are_served_in_turns_whatever_one_of_them_queued() -> None:
    queue: FairQueue[str, str] = FairQueue(per_key=100)
    for i in range(50):
        queue.push("flood", f"f{i}")
    queue.push("typist", "t0")
    queue.push("bot", "b0")
    assert queue.take(4) == ["f0", "t0", "b0", "f1"]
    queue.push("typist", "t1")
    # A newcomer waits at most one item of each key ahead of it, never the whole flood.
    assert queue.take(3) == ["f2", "t1", "f3"]
    assert len(queue) == 46


def test_a_key_over_its_bound_is_refused_and_others_are_not() -> None:
    queue: FairQueue[str, int] = FairQueue(per_key=3)
    assert [queue.push("a", i) for i in range(5)] == [True, True, True, False, False]
    assert queue.push("b", 0)
    assert queue.take(10) == [0, 0, 1, 2]
    assert len(queue) == 0 and queue.take(5) == []
    assert queue.push("a", 9)  # room again once served


def test_order_within_a_key_is_kept() -> None:
    queue: FairQueue[int, int] = FairQueue(per_key=1000)
    for i in range(30):
        queue.push(i % 3, i)
    taken = queue.take(30)
    for key in range(3):
        mine = [i for i in taken if i % 3 == key]
        assert mine == sorted(mine)


def test_per_key_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FairQueue(per_key=0)
