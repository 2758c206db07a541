"""The client state machine: a shadow of the server, plus local changes in flight.

A client holds three things (the model of Jupiter, Google Wave and ShareDB):

* the *shadow*: the text at ``rev``, the newest server revision it has folded in;
* at most one *in-flight* edit, sent and not yet acknowledged, as an operation on the shadow;
* a *buffer* of later local changes, as one operation on shadow + in-flight.

The local text is always shadow + in-flight + buffer. A remote revision is folded into the
shadow exactly, and in-flight and buffer are transformed over it the way the server will
transform them, so the invariant holds and every copy ends equal to the server's.

Each edit carries its *intent* (``sync.intent``): whether its insert continues this client's
previous insert forwards or backwards. The client finds it from the range of its latest insert
(its run), and uses it, with the remote revision's, wherever its pending changes and a remote
revision insert at one position, exactly as the server will.

It does no I/O: :meth:`SyncClient.receive` takes a server message and returns the messages to
send, and the caller moves them (WebSocket, XMPP, a test's simulated network).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sync import merge, ops, patches
from sync.errors import ChecksumMismatch, PatchRejected, ProtocolViolation, StaleRevision
from sync.fold import fold
from sync.intent import Intent, Run, later_goes_first, map_run, typed
from sync.ops import Insert, Op
from sync.protocol import (
    ClientMessage,
    Edit,
    EditError,
    OpId,
    Resync,
    Revision,
    ServerMessage,
    Snapshot,
    Synced,
    validate_client_id,
)
from sync.text import checksum_matches, validate_text

# Error codes that mean "not now" rather than "never": the edit is kept and sent again.
RETRYABLE = frozenset({"rate-limited", "busy"})


class ClientState(Enum):
    OFFLINE = "offline"  # no connection; local edits accumulate in the buffer
    SYNCING = "syncing"  # asked for a catch-up and waiting for its end
    READY = "ready"  # caught up; edits flow


@dataclass(slots=True)
class InFlight:
    op_id: OpId
    op: Op  # on the current shadow
    sent: bool  # sent on the current connection
    intent: Intent = Intent.NONE


class SyncClient:
    def __init__(self, client_id: str, *, text: str = "", rev: int = 0, seq: int = 0) -> None:
        validate_client_id(client_id)
        validate_text(text)
        self.client_id = client_id
        self.shadow = text
        self.rev = rev
        self.text = text
        # The shadow's checksum, once known (from a revision or snapshot folded in): each
        # revision's is then updated from it, not computed over the whole text.
        self._shadow_checksum: str | None = None
        self.state = ClientState.OFFLINE
        self.rejected: list[EditError] = []
        self._seq = seq
        self._inflight: InFlight | None = None
        self._buffer: Op = ops.identity(len(text))
        self._want_full = False  # the pending catch-up must be a snapshot
        # Typing intent: where our latest insert is in the local text, whether it is in the
        # buffer (not yet sent), and the intent the buffer will be sent with.
        self._run: Run = None
        self._run_in_buffer = False
        self._buffer_intent = Intent.NONE

    # -- local side ---------------------------------------------------------------------

    @property
    def has_unconfirmed(self) -> bool:
        """True while some local change is not yet acknowledged by the server."""
        return self._inflight is not None or not ops.is_noop(self._buffer)

    @property
    def unconfirmed_count(self) -> int:
        return (self._inflight is not None) + (not ops.is_noop(self._buffer))

    def edit(self, op: Op) -> None:
        """Apply a local change, an operation on the current local text."""
        for component in op:
            if isinstance(component, Insert):
                validate_text(component.text, what="inserted text")
        new_text = ops.apply(self.text, op)
        intent, self._run = typed(self._run, op)
        if intent is not None:
            if not any(isinstance(c, Insert) for c in self._buffer):
                self._buffer_intent = intent
            elif not (self._run_in_buffer and intent is not Intent.NONE):
                # Inserts in more than one place: no one intent describes them all.
                self._buffer_intent = Intent.NONE
            self._run_in_buffer = True
        self.text = new_text
        self._buffer = ops.compose(self._buffer, op)

    def replace(self, position: int, delete_count: int, insert: str) -> Op:
        """Replace ``delete_count`` characters at ``position`` with ``insert``."""
        deleted = self.text[position : position + delete_count]
        if len(deleted) != delete_count:
            raise ValueError(f"range {position}+{delete_count} outside the text ({len(self.text)})")
        op = ops.replace(len(self.text), position, deleted, insert)
        self.edit(op)
        return op

    def set_text(self, new_text: str) -> Op:
        """Make the local text ``new_text``, finding the change by diffing."""
        validate_text(new_text)
        op = merge.changes_between(self.text, new_text)
        self.edit(op)
        return op

    # -- network side -------------------------------------------------------------------

    def connect(self) -> list[ClientMessage]:
        """A connection is open: ask for what was missed."""
        return self._request_catch_up()

    def disconnect(self) -> None:
        self.state = ClientState.OFFLINE

    def resend(self) -> list[ClientMessage]:
        """What to send again when an answer is overdue (the caller keeps the clock)."""
        if self.state is ClientState.SYNCING:
            return [Resync(self.client_id, self.rev, self._want_full)]
        if self.state is ClientState.READY and self._inflight is not None:
            self._inflight.sent = False
            return self.flush()
        return []

    def flush(self) -> list[ClientMessage]:
        """Send the in-flight edit if it is unsent, else start one from the buffer."""
        if self.state is not ClientState.READY:
            return []
        if self._inflight is None:
            if ops.is_noop(self._buffer):
                return []
            self._seq += 1
            op_id = OpId(self.client_id, self._seq)
            self._inflight = InFlight(op_id, self._buffer, False, self._buffer_intent)
            self._buffer = ops.identity(len(self.text))
            self._buffer_intent = Intent.NONE
            self._run_in_buffer = False
        inflight = self._inflight
        if inflight.sent:
            return []
        inflight.sent = True
        patch = patches.patch_text(self.shadow, inflight.op)
        return [Edit(self.rev, inflight.op_id, patch, inflight.intent)]

    def receive(self, message: ServerMessage) -> list[ClientMessage]:
        """Handle one server message; returns what to send in reply."""
        if self.state is ClientState.OFFLINE:
            return []  # a straggler from a closed connection
        if isinstance(message, Revision):
            return self._on_revision(message)
        if isinstance(message, Synced):
            if self._want_full:
                return []  # waiting for the snapshot asked for; this answers an older request
            if message.rev > self.rev:
                return self._request_catch_up()
            if message.rev == self.rev and self.state is ClientState.SYNCING:
                self.state = ClientState.READY
            return self.flush()
        if isinstance(message, Snapshot):
            return self._on_snapshot(message)
        if isinstance(message, EditError):
            return self._on_error(message)
        raise ProtocolViolation(f"a client cannot handle {type(message).__name__}")

    def _request_catch_up(self, *, full: bool = False) -> list[ClientMessage]:
        self.state = ClientState.SYNCING
        self._want_full = full
        if self._inflight is not None:
            # Send it again once caught up; the server acknowledges a duplicate again.
            self._inflight.sent = False
        return [Resync(self.client_id, self.rev, full)]

    def _on_revision(self, revision: Revision) -> list[ClientMessage]:
        if revision.rev <= self.rev:
            return []  # already folded in (a duplicate, or an old acknowledgement)
        if revision.rev > self.rev + 1:
            return self._request_catch_up()  # a gap: never skip a revision
        try:
            new_shadow, remote = fold(self.shadow, revision, self._shadow_checksum)
        except (PatchRejected, ChecksumMismatch):
            # Our shadow has drifted from the server's: replaying cannot repair it. Ask for
            # a snapshot; merging onto it keeps our unconfirmed edits.
            return self._request_catch_up(full=True)
        self._shadow_checksum = revision.checksum
        inflight = self._inflight
        if inflight is not None and revision.op_id == inflight.op_id:
            self._on_ack(remote, new_shadow, revision.rev)
        else:
            self._on_remote(remote, new_shadow, revision.rev, revision.intent)
        return self.flush()

    def _on_ack(self, server_op: Op, new_shadow: str, rev: int) -> None:
        inflight = self._inflight
        assert inflight is not None
        self._inflight = None
        self.shadow, self.rev = new_shadow, rev
        if server_op == inflight.op:
            return
        # The server applied something else under this id: an earlier copy of an edit we
        # later merged more into (after a snapshot), or a fuzzy placement. Keep the text the
        # user sees and send whatever still differs: nothing typed is lost or doubled.
        self._buffer = merge.changes_between(self.shadow, self.text)
        self._buffer_intent, self._run_in_buffer = Intent.NONE, False

    def _on_remote(self, remote: Op, new_shadow: str, rev: int, intent: Intent) -> None:
        self.shadow, self.rev = new_shadow, rev
        if self._inflight is None and ops.is_noop(self._buffer):
            # Nothing of ours is unconfirmed: the local text is the shadow.
            self._buffer = ops.identity(len(new_shadow))
            self.text = new_shadow
            self._run = map_run(self._run, remote)
            return
        # The server sequenced ``remote`` before anything of ours. Where both insert at one
        # position the intents decide which text goes first, as the server decides when it
        # rebases our edit over ``remote``: the same in our rebased edits and in its own
        # rebased form.
        if self._inflight is not None:
            inflight_op = self._inflight.op
            first = later_goes_first(intent, self._inflight.intent)
            self._inflight.op = ops.transform(inflight_op, remote, other_first=not first)
            remote = ops.transform(remote, inflight_op, other_first=first)
        buffer = self._buffer
        first = later_goes_first(intent, self._buffer_intent)
        self._buffer = ops.transform(buffer, remote, other_first=not first)
        remote = ops.transform(remote, buffer, other_first=first)
        self.text = ops.apply(self.text, remote)
        self._run = map_run(self._run, remote)

    def _on_snapshot(self, snapshot: Snapshot) -> list[ClientMessage]:
        if self.state is not ClientState.SYNCING or snapshot.rev < self.rev:
            # Unasked for, or older than what we hold: a duplicate or a straggler. Merging
            # it would send our unconfirmed changes a second time.
            return []
        if not checksum_matches(snapshot.text, snapshot.checksum):
            raise ChecksumMismatch(f"snapshot at revision {snapshot.rev} fails its checksum")
        # What the server has not seen of ours: the buffer, plus the in-flight edit unless
        # the snapshot already contains it.
        base, changes = self.shadow, self._buffer
        inflight = self._inflight
        if inflight is not None and inflight.op_id.seq <= snapshot.last_seq:
            base = ops.apply(self.shadow, inflight.op)
            inflight = None
        elif inflight is not None:
            changes = ops.compose(inflight.op, self._buffer)
        self._want_full = False
        merged = merge.rebase_onto(base, changes, snapshot.text)
        self._seq = max(self._seq, snapshot.last_seq)
        if inflight is not None:
            # The in-flight edit may still reach the server after this snapshot was made, so
            # it goes again under its own id (the server applies one copy at most) and with
            # its own content: the buffer stays apart, so that if the first copy is the one
            # applied, nothing of the buffer is taken for sent.
            # The buffer is found by diffing, not as compose(invert(alone), merged): that form
            # can hold a delete-and-reinsert of unchanged text, which would resurrect the text
            # if someone else replaced it meanwhile.
            alone = merge.rebase_onto(base, inflight.op, snapshot.text)
            self._inflight = InFlight(inflight.op_id, alone, False, inflight.intent)
            self.text = ops.apply(snapshot.text, merged)
            self._buffer = merge.changes_between(ops.apply(snapshot.text, alone), self.text)
        else:
            self._inflight = None
            self._buffer = merged
            self.text = ops.apply(snapshot.text, merged)
        self.shadow, self.rev = snapshot.text, snapshot.rev
        self._shadow_checksum = snapshot.checksum
        # A merge moves text in ways no run follows: start afresh.
        self._run, self._run_in_buffer, self._buffer_intent = None, False, Intent.NONE
        self.state = ClientState.READY
        return self.flush()

    def _on_error(self, error: EditError) -> list[ClientMessage]:
        inflight = self._inflight
        if inflight is None or error.op_id != inflight.op_id:
            return []  # about an edit already settled
        if error.code == StaleRevision.code:
            # Not refused, just too old to rebase: catch up (a snapshot) and merge it.
            return self._request_catch_up()
        if error.code in RETRYABLE:
            # Not refused either: the caller's timer sends it again (see resend()).
            inflight.sent = False
            return []
        self.rejected.append(error)
        self._inflight = None
        # Take the refused edit out of the local text; later typing stays.
        self._buffer = ops.transform(self._buffer, ops.invert(inflight.op))
        self.text = ops.apply(self.shadow, self._buffer)
        self._run, self._run_in_buffer, self._buffer_intent = None, False, Intent.NONE
        return self.flush()
