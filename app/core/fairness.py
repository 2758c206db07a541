"""Taking work from many sources in turns, so one flooding source cannot starve the others."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Item = TypeVar("Item")


class FairQueue(Generic[Key, Item]):
    """Items queued per key; :meth:`take` serves the keys round-robin.

    A key may have at most ``per_key`` items waiting: a source that sends faster than its
    items are served is told so (``push`` returns False) instead of growing without bound.
    """

    def __init__(self, per_key: int) -> None:
        if per_key < 1:
            raise ValueError("per_key must be at least 1")
        self.per_key = per_key
        self._queues: OrderedDict[Key, deque[Item]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, key: Key, item: Item) -> bool:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        elif len(queue) >= self.per_key:
            return False
        queue.append(item)
        self._size += 1
        return True

    def take(self, limit: int) -> list[Item]:
        """Up to ``limit`` items: one from each key in turn, oldest key first, round after
        round. A key served moves to the back, so the next call starts with the others."""
        taken: list[Item] = []
        while self._queues and len(taken) < limit:
            key, queue = next(iter(self._queues.items()))
            taken.append(queue.popleft())
            self._size -= 1
            if queue:
                self._queues.move_to_end(key)
            else:
                del self._queues[key]
        return taken
