"""How long the event loop was held: a probe for the tests that say no input holds it long.

The probe sleeps 2 ms at a time in the loop under test, and notes two things per wake: how
late it woke (wall time), and how much CPU this thread spent meanwhile. A callback that runs
40 ms makes both 40 ms. The operating system putting the process aside for 40 ms (two cores
shared with the XMPP server, a flooder, another test worker) makes only the first 40 ms:
that is the machine's doing, not the loop's. The tests assert on the second and report both.
"""

from __future__ import annotations

import asyncio
import time

MAX_LAG_SECONDS = 0.05
PROBE_SECONDS = 0.002


class LagProbe:
    """While it runs: the most CPU the loop spent between two wakes of a 2 ms sleep
    (``worst``), and the latest it woke one (``worst_wall``)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_wall = 0.0
        self._task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        return f"{self.worst * 1000:.0f} ms of CPU ({self.worst_wall * 1000:.0f} ms late)"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(PROBE_SECONDS)
            self.worst = max(self.worst, time.thread_time() - cpu)
            self.worst_wall = max(self.worst_wall, loop.time() - started - PROBE_SECONDS)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
