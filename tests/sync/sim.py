"""A deterministic simulated world for the sync engine.

One :class:`~sync.server.Sequencer`, N :class:`~sync.client.SyncClient` s and a network between
them that delays, reorders, duplicates and drops messages in both directions, and drops and
reopens connections. Time is a tick counter and every random choice comes from one
``random.Random``, so a seed and a list of :data:`Action` s replay exactly.

The world plays the parts the engine leaves to its callers: it moves messages, answers a
``Resync`` the way ``app/`` does (``catch_up`` revisions then ``Synced(head)``, or a snapshot),
turns a ``SyncError`` from ``submit`` into an ``EditError`` for the author, and keeps each
client's clock (``resend()`` when an answer is overdue).

It also records what each client typed and deleted, so tests can check more than "everyone
agrees": see :func:`survival_problems`.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from sync.client import ClientState, SyncClient
from sync.errors import SyncError
from sync.protocol import (
    ClientMessage,
    Edit,
    EditError,
    Resync,
    ServerMessage,
    Snapshot,
    Synced,
)
from sync.server import Placement, Sequencer


@dataclass(frozen=True, slots=True)
class Faults:
    """How the network misbehaves. Every probability applies to each message separately."""

    drop: float = 0.0
    duplicate: float = 0.0
    max_delay: int = 0  # extra ticks, uniform in 0..max_delay; anything above 0 reorders
    # Messages sent on a connection that has since closed may still arrive (as over XMPP,
    # where nothing ties a message to one socket). False models a WebSocket: they are lost.
    stragglers: bool = True


HEALED = Faults()


@dataclass(frozen=True, slots=True)
class Config:
    clients: int = 3
    text: str | int = ""  # an int asks for that many unique characters (see UniqueChars)
    history_limit: int = 1000
    faults: Faults = HEALED
    timeout: int = 8  # ticks a waiting client waits before calling resend()
    # The server announces its head (``Synced(head)``) to every connected client this often.
    # Without it, a client that lost a broadcast and has nothing to send never learns it is
    # behind: the protocol has no other way to tell it.
    heartbeat: int | None = None
    eager_flush: bool = True  # flush after every local edit (else once per tick)


# -- actions: what a test asks the world to do ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Type:
    """Client ``client`` replaces ``delete`` characters at ``at`` with ``insert``.

    ``at`` is taken modulo the local text's length + 1, and negative values count from the
    end (-1 is the end), so any integer is a valid position. An int ``insert`` asks for that
    many fresh, globally unique characters (see :class:`UniqueChars`).
    """

    client: int
    at: int
    delete: int
    insert: str | int


@dataclass(frozen=True, slots=True)
class Advance:
    ticks: int


@dataclass(frozen=True, slots=True)
class Disconnect:
    client: int


@dataclass(frozen=True, slots=True)
class Reconnect:
    client: int


Action: TypeAlias = Type | Advance | Disconnect | Reconnect


class SimulationStuck(AssertionError):
    """The world did not settle within its bound: something livelocks or waits forever."""


# -- unique characters -----------------------------------------------------------------------

# Valid document characters only: no surrogates, no U+FFFE/U+FFFF, no XML-forbidden C0
# controls. The ranges mix one- and two-byte UTF-8, combining marks, RTL scripts, line and
# paragraph separators, CJK, and astral planes (two UTF-16 units each), so that positions
# counted in code points, UTF-8 escapes and surrogate handling are all exercised.
UNIQUE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # ASCII
    (0x1F300, 0x1FAFF),  # emoji (astral)
    (0x0300, 0x036F),  # combining diacritics
    (0x4E00, 0x9FFF),  # CJK
    (0x007F, 0x009F),  # C1 controls, incl. U+0085 NEL (allowed by XML 1.0)
    (0x20000, 0x2A6DF),  # CJK extension B (astral)
    (0x00A0, 0x024F),  # Latin-1 and Latin extended
    (0x0590, 0x06FF),  # Hebrew and Arabic (RTL)
    (0x2000, 0x206F),  # general punctuation: ZWJ, bidi controls, U+2028/U+2029
    (0xAC00, 0xD7A3),  # Hangul
    (0xE000, 0xF8FF),  # private use
    (0xFE00, 0xFFFD),  # variation selectors, BOM, specials up to U+FFFD
    (0x10000, 0x1F2FF),  # the rest of plane 1 (astral)
)


def _unique_code_points() -> Iterator[str]:
    yield from "\t\n\r"
    iterators = [iter(range(lo, hi + 1)) for lo, hi in UNIQUE_RANGES]
    while iterators:
        alive = []
        for it in iterators:
            cp = next(it, None)
            if cp is not None:
                alive.append(it)
                yield chr(cp)
        iterators = alive


class UniqueChars:
    """Hands out characters never handed out before, round-robin over :data:`UNIQUE_RANGES`.

    With every inserted character unique, the final text says exactly which insertions
    survived, which were lost and which were duplicated.
    """

    def __init__(self) -> None:
        self._source = _unique_code_points()

    def take(self, count: int) -> str:
        out = "".join(c for _, c in zip(range(count), self._source, strict=False))
        if len(out) != count:
            raise RuntimeError("ran out of unique characters")
        return out


# -- the world -------------------------------------------------------------------------------

SERVER = -1


@dataclass(order=True, slots=True)
class _Envelope:
    due: int
    serial: int  # FIFO among messages due at the same tick
    to: int = field(compare=False)  # a client index, or SERVER
    peer: int = field(compare=False)  # the client at the other end
    epoch: int = field(compare=False)  # that client's connection when it was sent
    message: ClientMessage | ServerMessage = field(compare=False)


@dataclass(slots=True)
class Peer:
    client: SyncClient
    connected: bool = False
    epoch: int = 0  # counts connections, so stragglers from a closed one can be told apart
    deadline: int | None = None  # when resend() is due if the client still waits
    inserted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        client = self.client
        return client.state is ClientState.SYNCING or (
            client.state is ClientState.READY and client.has_unconfirmed
        )


class World:
    def __init__(self, config: Config, rng: random.Random) -> None:
        self.config = config
        self.faults = config.faults
        self.rng = rng
        self.unique = UniqueChars()
        initial = config.text
        if isinstance(initial, int):
            initial = self.unique.take(initial)
        self.initial = initial
        self.server = Sequencer(initial, history_limit=config.history_limit)
        self.peers = [Peer(SyncClient(f"c{i}", text=initial)) for i in range(config.clients)]
        self.now = 0
        self.stats: Counter[str] = Counter()
        self.log: list[str] = []  # a short trace of notable events, for failure messages
        self._queue: list[_Envelope] = []
        self._serial = 0
        for index in range(config.clients):
            self.reconnect(index)

    # -- what a test does ----------------------------------------------------------------

    def run(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.apply(action)

    def apply(self, action: Action) -> None:
        if isinstance(action, Type):
            self.type(action.client, action.at, action.delete, action.insert)
        elif isinstance(action, Advance):
            self.tick(action.ticks)
        elif isinstance(action, Disconnect):
            self.disconnect(action.client)
        else:
            self.reconnect(action.client)

    def type(self, index: int, at: int, delete: int, insert: str | int) -> None:
        peer = self.peers[index % len(self.peers)]
        text = peer.client.text
        position = at % (len(text) + 1)
        if isinstance(insert, int):
            insert = self.unique.take(insert)
        deleted = text[position : position + max(0, delete)]
        if not deleted and not insert:
            return
        peer.client.replace(position, len(deleted), insert)
        peer.inserted.append(insert)
        peer.deleted.append(deleted)
        self.stats["edits"] += 1
        if self.config.eager_flush:
            self._send(peer, peer.client.flush())

    def disconnect(self, index: int) -> None:
        peer = self.peers[index % len(self.peers)]
        if peer.connected:
            peer.connected = False
            peer.deadline = None
            peer.client.disconnect()
            self.stats["disconnects"] += 1

    def reconnect(self, index: int) -> None:
        peer = self.peers[index % len(self.peers)]
        if not peer.connected:
            peer.connected = True
            peer.epoch += 1
            self._send(peer, peer.client.connect())

    def tick(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.now += 1
            while self._queue and self._queue[0].due <= self.now:
                self._deliver(heapq.heappop(self._queue))
            every = self.config.heartbeat
            if every and self.now % every == 0:
                self._announce_head(self.peers)
            for peer in self.peers:
                self._run_clock(peer)

    def quiesce(self, max_ticks: int = 5000) -> None:
        """Heal the network, reconnect everyone and run until all is settled.

        Raises :class:`SimulationStuck` if that takes more than ``max_ticks``.
        """
        self.faults = HEALED
        for index in range(len(self.peers)):
            self.reconnect(index)
        for _ in range(max_ticks):
            if self.settled():
                return
            if not self._queue and not any(p.waiting for p in self.peers):
                # Everyone is idle: tell anyone behind where the head is (the heartbeat's job).
                behind = [p for p in self.peers if p.client.rev != self.server.rev]
                self._announce_head(behind)
            self.tick()
        raise SimulationStuck(f"not settled after {max_ticks} ticks\n{self.describe()}")

    def settled(self) -> bool:
        if self._queue:
            return False
        return all(
            p.connected
            and p.client.state is ClientState.READY
            and not p.client.has_unconfirmed
            and p.client.rev == self.server.rev
            for p in self.peers
        )

    # -- what the tests check ------------------------------------------------------------

    def divergence(self) -> list[str]:
        """Every way the settled world differs from "all copies equal, nothing lost"."""
        problems = []
        head = self.server.text
        for peer in self.peers:
            c = peer.client
            if c.text != head:
                problems.append(
                    f"{c.client_id}: text differs from the server's: {_diff(c.text, head)}"
                )
            if c.shadow != head:
                problems.append(f"{c.client_id}: shadow differs from the server's text")
            if c.rev != self.server.rev:
                problems.append(f"{c.client_id}: at revision {c.rev}, server at {self.server.rev}")
            if c.has_unconfirmed:
                problems.append(f"{c.client_id}: still has unconfirmed edits")
            if c.rejected:
                problems.append(f"{c.client_id}: edits rejected: {c.rejected}")
        return problems

    def anomalies(self) -> list[str]:
        """Paths an honest world never takes: they mean some copy drifted and was repaired."""
        problems = []
        if self.stats["resync_full"]:
            problems.append(
                f"{self.stats['resync_full']} full resync(s): a client's shadow failed a revision"
            )
        if self.stats["placement_fuzzy"]:
            problems.append(
                f"{self.stats['placement_fuzzy']} edit(s) placed fuzzily: an exact rebase failed"
            )
        return problems

    def describe(self) -> str:
        lines = [
            f"tick {self.now}, server rev {self.server.rev} (history from "
            f"{self.server.oldest_base}), {len(self._queue)} message(s) in flight, "
            f"stats {dict(sorted(self.stats.items()))}"
        ]
        for peer in self.peers:
            c = peer.client
            lines.append(
                f"  {c.client_id}: {c.state.value}, connected={peer.connected}, rev {c.rev}, "
                f"unconfirmed={c.unconfirmed_count}, rejected={len(c.rejected)}"
            )
        lines.extend(self.log[-30:])
        return "\n".join(lines)

    # -- the network ---------------------------------------------------------------------

    def _send(self, peer: Peer, messages: Sequence[ClientMessage]) -> None:
        if not messages:
            return
        index = self.peers.index(peer)
        for message in messages:
            if isinstance(message, Resync):
                self.stats["resync_full" if message.full else "resync"] += 1
            self._post(SERVER, index, peer.epoch, message)
        peer.deadline = self.now + self.config.timeout

    def _reply(self, index: int, messages: Sequence[ServerMessage]) -> None:
        peer = self.peers[index]
        if not peer.connected:
            self.stats["unsendable"] += len(messages)
            return  # no connection to answer on
        for message in messages:
            self._post(index, index, peer.epoch, message)

    def _post(self, to: int, peer: int, epoch: int, message: ClientMessage | ServerMessage) -> None:
        faults = self.faults
        rng = self.rng
        if faults.drop and rng.random() < faults.drop:
            self.stats["dropped"] += 1
            return
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        self.stats["duplicated"] += copies - 1
        for _ in range(copies):
            delay = 1 + (rng.randint(0, faults.max_delay) if faults.max_delay else 0)
            self._serial += 1
            heapq.heappush(
                self._queue, _Envelope(self.now + delay, self._serial, to, peer, epoch, message)
            )

    def _deliver(self, envelope: _Envelope) -> None:
        peer = self.peers[envelope.peer]
        current = peer.connected and envelope.epoch == peer.epoch
        if not current and not self.faults.stragglers:
            self.stats["lost_with_connection"] += 1
            return
        if envelope.to == SERVER:
            self._server_receive(envelope.peer, envelope.message)
        else:
            message = envelope.message
            assert not isinstance(message, Edit | Resync)
            self._send(peer, peer.client.receive(message))

    def _run_clock(self, peer: Peer) -> None:
        if not peer.connected:
            return
        if not self.config.eager_flush:
            self._send(peer, peer.client.flush())
        if not peer.waiting:
            peer.deadline = None
        elif peer.deadline is None:
            peer.deadline = self.now + self.config.timeout
        elif self.now >= peer.deadline:
            self.stats["timeouts"] += 1
            messages = [*peer.client.resend(), *peer.client.flush()]
            self._send(peer, messages)
            peer.deadline = self.now + self.config.timeout

    def _announce_head(self, peers: Iterable[Peer]) -> None:
        for peer in peers:
            if peer.connected:
                self.stats["announcements"] += 1
                self._reply(self.peers.index(peer), [Synced(self.server.rev)])

    # -- the server's side, as app/ plays it -----------------------------------------------

    def _server_receive(self, index: int, message: ClientMessage | ServerMessage) -> None:
        server = self.server
        if isinstance(message, Resync):
            answer = server.catch_up(message.since, message.client, full=message.full)
            if isinstance(answer, Snapshot):
                self.stats["snapshots"] += 1
                self.log.append(f"t{self.now} snapshot rev {answer.rev} -> c{index}")
                self._reply(index, [answer])
            else:
                self._reply(index, [*answer, Synced(server.rev)])
            return
        assert isinstance(message, Edit)
        author = self.peers[index].client.client_id
        try:
            outcome = server.submit(message, author)
        except SyncError as exc:
            self.stats[f"error_{exc.code}"] += 1
            self.log.append(f"t{self.now} {message.op_id} refused: {exc.code}")
            self._reply(index, [EditError(message.op_id, exc.code, str(exc))])
            return
        self.stats[f"placement_{outcome.placement.value}"] += 1
        if outcome.placement is Placement.DUPLICATE:
            self._reply(index, [outcome.revision])
            return
        self.log.append(f"t{self.now} rev {outcome.revision.rev} = {message.op_id}")
        for other, peer in enumerate(self.peers):
            if peer.connected:
                self._reply(other, [outcome.revision])


def survival_problems(world: World) -> list[str]:
    """For worlds whose characters are all unique: what was lost, duplicated or invented.

    Every inserted character that no client deliberately deleted must be in the final text,
    no character may appear twice, and nothing may appear that nobody typed.
    """
    final = world.server.text
    inserted = "".join(s for p in world.peers for s in p.inserted)
    deleted = set("".join(s for p in world.peers for s in p.deleted))
    origin = world.initial + inserted
    if len(set(origin)) != len(origin):
        raise ValueError("survival_problems needs a world where every character is unique")
    present = set(final)
    problems = []
    lost = [c for c in inserted if c not in deleted and c not in present]
    if lost:
        problems.append(f"{len(lost)} inserted character(s) nobody deleted are gone: {_show(lost)}")
    twice = [c for c, n in Counter(final).items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} character(s) appear more than once: {_show(twice)}")
    invented = present - set(origin)
    if invented:
        problems.append(f"{len(invented)} character(s) nobody typed: {_show(sorted(invented))}")
    return problems


def _show(chars: Sequence[str], limit: int = 12) -> str:
    shown = " ".join(f"U+{ord(c):04X}" for c in chars[:limit])
    return shown + (" ..." if len(chars) > limit else "")


def _diff(a: str, b: str) -> str:
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    where = f"lengths {len(a)} vs {len(b)}, first difference at {at}"
    return f"{where}: {a[at:][:20]!r} vs {b[at:][:20]!r}"


def replay_code(config: Config, seed: int, actions: Sequence[Action]) -> str:
    """Python that rebuilds this world and runs ``actions``: paste it into a regression test."""
    lines = [f"world = World({config!r}, random.Random({seed}))", "world.run(["]
    lines += [f"    {action!r}," for action in actions]
    lines += ["])", "world.quiesce()"]
    return "\n".join(lines)


def random_actions(
    rng: random.Random,
    *,
    clients: int,
    steps: int,
    unique: bool = False,
    alphabet: Sequence[str] = ("a", "b", " ", "é", "e\u0301", "中", "😀", "\r\n"),
    disconnects: bool = True,
    paste: int = 5000,
) -> list[Action]:
    """A random session for seeded regression runs (hypothesis draws its own)."""
    actions: list[Action] = []
    for _ in range(steps):
        roll = rng.random()
        who = rng.randrange(clients)
        if roll < 0.55:
            at = rng.choice([0, -1, rng.randrange(1 << 20)])
            delete = rng.choice([0, 0, 1, 2, rng.randrange(40)])
            pasting = rng.random() < 0.05
            size = rng.randint(paste // 2, paste) if pasting else rng.choice([0, 1, 1, 2, 3, 5])
            insert: str | int = (
                size if unique else "".join(rng.choice(alphabet) for _ in range(size))
            )
            actions.append(Type(who, at, delete, insert))
        elif roll < 0.9:
            actions.append(Advance(rng.randint(1, 6)))
        elif disconnects and roll < 0.95:
            actions.append(Disconnect(who))
        else:
            actions.append(Reconnect(who))
    return actions
