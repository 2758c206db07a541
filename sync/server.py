"""The sequencer: the one place where edits get revision numbers.

A :class:`Sequencer` holds a document's head text, the most recent revisions (as patches and
as operations) and, per client, the newest operation it applied. It does no I/O: ``app/``
loads it from storage, persists what :meth:`Sequencer.submit` returns before acknowledging it,
and feeds it revisions sequenced by other processes with :meth:`Sequencer.ingest`.

How an edit made on revision ``base`` becomes revision ``head + 1``:

1. An operation id already applied is acknowledged again with its revision, never reapplied.
2. ``base == head``: the patch must fit the head exactly (context and deletions).
3. ``base < head`` and the revisions since are kept: the patch becomes an operation on the
   text at ``base``, is transformed over each later revision in order, and applied. Where
   both insert at one position, the two edits' intents decide (``sync.intent``): text typed
   forwards stays against its left side, text typed backwards against its right side, and
   otherwise the earlier revision's text goes first. Deleted text is checked on the way.
4. If the patch does not fit (its deletions or context differ from the text at ``base``),
   diff-match-patch's fuzzy ``patch_apply`` places the hunks, starting from positions mapped
   through the later revisions. If any hunk cannot be placed the edit is refused as a whole,
   naming the hunks; a half-applied edit would leave its author's copy wrong.
5. An edit older than the kept history is refused as stale: its author resyncs (gets a
   snapshot) and merges its edits onto it (see ``sync.merge``), then sends them again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import TypeVar

from sync import ops, patches
from sync.errors import (
    DocumentTooLarge,
    EditTooComplex,
    FutureRevision,
    PatchRejected,
    StaleRevision,
)
from sync.fold import fold
from sync.intent import Intent, later_goes_first
from sync.ops import Op
from sync.patches import FuzzyPlacement
from sync.protocol import Edit, OpId, Revision, Snapshot
from sync.text import checksum, checksum_length, checksum_version, update_checksum, validate_text

_T = TypeVar("_T")

# What ``patches.place_fuzzily`` is; a server may run it in another process.
FuzzyPlacer = Callable[[str, Sequence[patches.Hunk], Sequence[int], int | None], FuzzyPlacement]


class Placement(Enum):
    EXACT = "exact"  # fitted the head, or rebased by transformation
    FUZZY = "fuzzy"  # placed by diff-match-patch's fuzzy matching
    DUPLICATE = "duplicate"  # already applied; this is the earlier revision again


@dataclass(frozen=True, slots=True)
class _Undo:
    """What one accepted revision changed, to put back on :meth:`Sequencer.rollback`."""

    text: str
    rev: int
    checksum: str
    evicted: tuple[Revision, Op] | None  # the oldest history entry it pushed out
    client: str
    client_before: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an edit. Until :meth:`Sequencer.accept` takes it, a proposed outcome
    changes nothing, so a caller can persist first and accept only what was committed."""

    revision: Revision
    placement: Placement
    op: Op = ()
    text: str = ""  # the text at ``revision.rev`` (empty for duplicates)


