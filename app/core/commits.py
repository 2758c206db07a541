"""Group commit: the edits of one document, sequenced in batches and committed together.

While one commit is in flight, edits keep arriving. They wait (round-robin by client, a few
per client at most), and the next batch is sequenced in memory on top of the head, appended
in one transaction, and only then acknowledged and fanned out, in order. A failed append
rolls the sequencer back and acknowledges nothing; an append that finds another process
moved the head folds in what it committed and sequences the batch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.errors import Busy, Refusal, Refused
from app.core.extensions import Committed
from app.core.fairness import FairQueue
from app.core.store import AppendResult, Commit
from app.core.wire import encode
from sync import errors as sync_errors
from sync.patches import FuzzyPlacement, Hunk, place_fuzzily
from sync.protocol import Edit
from sync.server import Outcome, Placement

if TYPE_CHECKING:
    from app.core.rooms import Room

log = logging.getLogger(__name__)

# Commits that find the head moved (another process won) before the room gives up with Busy.
MAX_COMMIT_ATTEMPTS = 20
# Edits committed in one transaction at most: a bound on the time one batch holds the lock.
MAX_BATCH = 256

# Fuzzy placement's budgets, in the matcher's steps (``sync.patches.fuzzy_apply``; a step is
# about 0.1 microsecond, and each search is charged its worst case). An edit is first placed
# on the event loop with the small budget (about 10 ms at worst); one that needs more is
# placed again in a worker thread with the large one (about half a second), so other documents
# never wait on it; past that it is refused as edit-too-complex.
INLINE_FUZZY_BUDGET = 50_000
FUZZY_BUDGET = 5_000_000
# A patch longer than this is sequenced in a worker thread from the start: parsing it and
# building its revision would hold the event loop for more than a few milliseconds (a 1 MB
# patch of 20,000 hunks takes about 200 ms to parse).
LARGE_PATCH_CHARS = 32_768
# Sequencing a batch on the event loop lets other callbacks run at least this often (seconds).
YIELD_EVERY = 0.01
# A commit slower than this is logged (every acknowledgement in its batch waited for it): a
# disk stalling its fsync, a database under a lock. At most one line per document every
# SLOW_COMMIT_LOG_EVERY seconds, saying how many more there were, so a slow disk cannot
# flood the log.
SLOW_COMMIT_SECONDS = 0.25
SLOW_COMMIT_LOG_EVERY = 10.0
# Two threads: a document whose edits need a worker does not make every other such document
# wait behind it.
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sequencing")
# After this many failures of the placement process, placement stays in this process.
MAX_PLACER_FAILURES = 3
# How long the placement process may take to start, or to place one edit (its budget is about
# half a second) before it counts as stuck.
PLACEMENT_TIMEOUT_SECONDS = 30.0


class _Placers:
    """Fuzzy placement in a worker process. In a thread of this process it would still hold
    the interpreter's lock in 5 ms turns with the event loop (another document's edits were
    acknowledged in up to 260 ms); a thread waiting for a process holds nothing, and the
    process runs at a lower priority than the server. Started with ``spawn`` (forking a
    process that runs threads is not safe) when the first document opens, so that no edit
    waits for it to start. If it cannot start, dies or hangs, placement happens here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._failures = 0

    def _running(self) -> ProcessPoolExecutor | None:
        """The pool with its process started, or None to place here."""
        with self._lock:
            if self._pool is None and self._failures < MAX_PLACER_FAILURES:
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=os.nice,
                    initargs=(10,),
                )
                try:
                    with _main_module_hidden():
                        started = pool.submit(int)  # the pool starts its process now
                    started.result(timeout=PLACEMENT_TIMEOUT_SECONDS)
                except (BrokenProcessPool, TimeoutError):
                    log.warning("the fuzzy placement process did not start", exc_info=True)
                    self._failures += 1
                    _retire(pool)
                    return None
                self._pool = pool
            return self._pool

    def start(self) -> None:
        if self._pool is None:
            _WORKERS.submit(self._running)

    def place(
        self, text: str, hunks: Sequence[Hunk], starts: Sequence[int], budget: int | None
    ) -> FuzzyPlacement:
        """``patches.place_fuzzily`` in the worker process; called from a worker thread."""
        pool = self._running()
        if pool is not None:
            try:
                job = pool.submit(place_fuzzily, text, hunks, starts, budget)
                return job.result(timeout=PLACEMENT_TIMEOUT_SECONDS)
            except (BrokenProcessPool, TimeoutError):
                # Killed, out of memory, or stuck far past its budget: place this one here,
                # and start afresh next time (a few times, not forever).
                log.warning("the fuzzy placement process failed; placing in this process")
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                        self._failures += 1
                _retire(pool)
        return place_fuzzily(text, hunks, starts, budget)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """``spawn`` runs the parent's main script again in the child, to find what it defines.
    Placement needs nothing from it, and a script that starts a server without an
    ``if __name__ == "__main__"`` guard would start a second one there (and the pool would
    wait for it forever). The child is given an empty main module instead."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _retire(pool: ProcessPoolExecutor) -> None:
    # The pool keeps its processes in a private attribute; a stuck one is not stopped by
    # shutdown, so it is terminated.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()


_PLACERS = _Placers()


@dataclass(eq=False, slots=True)
class Waiting:
    """An edit waiting for its batch, and where its outcome (or refusal) goes."""

    edit: Edit
    author: str
    done: asyncio.Future[Outcome]

    def settle(self, answer: Outcome | Exception) -> None:
        if self.done.done():
            return
        if isinstance(answer, Exception):
            self.done.set_exception(answer)
            # Retrieved here: an author who gave up must not leave an unread error behind.
            self.done.add_done_callback(lambda f: f.exception())
        else:
            self.done.set_result(answer)


class GroupCommit:
    """The commit pipeline of one room."""

    def __init__(self, room: Room) -> None:
        # Weak: a room holds its pipeline, and a pipeline holding its room back would make
        # an unloaded room (its text, its history) wait for a full collection to be freed.
        self._room = weakref.ref(room)
        _PLACERS.start()
        self._waiting: FairQueue[str, Waiting] = FairQueue(room.settings.max_waiting_edits)
        self._committer: asyncio.Task[Any] | None = None
        self._slow_logged_at = -SLOW_COMMIT_LOG_EVERY  # monotonic time of the last line
        self._slow_unlogged = 0  # slow commits since that line

    @property
    def room(self) -> Room:
        room = self._room()
        if room is None:  # only while the interpreter tears everything down
            raise RuntimeError("the room of this commit pipeline is gone")
        return room

    async def submit(self, edit: Edit, author: str) -> Outcome:
        """Queue ``edit`` for the next batch and wait for its outcome."""
        waiting = Waiting(edit, author, asyncio.get_running_loop().create_future())
        if not self._waiting.push(edit.op_id.client, waiting):
            raise Refused(
                f"more than {self._waiting.per_key} edits from '{edit.op_id.client}' are "
                "waiting to be sequenced; this edit was not applied, send it again shortly",
                Refusal.RATE_LIMITED,
            )
        if self._committer is None or self._committer.done():
            self._committer = self.room.background.spawn(self._commit_waiting())
        # Shielded: an author who gives up does not take the others' batch down with it.
        return await asyncio.shield(waiting.done)

    async def _commit_waiting(self) -> None:
        while self._waiting:
            async with self.room.lock:
                # Round-robin by client: a flood from one waits its turn like anyone.
                batch = self._waiting.take(MAX_BATCH)
                try:
                    await self._commit_batch_locked(batch)
                except asyncio.CancelledError:
                    for waiting in batch:
                        waiting.done.cancel()
                    raise
                except Exception as exc:  # the store is down, the document was deleted...
                    for waiting in batch:
                        waiting.settle(exc)

    async def _commit_batch_locked(self, batch: list[Waiting]) -> None:
        """Sequence ``batch`` in memory, commit it in one append, then acknowledge it.

        Nothing is acknowledged or sent before the append succeeds. If it fails, the
        sequencer is rolled back and nobody has seen anything; if another process moved the
        head, the room folds in what it committed and sequences the batch again.
        """
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            self.room.sequencer.checkpoint()
            try:
                results, commits = await self._sequence_locked(batch)
                result = AppendResult.APPENDED  # nothing new: duplicates and refusals only
                if commits:
                    started = time.monotonic()
                    result = await self.room.store.append(self.room.doc_id, commits)
                    self._note_commit_time(len(commits), time.monotonic() - started)
            except BaseException:
                self.room.sequencer.rollback()
                raise
            if result is AppendResult.APPENDED:
                self.room.sequencer.keep()
                if commits:  # each member gets the batch in one write where it can
                    self.room.broadcast_many(
                        tuple(encode(commit.revision.to_wire()) for commit in commits)
                    )
                if commits:
                    # Under the lock, so every extension hears commits in revision order.
                    revisions = [c.revision for c in commits]
                    await self.room.extensions.after_commit(Committed(self.room.doc_id, revisions))
                for waiting, answer in results:
                    waiting.settle(answer)
                return
            self.room.sequencer.rollback()
            if result is AppendResult.DUPLICATE:
                batch = await self._settle_stored_duplicates(batch, commits)
            await self.room.refresh_locked()  # another process committed first
        for waiting in batch:
            waiting.settle(Busy(f"document '{self.room.doc_id}' is too contended; try again"))

    def _note_commit_time(self, revisions: int, seconds: float) -> None:
        if seconds < SLOW_COMMIT_SECONDS:
            return
        now = time.monotonic()
        if now - self._slow_logged_at < SLOW_COMMIT_LOG_EVERY:
            self._slow_unlogged += 1
            return
        more = f" ({self._slow_unlogged} more since the last report)" if self._slow_unlogged else ""
        log.warning(
            "committing %d revision(s) of %s took %.0f ms; their acknowledgements waited%s",
            revisions,
            self.room.doc_id,
            seconds * 1000,
            more,
        )
        self._slow_logged_at, self._slow_unlogged = now, 0

    async def _sequence_locked(
        self, batch: list[Waiting]
    ) -> tuple[list[tuple[Waiting, Outcome | Exception]], list[Commit]]:
        """Each edit's outcome (or why it was refused), and the revisions to append."""
        results: list[tuple[Waiting, Outcome | Exception]] = []
        commits: list[Commit] = []
        resumed = time.perf_counter()
        for waiting in batch:
            edit = waiting.edit
            if time.perf_counter() - resumed > YIELD_EVERY:
                # Still under the lock, with the batch in memory only: nobody sees it, and
                # other documents' callbacks run meanwhile.
                await asyncio.sleep(0)
                resumed = time.perf_counter()
            try:
                outcome = await self._propose(edit, waiting.author)
            except sync_errors.StaleRevision as exc:
                # Perhaps applied long ago, before the history held in memory.
                existing = await self.room.store.find_operation(self.room.doc_id, edit.op_id)
                if existing is None:
                    results.append((waiting, exc))
                else:
                    results.append((waiting, Outcome(existing, Placement.DUPLICATE)))
                continue
            except sync_errors.SyncError as exc:
                results.append((waiting, exc))
                continue
            if outcome.placement is not Placement.DUPLICATE:
                # Accepted in memory only, so the next edit is sequenced on top of it.
                self.room.sequencer.accept(outcome)
                commits.append(Commit(outcome.revision, outcome.op, outcome.text))
            results.append((waiting, outcome))
        return results, commits

    async def _propose(self, edit: Edit, author: str) -> Outcome:
        """The sequencer's proposal for ``edit``, computed where it cannot stall the event
        loop: here if it is cheap, in a worker thread if its patch is large or its fuzzy
        placement needs more than the small budget. Under the room's lock, so the sequencer
        changes under nobody's feet while a worker reads it."""
        sequencer = self.room.sequencer
        if len(edit.patch) <= LARGE_PATCH_CHARS:
            sequencer.fuzzy_budget, sequencer.fuzzy_placer = INLINE_FUZZY_BUDGET, None
            try:
                return sequencer.propose(edit, author)
            except sync_errors.EditTooComplex as exc:
                if exc.limit != "fuzzy_budget":
                    raise
        sequencer.fuzzy_budget, sequencer.fuzzy_placer = FUZZY_BUDGET, _PLACERS.place
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_WORKERS, sequencer.propose, edit, author)

    async def _settle_stored_duplicates(
        self, batch: list[Waiting], commits: list[Commit]
    ) -> list[Waiting]:
        """The store has some of the batch's operations already (committed by another
        process, or long ago): acknowledge those with their stored revision, keep the rest."""
        remaining = []
        appended = {c.revision.op_id for c in commits}
        for waiting in batch:
            existing = None
            if waiting.edit.op_id in appended:
                existing = await self.room.store.find_operation(
                    self.room.doc_id, waiting.edit.op_id
                )
            if existing is None:
                remaining.append(waiting)
            else:
                waiting.settle(Outcome(existing, Placement.DUPLICATE))
        return remaining
