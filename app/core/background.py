"""Work that must not hold up its caller, kept track of so it is neither lost nor leaked."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Background:
    """A set of tasks: ``spawn`` starts one, ``wait`` lets the started ones finish.

    asyncio keeps only weak references to tasks, so a task nobody holds can vanish midway;
    holding them here until they end is what makes fire-and-forget safe.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Until every task started so far has ended (their errors are theirs to log)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