class Sequencer:
    """One document's sequencer state. Not thread-safe: one caller at a time."""

    # The most work fuzzy placement may do for one edit, in the matcher's steps
    # (``patches.fuzzy_apply``); None means no bound. A server sets it: past it the edit is
    # refused as EditTooComplex rather than holding its caller for seconds.
    fuzzy_budget: int | None = None
    # Where fuzzy placement runs: ``patches.place_fuzzily`` itself when None, or a stand-in
    # that runs it elsewhere (a server's worker process) and returns what it returned.
    fuzzy_placer: FuzzyPlacer | None = None

    def __init__(
        self,
        text: str = "",
        rev: int = 0,
        *,
        history: Iterable[Revision] = (),
        client_seqs: dict[str, tuple[int, int]] | None = None,
        history_limit: int = 1000,
        max_length: int | None = None,
        text_checksum: str | None = None,
    ) -> None:
        """``history`` is the newest revisions, oldest first, ending at ``rev``;
        ``client_seqs`` maps a client id to (its newest applied seq, that revision).

        ``text_checksum`` is the checksum of ``text`` when the caller already has it (a store
        that just verified the text against its log): computing one from scratch costs a pass
        over the whole text, 100 ms per MB in Python. It must be a version 2 checksum of the
        right length to be used; anything else is ignored and the checksum computed.
        """
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        validate_text(text)
        self.text = text
        self.rev = rev
        if (
            text_checksum is not None
            and checksum_version(text_checksum) == 2
            and checksum_length(text_checksum) == len(text)
        ):
            self.checksum = text_checksum
        else:
            self.checksum = checksum(text)
        self.max_length = max_length
        self._revisions: deque[Revision] = deque(maxlen=history_limit)
        self._ops: deque[Op] = deque(maxlen=history_limit)
        self._clients: dict[str, tuple[int, int]] = dict(client_seqs or {})
        self._undo: list[_Undo] | None = None  # while a checkpoint is open
        self._load_history(list(history))

    def _load_history(self, history: list[Revision]) -> None:
        if history and history[-1].rev != self.rev:
            raise ValueError(f"history ends at {history[-1].rev}, the text is at {self.rev}")
        for revision in history:
            # A stored revision is trusted; its base length is its result's length minus
            # what the patch added.
            hunks = patches.parse_patch(revision.patch)
            growth = sum(h.length2 - h.length1 for h in hunks)
            op, _ = patches.op_from_patch(hunks, checksum_length(revision.checksum) - growth)
            self._remember(revision, op)

    @property
    def kept_rev(self) -> int:
        """The head before the open checkpoint (the head itself if none is open): what a
        reader outside the batch being sequenced may rely on."""
        if self._undo:
            return self._undo[0].rev
        return self.rev

    @property
    def oldest_base(self) -> int:
        """The oldest revision an edit can be based on and still be rebased exactly."""
        return self.rev - len(self._revisions)

    def last_seq(self, client: str) -> int:
        return self._clients.get(client, (0, 0))[0]

    def revision(self, rev: int) -> Revision | None:
        index = rev - self.oldest_base - 1
        if 0 <= index < len(self._revisions):
            return self._revisions[index]
        return None

    def catch_up(
        self, since: int, client: str | None = None, *, full: bool = False
    ) -> list[Revision] | Snapshot:
        """What a client at ``since`` needs: the revisions after it, or else a snapshot."""
        if since > self.rev:
            raise FutureRevision(f"revision {since} does not exist yet (the head is {self.rev})")
        if since >= self.oldest_base and not full:
            return _newest(self._revisions, self.rev - since)
        return self.snapshot(client)

    def snapshot(self, client: str | None = None) -> Snapshot:
        return Snapshot(self.rev, self.text, self.checksum, self.last_seq(client) if client else 0)

    def submit(self, edit: Edit, author: str) -> Outcome:
        """Sequence ``edit``, or raise a :class:`~sync.errors.SyncError` saying why not."""
        return self.accept(self.propose(edit, author))

    def accept(self, outcome: Outcome) -> Outcome:
        """Make a proposed outcome the new head (duplicates change nothing)."""
        if outcome.placement is not Placement.DUPLICATE:
            if outcome.revision.rev != self.rev + 1:
                raise StaleRevision(
                    f"revision {outcome.revision.rev} was proposed on another head than {self.rev}"
                )
            self._advance(outcome.revision, outcome.op, outcome.text)
        return outcome

    def propose(self, edit: Edit, author: str) -> Outcome:
        """What sequencing ``edit`` now would produce, without changing anything."""
        duplicate = self._duplicate_of(edit.op_id)
        if duplicate is not None:
            return Outcome(duplicate, Placement.DUPLICATE)
        if edit.base > self.rev:
            raise FutureRevision(
                f"edit {edit.op_id} is based on revision {edit.base}, "
                f"but the head is revision {self.rev}"
            )
        if edit.base < self.oldest_base:
            raise StaleRevision(
                f"edit {edit.op_id} is based on revision {edit.base}, older than the history "
                f"kept here (from {self.oldest_base}); resync and send it again"
            )
        hunks = patches.parse_patch(edit.patch)
        placement = Placement.EXACT
        try:
            op, new_text = self._rebase_exactly(edit.base, hunks, edit.intent)
        except PatchRejected:
            op = self._place_fuzzily(edit, hunks)
            placement = Placement.FUZZY
            new_text = ops.apply(self.text, op)
        if self.max_length is not None and len(new_text) > self.max_length:
            raise DocumentTooLarge(
                f"the edit would make the document {len(new_text)} characters long; "
                f"the limit is {self.max_length}"
            )
        revision = Revision(
            rev=self.rev + 1,
            base=edit.base,
            author=author,
            op_id=edit.op_id,
            patch=patches.patch_text(self.text, op),
            checksum=self._checksum_after(op, new_text),
            intent=Intent.NONE if edit.intent is Intent.LEGACY else edit.intent,
        )
        return Outcome(revision, placement, op, new_text)

    # -- speculation: sequence several edits, then keep them or put everything back ------

    def checkpoint(self) -> None:
        """Remember the state now: until :meth:`keep`, :meth:`rollback` returns to it.

        A server commits a batch of edits at once: it accepts each in turn (each is proposed
        on top of the ones before), writes the batch, and rolls back if the write fails.
        The cost is proportional to the batch, not to the document or its history.
        """
        if self._undo is not None:
            raise RuntimeError("a checkpoint is already open")
        self._undo = []

    def keep(self) -> None:
        """Close the checkpoint, keeping everything accepted since."""
        self._undo = None

    def rollback(self) -> None:
        """Undo every revision accepted (or ingested) since :meth:`checkpoint`."""
        undo, self._undo = self._undo, None
        if undo is None:
            raise RuntimeError("no checkpoint to roll back to")
        for entry in reversed(undo):
            self._revisions.pop()
            self._ops.pop()
            if entry.evicted is not None:
                self._revisions.appendleft(entry.evicted[0])
                self._ops.appendleft(entry.evicted[1])
            if entry.client_before is None:
                self._clients.pop(entry.client, None)
            else:
                self._clients[entry.client] = entry.client_before
            self.text, self.rev, self.checksum = entry.text, entry.rev, entry.checksum

    def ingest(self, revision: Revision) -> None:
        """Fold in a revision another process sequenced (it must be the next one)."""
        if revision.rev != self.rev + 1:
            raise StaleRevision(f"revision {revision.rev} does not follow the head {self.rev}")
        new_text, op = fold(self.text, revision, self.checksum)
        self._advance(revision, op, new_text)

    def _checksum_after(self, op: Op, new_text: str) -> str:
        """The checksum of ``new_text`` (``op`` applied to the head): updated from the head's
        in time proportional to the change, unless the head's is version 1 (ingested from an
        older process), which is then replaced by a version 2 one computed in full."""
        if checksum_version(self.checksum) == 2:
            return update_checksum(self.checksum, self.text, op, new_text)
        return checksum(new_text)

    def _duplicate_of(self, op_id: OpId) -> Revision | None:
        last_seq, last_rev = self._clients.get(op_id.client, (0, 0))
        if op_id.seq > last_seq:
            return None
        if op_id.seq == last_seq:
            found = self.revision(last_rev)
            if found is not None:
                return found
        else:
            for revision in reversed(self._revisions):
                if revision.op_id == op_id:
                    return revision
        raise StaleRevision(
            f"edit {op_id} was already applied, before the history kept here; resync"
        )

    def _rebase_exactly(
        self, base: int, hunks: list[patches.Hunk], intent: Intent
    ) -> tuple[Op, str]:
        """The edit as an operation on the head, and the head with it applied (one copy of
        the text, made while checking that the edit fits)."""
        if base == self.rev:
            new_text, op = patches.apply_patch(self.text, hunks)
            return op, new_text
        # Only the revisions since ``base``, taken from the new end: the cost is theirs, not
        # the kept history's.
        behind = self.rev - base
        later = _newest(self._ops, behind)
        revisions = _newest(self._revisions, behind)
        op, _ = patches.op_from_patch(hunks, ops.base_length(later[0]))
        for other, revision in zip(later, revisions, strict=True):
            first = later_goes_first(revision.intent, intent)
            op = ops.transform(op, other, other_first=not first)
        # Applying checks that what the edit deletes is still the text it named.
        return op, ops.apply(self.text, op)

    def _place_fuzzily(self, edit: Edit, hunks: list[patches.Hunk]) -> Op:
        budget = self.fuzzy_budget
        # Mapping each hunk through each later revision, before any matching.
        spent = len(hunks) * (self.rev - edit.base + 1)
        if budget is not None and spent > budget:
            raise self._too_complex(edit, budget)
        starts = self._mapped_starts(edit.base, hunks)
        place = self.fuzzy_placer or patches.place_fuzzily
        placed = place(self.text, hunks, starts, None if budget is None else budget - spent)
        if placed.over_budget:
            raise self._too_complex(edit, budget or 0)
        if placed.unplaced or placed.op is None:
            unplaced = placed.unplaced
            shown = ", ".join(map(str, unplaced[:20])) + (", ..." if len(unplaced) > 20 else "")
            raise PatchRejected(
                f"edit {edit.op_id}: hunk(s) {shown} of "
                f"{len(hunks)} match nothing in revision {self.rev}; resync and edit again",
                unplaced_hunks=unplaced,
            )
        # The head is valid text, so only what the placement inserts can be invalid.
        for component in placed.op:
            if isinstance(component, ops.Insert):
                validate_text(component.text)
        return placed.op

    def _too_complex(self, edit: Edit, budget: int) -> EditTooComplex:
        return EditTooComplex(
            f"edit {edit.op_id} does not fit revision {self.rev} exactly, and placing it by "
            f"fuzzy matching would take more than the budget of {budget} steps "
            "(fuzzy_budget); resync and edit again",
            limit="fuzzy_budget",
        )

    def _mapped_starts(self, base: int, hunks: list[patches.Hunk]) -> list[int]:
        """Each hunk's expected start in the head, in rolling coordinates."""
        later = _newest(self._ops, self.rev - base)
        starts: list[int] = []
        shift = 0
        for hunk in hunks:
            position = hunk.start2 - shift  # in the text at ``base``
            for other in later:
                position = ops.transform_position(position, other)
            starts.append(position + shift)
            shift += hunk.length2 - hunk.length1
        return starts

    def _advance(self, revision: Revision, op: Op, new_text: str) -> None:
        if self._undo is not None:
            full = len(self._revisions) == self._revisions.maxlen
            self._undo.append(
                _Undo(
                    self.text,
                    self.rev,
                    self.checksum,
                    (self._revisions[0], self._ops[0]) if full else None,
                    revision.op_id.client,
                    self._clients.get(revision.op_id.client),
                )
            )
        self.text = new_text
        self.rev = revision.rev
        self.checksum = revision.checksum
        self._remember(revision, op)

    def _remember(self, revision: Revision, op: Op) -> None:
        self._revisions.append(revision)
        self._ops.append(op)
        client, seq = revision.op_id.client, revision.op_id.seq
        if seq > self._clients.get(client, (0, 0))[0]:
            self._clients[client] = (seq, revision.rev)


def _newest(items: deque[_T], count: int) -> list[_T]:
    """The last ``count`` items, oldest first, in time proportional to ``count`` (a deque is
    indexed and sliced from its ends only by walking)."""
    if count <= 0:
        return []
    newest = list(islice(reversed(items), count))
    newest.reverse()
    return newest
