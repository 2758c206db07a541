"""Counting attempts per key in a sliding window, in bounded memory.

Sign-in failures (per name and client address), XMPP address codes asked for (per account) and
wrong codes sent (per address) are all limited the same way: at most ``limit`` events per key
within the last ``seconds``. Keys are chosen by whoever calls (a name typed into a form, an
XMPP address), so the number of keys remembered is bounded too: past ``max_keys``, the keys
with nothing recent are forgotten first, then the oldest.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

MAX_KEYS = 10_000


class SlidingWindow(Generic[Key]):
    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self.max_keys = max_keys
        self.clock = clock
        self._events: dict[Key, deque[float]] = {}

    def wait(self, key: Key) -> float:
        """Seconds until ``key`` may have another event: 0 if it may now."""
        recent = self._recent(key)
        if recent is None or len(recent) < self.limit:
            return 0.0
        return max(recent[0] + self.seconds - self.clock(), 0.0)

    def allows(self, key: Key) -> bool:
        return self.wait(key) == 0.0

    def count(self, key: Key) -> None:
        """Remember one event of ``key``, now."""
        recent = self._recent(key)
        if recent is None:
            self._make_room()
            recent = self._events[key] = deque()
        recent.append(self.clock())

    def forget(self, key: Key) -> None:
        self._events.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)

    def _recent(self, key: Key) -> deque[float] | None:
        recent = self._events.get(key)
        if recent is not None:
            horizon = self.clock() - self.seconds
            while recent and recent[0] <= horizon:
                recent.popleft()
        return recent

    def _make_room(self) -> None:
        if len(self._events) < self.max_keys:
            return
        horizon = self.clock() - self.seconds
        self._events = {k: v for k, v in self._events.items() if v and v[-1] > horizon}
        while len(self._events) >= self.max_keys:
            # Every key is recent: the one first remembered goes, so memory stays bounded.
            self._events.pop(next(iter(self._events)))
