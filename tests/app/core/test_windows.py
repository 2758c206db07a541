from __future__ import annotations

from app.core.windows import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_may_have_limit_events_within_the_window_then_waits_for_the_oldest() -> None:
    clock = Clock()
    window: SlidingWindow[str] = SlidingWindow(3, 60.0, clock=clock)
    for _ in range(3):
        assert window.allows("ann")
        window.count("ann")
        clock.now += 10
    assert not window.allows("ann")
    assert window.wait("ann") == 30.0  # the first event, at 1000, leaves the window at 1060
    assert window.allows("bob")  # keys are apart
    clock.now = 1060.0
    assert window.allows("ann")
    window.count("ann")
    assert not window.allows("ann")  # events at 1010, 1020 and 1060


def test_forgetting_a_key_clears_its_events() -> None:
    window: SlidingWindow[tuple[str, str]] = SlidingWindow(1, 60.0, clock=Clock())
    window.count(("ann", "10.0.0.1"))
    assert not window.allows(("ann", "10.0.0.1"))
    window.forget(("ann", "10.0.0.1"))
    window.forget(("never", "seen"))
    assert window.allows(("ann", "10.0.0.1"))


def test_past_max_keys_keys_with_nothing_recent_go_first() -> None:
    clock = Clock()
    window: SlidingWindow[str] = SlidingWindow(1, 60.0, max_keys=3, clock=clock)
    window.count("old")
    clock.now += 30
    window.count("ann")
    window.count("bob")
    clock.now += 40  # "old" is out of its window, "ann" and "bob" are not
    window.count("cat")
    assert len(window) == 3
    assert not window.allows("ann") and not window.allows("bob") and not window.allows("cat")


def test_past_max_keys_with_every_key_recent_the_first_remembered_goes() -> None:
    window: SlidingWindow[str] = SlidingWindow(1, 60.0, max_keys=2, clock=Clock())
    window.count("ann")
    window.count("bob")
    window.count("cat")
    assert len(window) == 2
    assert window.allows("ann")  # forgotten to bound the memory
    assert not window.allows("bob") and not window.allows("cat")


def test_memory_stays_bounded_whatever_the_keys() -> None:
    window: SlidingWindow[int] = SlidingWindow(5, 60.0, max_keys=100, clock=Clock())
    for key in range(10_000):
        window.count(key)
    assert len(window) == 100
