"""Giving memory back to the system after a peak of connections or documents.

When hundreds of connections close, every Python object they made is freed, but the process
keeps the pages: glibc's allocator holds freed memory for reuse and returns it only from the
top of its heap, so the resident size stays at the peak (docs/benchmarks.md, "Connections
opened and closed"). ``malloc_trim(0)`` returns every free page to the system. It is cheap
next to a document's life (a few milliseconds for a heap of a hundred megabytes, in a worker
thread), so it runs once after a wave of documents unloaded, debounced: closing connections
unload many documents within a second, and one trim serves them all.

It only gives back what glibc holds: objects CPython's own small-object allocator (pymalloc)
placed in an arena that something long-lived still uses stay put. ``collab serve`` therefore
starts the server with ``PYTHONMALLOC=malloc`` unless told otherwise (``app/cli/main.py``),
which puts every object under glibc and its trim; the app trims only when it runs so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

from app.core.extensions import Extension

log = logging.getLogger(__name__)


def glibc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim``, or None where the C library is not glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> int:
        return int(trim(0))

    return call


class MemoryRelease(Extension):
    """Trims the C heap ``delay`` seconds after the last of a wave of documents unloaded.

    Only after ``min_unloads`` documents have unloaded since the last trim: the collection
    that goes first holds the event loop for 10 to 30 ms, worth it after a wave of people
    leaving, not for each document going idle.
    """

    priority = 990  # reports only, after everything else

    def __init__(
        self, delay: float = 1.0, trim: Callable[[], int] | None = None, *, min_unloads: int = 10
    ) -> None:
        self.delay = delay
        self.trim = trim
        self.min_unloads = min_unloads
        self.unloads = 0  # since the last trim
        self.trims = 0  # how many ran (tests, /metrics)
        self._timer: asyncio.Task[None] | None = None

    @classmethod
    def for_this_system(cls, delay: float = 1.0) -> MemoryRelease | None:
        trim = glibc_trim()
        return None if trim is None else cls(delay, trim)

    async def on_unload(self, doc_id: str) -> None:
        self.unloads += 1
        if self.trim is None or self.unloads < self.min_unloads:
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()  # a later unload moves the trim after it
        self._timer = asyncio.get_running_loop().create_task(self._trim_later())

    async def _trim_later(self) -> None:
        await asyncio.sleep(self.delay)
        assert self.trim is not None
        # A full collection first: it also empties CPython's free lists (tuples, lists,
        # dicts kept for reuse), whose few thousand blocks, scattered over the heap, keep
        # whole pages in use that the trim could otherwise give back (13 of 22 MB after 500
        # connections, measured). A collection of everything made since startup takes 10 to
        # 30 ms here, like the ones Python starts by itself as objects accumulate.
        gc.collect()
        try:
            # In a thread: on a large heap it takes milliseconds, which no document waits for.
            await asyncio.to_thread(self.trim)
        except Exception:  # a failed trim only means the memory stays; never an error
            log.exception("malloc_trim failed")
            return
        finally:
            self.unloads = 0
        self.trims += 1

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
