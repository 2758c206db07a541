"""Group commit: the edits of one document, sequenced in batches and committed together.

While one commit is in flight, edits keep arriving. They wait (round-robin by client, a few
per client at most), and the next batch is sequenced in memory on top of the head, appended
in one transaction, and only then acknowledged and fanned out, in order. A failed append
rolls the sequencer back and acknowledges nothing; an append that finds another process
moved the head folds in what it committed and sequences the batch again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.errors import Busy, Refusal, Refused
from app.core.extensions import Committed
from app.core.fairness import FairQueue
from app.core.store import AppendResult, Commit
from sync import errors as sync_errors
from sync.protocol import Edit
from sync.server import Outcome, Placement

if TYPE_CHECKING:
    from app.core.rooms import Room

# Commits that find the head moved (another process won) before the room gives up with Busy.
MAX_COMMIT_ATTEMPTS = 20
# Edits committed in one transaction at most: a bound on the time one batch holds the lock.
MAX_BATCH = 256


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
        self.room = room
        self._waiting: FairQueue[str, Waiting] = FairQueue(room.settings.max_waiting_edits)
        self._committer: asyncio.Task[Any] | None = None

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
                    result = await self.room.store.append(self.room.doc_id, commits)
            except BaseException:
                self.room.sequencer.rollback()
                raise
            if result is AppendResult.APPENDED:
                self.room.sequencer.keep()
                for commit in commits:
                    self.room.broadcast(commit.revision.to_wire())
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

    async def _sequence_locked(
        self, batch: list[Waiting]
    ) -> tuple[list[tuple[Waiting, Outcome | Exception]], list[Commit]]:
        """Each edit's outcome (or why it was refused), and the revisions to append."""
        results: list[tuple[Waiting, Outcome | Exception]] = []
        commits: list[Commit] = []
        for waiting in batch:
            edit = waiting.edit
            try:
                outcome = self.room.sequencer.propose(edit, waiting.author)
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
