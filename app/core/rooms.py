"""A room: one open document, holding its sequencer and the people connected to it.

A room sequences edits (rebase in memory, commit to the store, then acknowledge and fan out),
answers catch-ups, and relays presence. It never assumes it is the only sequencer of its
document: a commit that finds the head moved folds in what another process committed and
tries again. What happens around an edit (who may submit it, metrics, publishing it to other
instances) is left to the extensions' hooks.

Ordering: everything a member receives about the text (its catch-up, then each new revision)
is queued under the room's lock, so it arrives in revision order with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.config import Settings
from app.core import colors
from app.core.background import Background
from app.core.bus import PresenceEvent, PresenceKind
from app.core.commits import GroupCommit
from app.core.extensions import Extensions, Origin, Settled, SubmitRequest
from app.core.limits import check_edit
from app.core.members import CLOSE_TOO_SLOW, Member
from app.core.store import DocumentStore
from app.core.wire import encode
from sync import errors as sync_errors
from sync import patches
from sync.merge import changes_between
from sync.protocol import Edit, OpId, Revision, Snapshot, Synced
from sync.server import Outcome, Sequencer

log = logging.getLogger(__name__)

# Sequences an edit elsewhere and returns its outcome, or None: sequence it here.
Route = Callable[["Room", Edit, str, Origin], Awaitable[Outcome | None]]

# Seconds between two rounds of presence updates in a room (cursor moves are coalesced).
PRESENCE_INTERVAL = 0.03
# The least time between two relays of one connection's presence (seconds): updates sent
# faster are merged and the newest relayed, so a connection sending thousands a second costs
# the others no more than one sending twenty.
PRESENCE_MIN_GAP = 0.05


class Room:
    def __init__(
        self,
        doc_id: str,
        title: str,
        sequencer: Sequencer,
        store: DocumentStore,
        settings: Settings,
        extensions: Extensions,
    ) -> None:
        self.doc_id = doc_id
        self.title = title
        self.sequencer = sequencer
        self.store = store
        self.settings = settings
        self.extensions = extensions
        self.members: dict[str, Member] = {}
        # People connected to other instances, by session, as their instances relayed them.
        self.remote_people: dict[str, dict[str, Any]] = {}
        self._remote_origin: dict[str, str] = {}  # session: the instance that relayed it
        self.lock = asyncio.Lock()
        self.commits = GroupCommit(self)
        # Presence updates not yet sent, the newest per session, and the timer that sends them.
        self._moved: dict[str, Member] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        self._relayed_at: dict[str, float] = {}  # session: loop time of its last update
        self.users = 0  # members plus REST callers holding the room
        self.unload_task: asyncio.Task[None] | None = None
        self.background = Background()
        # Where edits go when another instance sequences this document (None: always here).
        self.route: Route | None = None
        # Who waits for the head to reach a revision (``wait_for_head``), by that revision.
        self._head_waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- sequencing ---------------------------------------------------------------------

    async def submit(self, edit: Edit, author: str, origin: Origin = "websocket") -> Outcome:
        """Sequence, commit, then fan out ``edit``. Raises SyncError, Busy or Refused.

        Edits that arrive while a commit is in flight wait and are committed together
        (``app/core/commits.py``); each still gets its own revision.
        """
        started = time.perf_counter()
        if origin != "rest":  # edits the server makes itself (restores, imports) are whole
            check_edit(edit)
        await self.extensions.before_submit(SubmitRequest(self.doc_id, edit, author, origin))
        if self.route is not None:  # sequenced by another instance? (app/core/routing.py)
            routed = await self.route(self, edit, author, origin)
            if routed is not None:
                return routed
        outcome = await self.commits.submit(edit, author)
        await self.extensions.after_submit(
            Settled(self.doc_id, outcome.placement, time.perf_counter() - started)
        )
        return outcome

    async def submit_text(self, new_text: str, author: str) -> Outcome:
        """Make the document ``new_text`` as one revision (restore, import, REST edits)."""
        async with self.lock:
            await self.refresh_locked()
            base_text, base = self.sequencer.text, self.sequencer.rev
        op = changes_between(base_text, new_text)
        edit = Edit(
            base, OpId(f"srv-{uuid.uuid4().hex[:16]}", 1), patches.patch_text(base_text, op)
        )
        return await self.submit(edit, author, origin="rest")

    async def refresh(self) -> None:
        async with self.lock:
            await self.refresh_locked()

    async def refresh_locked(self) -> None:
        """Fold in revisions other processes committed, and pass them on to our members."""
        while True:
            newer = await self.store.revisions_after(
                self.doc_id, self.sequencer.rev, self.settings.max_catch_up
            )
            if not newer:
                return
            for revision in newer:
                self.sequencer.ingest(revision)
                self.broadcast(revision.to_wire())
            self._head_moved()

    async def fold_committed(self, revision: Revision) -> None:
        """Fold in ``revision``, committed by the instance that sequences this document, if
        it is still the next one here; else nothing (a refresh reads what is missing)."""
        async with self.lock:
            self._fold_locked([revision])

    async def fold_published(self, revisions: list[Revision]) -> None:
        """Fold in ``revisions``, in order, which another of our instances committed and
        published, as far as they follow on and fold; then what is missing is read from the
        store, so nothing is skipped or taken on trust beyond where it checks out."""
        async with self.lock:
            self._fold_locked(revisions)
            if self.sequencer.rev < revisions[-1].rev:
                await self.refresh_locked()

    def _fold_locked(self, revisions: list[Revision]) -> None:
        """Fold in committed ``revisions`` that follow on from the head, each checked against
        its checksum, and send them to the members; stop at the first gap or the first that
        does not fold (the caller, or a later refresh, reads the rest from the store)."""
        folded: list[str] = []
        for revision in revisions:
            if revision.rev <= self.sequencer.rev:
                continue  # folded already (from a forwarded edit's answer, say)
            if revision.rev != self.sequencer.rev + 1:
                break  # a gap: the store has what lies between
            try:
                self.sequencer.ingest(revision)
            except sync_errors.SyncError:
                log.warning("revision %d of %s did not fold; reading it", revision.rev, self.doc_id)
                break
            folded.append(encode(revision.to_wire()))
        if folded:
            self.broadcast_many(tuple(folded))
            self._head_moved()

    async def wait_for_head(self, rev: int, timeout: float) -> bool:
        """Whether the head reaches ``rev`` within ``timeout`` seconds, through what this
        room folds in or reads (not through its own commits: who waits here is an instance
        that does not sequence the document)."""
        if self.sequencer.rev >= rev:
            return True
        reached = asyncio.get_running_loop().create_future()
        waiter = (rev, reached)
        self._head_waiters.append(waiter)
        try:
            await asyncio.wait({reached}, timeout=timeout)
        finally:
            self._head_waiters.remove(waiter)
        return self.sequencer.rev >= rev

    def _head_moved(self) -> None:
        head = self.sequencer.rev
        for rev, reached in self._head_waiters:
            if rev <= head and not reached.done():
                reached.set_result(None)

    async def revisions_after(self, after: int, limit: int) -> list[Revision]:
        """Committed revisions after ``after``, from memory when it still has them.

        A batch being committed is in the sequencer's memory, and must not be seen before it
        is durable: what is in memory is read up to the head before that batch (``kept_rev``)
        without waiting for the lock, which the commit holds through its database write (the
        publisher and forwarded edits' answers would wait a commit for revisions they could
        have at once); anything else is read under the lock.
        """
        sequencer = self.sequencer
        kept = sequencer.kept_rev
        if sequencer.oldest_base <= after < kept:
            # No await between these reads and the return: nothing moves the sequencer here.
            held = sequencer.catch_up(after)
            if isinstance(held, list):
                return [revision for revision in held if revision.rev <= kept][:limit]
        async with self.lock:
            if after >= self.sequencer.oldest_base:
                result = self.sequencer.catch_up(after)
                if isinstance(result, list):
                    return result[:limit]
        return await self.store.revisions_after(self.doc_id, after, limit)

    async def snapshot(self, *, refresh: bool = False) -> Snapshot:
        """The committed text now (first folding in what other processes committed)."""
        async with self.lock:
            if refresh:
                await self.refresh_locked()
            return self.sequencer.snapshot()

    # -- catch-ups ----------------------------------------------------------------------

    async def catch_up(self, since: int, client: str, *, full: bool) -> list[Revision] | Snapshot:
        """What a client at ``since`` needs: the revisions after it, or else a snapshot."""
        async with self.lock:
            await self.refresh_locked()
            return await self._catch_up_locked(since, client, full=full)

    async def _catch_up_locked(
        self, since: int, client: str, *, full: bool
    ) -> list[Revision] | Snapshot:
        head = self.sequencer.rev
        if since > head:
            raise sync_errors.FutureRevision(
                f"revision {since} does not exist yet (the head is {head})"
            )
        if full or head - since > self.settings.max_catch_up:
            return await self._snapshot_locked(client)
        if since >= self.sequencer.oldest_base:
            result = self.sequencer.catch_up(since, client)
            assert isinstance(result, list)
            return result
        return await self.store.revisions_after(self.doc_id, since, head - since)

    async def _snapshot_locked(self, client: str) -> Snapshot:
        last_seq = await self.store.last_seq(self.doc_id, client)
        return Snapshot(self.sequencer.rev, self.sequencer.text, self.sequencer.checksum, last_seq)

    async def _push_catch_up_locked(
        self, member: Member, since: int, *, full: bool
    ) -> tuple[int, bool] | None:
        """Queue what ``member`` needs from ``since``; the revision that brings it to, and
        whether it was a snapshot (None if it was dropped as too slow meanwhile)."""
        client = member.person.client
        try:
            result = await self._catch_up_locked(since, client, full=full)
        except sync_errors.FutureRevision as exc:
            # The client claims a revision we never made: tell it, then give it the truth.
            member.push({"type": "error", "code": exc.code, "message": str(exc)})
            result = await self._snapshot_locked(client)
        if isinstance(result, list) and len(result) + 1 > member.room_left:
            # A catch-up is a burst the queue limit is not meant for: one snapshot instead.
            result = await self._snapshot_locked(client)
        if isinstance(result, Snapshot):
            if not self._push_or_drop(member, result.to_wire()):
                return None
            return result.rev, True
        for revision in result:
            if not self._push_or_drop(member, revision.to_wire()):
                return None
        if not self._push_or_drop(member, Synced(self.sequencer.rev).to_wire()):
            return None
        return self.sequencer.rev, False

    # -- members and presence -----------------------------------------------------------

    async def join(
        self, member: Member, since: int, *, full: bool, welcome: dict[str, Any]
    ) -> int | None:
        """Give ``member`` a color nobody else here has (``app/core/colors.py``), queue
        ``welcome`` (with the people present) and the catch-up, then add ``member``. Returns
        the revision the catch-up brings it to (None if it did not fit).

        Done under the lock that sequencing holds, so no revision can reach the member before
        its catch-up, be left out of both, or come twice.
        """
        async with self.lock:
            await self.refresh_locked()
            person = member.person
            author = person.author or person.name
            taken = self._colors_besides(author, person.session)
            person.color = colors.assign(person.color, taken, self.doc_id, author)
            member.push({**welcome, "person": person.public(), "people": self.people()})
            caught = await self._push_catch_up_locked(member, since, full=full)
            if not member.closing:  # its catch-up may not have fitted
                self.add(member)
            return None if caught is None else caught[0]

    async def resync(self, member: Member, since: int, *, full: bool) -> int | None:
        """Queue a catch-up for a member that asked for one (after a gap, or a bad copy);
        the revision of the snapshot it was sent, if it was sent one."""
        async with self.lock:
            await self.refresh_locked()
            caught = await self._push_catch_up_locked(member, since, full=full)
            return caught[0] if caught is not None and caught[1] else None

    def broadcast(self, message: dict[str, Any] | str, *, exclude: str | None = None) -> None:
        """Queue ``message`` to every member (but ``exclude``), encoded once for all."""
        if self.members:
            data = message if isinstance(message, str) else encode(message)
            self.broadcast_many((data,), exclude=exclude)

    def broadcast_many(self, messages: tuple[str, ...], *, exclude: str | None = None) -> None:
        """Send encoded ``messages``, in order, to every member (but ``exclude``): to each
        in one write where its channel allows (``Member.push_many``)."""
        members = self.members
        for session, member in list(members.items()):
            if session == exclude or members.get(session) is not member:
                continue  # excluded, or dropped while this loop ran
            if not member.push_many(messages):
                self._drop_too_slow(member)

    def _push_or_drop(self, member: Member, data: dict[str, Any] | str) -> bool:
        """Queue ``data`` to ``member``, or close it as too slow if its queue is full (by
        messages or by size): it resyncs when it reconnects."""
        if member.push(data):
            return True
        self._drop_too_slow(member)
        return False

    def _drop_too_slow(self, member: Member) -> None:
        session = member.person.session
        log.warning("closing %s in %s: too slow", session, self.doc_id)
        if self.members.get(session) is member:
            self._drop(member, CLOSE_TOO_SLOW, "too slow: reconnect and resync")
        else:  # still joining (its catch-up did not fit): not a member yet
            member.mark_closed()
            self.background.spawn(member.stop(CLOSE_TOO_SLOW, "too slow: reconnect and resync"))
        self.background.spawn(self.extensions.member_dropped(self.doc_id, "too-slow"))

    def _drop(self, member: Member, code: int, reason: str) -> None:
        """Take ``member`` out now and close it in the background (it may be stuck)."""
        member.mark_closed()  # queue nothing more for it, from this very moment
        self.remove(member)
        self.background.spawn(member.stop(code, reason))

    def add(self, member: Member) -> None:
        self.members[member.person.session] = member
        self._presence("join", member.person.public(), exclude=member.person.session)

    def remove(self, member: Member) -> None:
        self._moved.pop(member.person.session, None)
        self._relayed_at.pop(member.person.session, None)
        if self.members.pop(member.person.session, None) is not None:
            self._presence("leave", member.person.public())

    def _colors_besides(self, author: str, session: str) -> list[str]:
        """The colors of everyone present but ``author`` (in any session) and ``session``."""
        return [
            str(p.get("color", ""))
            for p in self.people()
            if p.get("session") != session and _author(p) != author
        ]

    def recolor(self, member: Member, wanted: str) -> None:
        """``member`` asks for the color ``wanted``: theirs if nobody else here has it. If
        someone has, they keep the one they had, and are told so (a presence update about
        themselves)."""
        person = member.person
        taken = self._colors_besides(person.author or person.name, person.session)
        if colors.normal(wanted) in {colors.normal(c) for c in taken}:
            member.push({"type": "presence", "event": "update", "person": person.public()})
        else:
            person.color = colors.normal(wanted)

    def _settle_clash(self, heard: dict[str, Any]) -> None:
        """A person on another instance has the color of someone here (both given it at once,
        before either instance heard of the other): the one ``colors.yields`` picks changes,
        on its own instance, and everyone hears of it."""
        color = colors.normal(str(heard.get("color", "")))
        for member in list(self.members.values()):
            person = member.person
            author = person.author or person.name
            if (
                colors.normal(person.color) != color
                or author == _author(heard)
                or not colors.yields(person.session, str(heard.get("session")))
            ):
                continue
            taken = self._colors_besides(author, person.session)
            if colors.has_free(taken):
                person.color = colors.assign(None, taken, self.doc_id, author)
                self._presence("update", person.public())  # to them too: their page shows it

    def update_presence(self, member: Member) -> None:
        """``member`` moved its cursor (or renamed itself). Updates are sent at most every
        ``PRESENCE_INTERVAL`` seconds per room and ``PRESENCE_MIN_GAP`` per connection, each
        person's newest only: a person sending hundreds a second costs the others no more
        than one who sends a few, and nobody's newest position is lost."""
        if member.person.session not in self.members:
            return
        self._moved[member.person.session] = member
        if self._presence_timer is None:
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(PRESENCE_INTERVAL, self._send_moves)

    def _send_moves(self) -> None:
        self._presence_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        moved, self._moved = self._moved, {}
        for session, member in moved.items():
            if self.members.get(session) is not member:
                continue
            if now - self._relayed_at.get(session, -PRESENCE_MIN_GAP) < PRESENCE_MIN_GAP:
                self._moved[session] = member  # too soon after its last one: next round
                continue
            self._relayed_at[session] = now
            self._presence("update", member.person.public(), exclude=session)
        if self._moved:
            self._presence_timer = loop.call_later(PRESENCE_INTERVAL, self._send_moves)

    def _presence(self, event: PresenceKind, person: dict[str, Any], *, exclude: str = "") -> None:
        self.broadcast({"type": "presence", "event": event, "person": person}, exclude=exclude)
        self.background.spawn(
            self.extensions.on_presence(self.doc_id, PresenceEvent(event, person))
        )

    def presence_heard(self, event: PresenceEvent) -> None:
        """A person on another instance joined, moved or left."""
        session = event.person.get("session")
        if not isinstance(session, str) or session in self.members:
            return
        if event.event == "leave":
            self._remote_origin.pop(session, None)
            if self.remote_people.pop(session, None) is None:
                return
        else:
            self.remote_people[session] = event.person
            if event.origin:
                self._remote_origin[session] = event.origin
        self.broadcast({"type": "presence", "event": event.event, "person": event.person})
        if event.event != "leave":
            self._settle_clash(event.person)

    def instance_gone(self, origin: str) -> None:
        """Another instance went away (it crashed, or lost its XMPP connection): the people
        it relayed leave, as its own clean shutdown would have said."""
        for session, relayed_by in list(self._remote_origin.items()):
            if relayed_by != origin:
                continue
            del self._remote_origin[session]
            person = self.remote_people.pop(session, None)
            if person is not None:
                self.broadcast({"type": "presence", "event": "leave", "person": person})

    def people(self) -> list[dict[str, Any]]:
        local = [m.person.public() for m in self.members.values()]
        return local + list(self.remote_people.values())

    def renamed(self, title: str) -> None:
        self.title = title
        self.broadcast({"type": "renamed", "title": title})

    async def close_all(self, code: int, reason: str) -> None:
        members = list(self.members.values())
        self.members.clear()
        self._moved.clear()
        self._relayed_at.clear()
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None
        for member in members:  # other instances hear them leave; here, everyone is closed
            leave = PresenceEvent("leave", member.person.public())
            self.background.spawn(self.extensions.on_presence(self.doc_id, leave))
        await asyncio.gather(*(m.stop(code, reason) for m in members), return_exceptions=True)


def _author(person: dict[str, Any]) -> str:
    """Whose text a person's revisions are (``Person.public()``'s ``author``, else its name)."""
    return str(person.get("author") or person.get("name", ""))
