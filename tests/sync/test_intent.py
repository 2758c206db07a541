"""Typing intent (``sync/intent.py``): people typing at one spot at once never interleave.

The properties run whole sessions in the simulated world of ``tests/sync/sim.py``: two or
three typists start at the same position and each types a run, forwards (each letter after
their previous one) or backwards (each letter before it), while the network delays, reorders,
duplicates and drops messages and connections come and go. Once settled, every copy must
equal the server's and every typist's run must be in one piece, in the order it was typed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from sync import ops, patches
from sync.client import SyncClient
from sync.errors import ProtocolViolation
from sync.intent import Intent, later_goes_first, map_run, parse, typed
from sync.protocol import Edit, OpId, Revision, Synced, from_wire
from sync.server import Sequencer
from sync.text import checksum
from tests.sync.sim import Config, Faults, World

F, B, N, L = Intent.FORWARD, Intent.BACKWARD, Intent.NONE, Intent.LEGACY

# -- the tie-break -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [
        (N, N, False),  # sequence order, as before intents
        (F, F, False),
        (B, B, False),
        (N, F, True),  # forward text stays against its left side
        (B, F, True),
        (F, N, False),
        (F, B, False),  # backward text stays against its right side
        (N, B, False),
        (B, N, True),
        (F, L, False),  # an old client's edit always goes second: what it assumes
        (N, L, False),
        (B, L, False),
        (L, F, True),  # (stored as NONE, but the rank is the same)
        (L, B, False),
    ],
)
def test_later_goes_first(earlier: Intent, later: Intent, expected: bool) -> None:
    assert later_goes_first(earlier, later) is expected


def test_tie_break_is_antisymmetric_so_both_sides_of_a_transform_agree() -> None:
    # Whatever pair meets, transform(a, b) and transform(b, a) put the two inserts in one
    # order: the result is the same text either way (TP1).
    a = ops.replace(4, 2, "", "AA")
    b = ops.replace(4, 2, "", "BB")
    for earlier in (F, N, B):
        for later in (F, N, B, L):
            first = later_goes_first(earlier, later)
            via_earlier = ops.apply(
                ops.apply("wxyz", a), ops.transform(b, a, other_first=not first)
            )
            via_later = ops.apply(ops.apply("wxyz", b), ops.transform(a, b, other_first=first))
            assert via_earlier == via_later == ("wxBBAAyz" if first else "wxAABByz")


def test_parse_intent() -> None:
    assert parse(None, default=L) is L
    assert parse("forward", default=L) is F
    assert parse("none", default=L) is N
    for bad in ("legacy", "FORWARD", 1, True, ""):
        with pytest.raises(ProtocolViolation, match="'intent' must be"):
            parse(bad, default=N)


def test_wire_forms() -> None:
    edit = Edit(3, OpId("a", 1), "@@ -0,0 +1 @@\n+x\n", F)
    assert edit.to_wire()["intent"] == "forward"
    assert from_wire(edit.to_wire()) == edit
    old = Edit(3, OpId("a", 1), "@@ -0,0 +1 @@\n+x\n")
    assert "intent" not in old.to_wire()
    assert from_wire(old.to_wire()).intent is L  # type: ignore[union-attr]
    revision = Revision(4, 3, "Ann", OpId("a", 1), "@@ -0,0 +1 @@\n+x\n", "1:0", B)
    assert revision.to_wire()["intent"] == "backward"
    assert from_wire(revision.to_wire()) == revision
    plain = Revision(4, 3, "Ann", OpId("a", 1), "@@ -0,0 +1 @@\n+x\n", "1:0")
    assert "intent" not in plain.to_wire()
    assert from_wire(plain.to_wire()).intent is N  # type: ignore[union-attr]


# -- finding a keystroke's intent ----------------------------------------------------------------


def test_typed_forwards_backwards_and_elsewhere() -> None:
    run = (3, 4)  # "c" of "abcd" is ours
    assert typed(run, ops.replace(4, 4, "", "x")) == (F, (4, 5))
    assert typed(run, ops.replace(4, 3, "", "x")) == (B, (3, 4))
    assert typed(run, ops.replace(4, 1, "", "x")) == (N, (1, 2))
    assert typed(None, ops.replace(4, 4, "", "x")) == (N, (4, 5))
    # Two inserts at once: no intent; the run is the last one.
    two = ops.from_json([{"insert": "y"}, {"retain": 4}, {"insert": "x"}])
    assert typed(run, two) == (N, (5, 6))
    # A delete only: no intent, and the run follows the text.
    assert typed(run, ops.replace(4, 0, "a", "")) == (None, (2, 3))
    # Backspace over our own last letter, then a letter: still forwards.
    assert typed(run, ops.replace(4, 3, "d", "")) == (None, (3, 3))
    assert typed((3, 3), ops.replace(3, 3, "", "e")) == (F, (3, 4))
    # Typing over a selection right after the run continues it.
    assert typed(run, ops.replace(4, 4, "", "x")) == (F, (4, 5))


def test_map_run_keeps_the_run_around_its_own_letters() -> None:
    run = (2, 4)
    assert map_run(run, ops.replace(6, 2, "", "XY")) == (4, 6)  # at its start: before it
    assert map_run(run, ops.replace(6, 4, "", "XY")) == (2, 4)  # at its end: after it
    assert map_run(run, ops.replace(6, 3, "", "XY")) == (2, 6)  # inside: it grows
    assert map_run(run, ops.replace(6, 0, "ab", "")) == (0, 2)
    assert map_run(run, ops.replace(6, 1, "bcd", "")) == (1, 1)
    assert map_run(None, ops.replace(6, 0, "", "X")) is None


def test_client_sends_the_intent_of_its_typing() -> None:
    client = SyncClient("ann", text="[]")
    client.connect()
    client.receive(Synced(0))
    client.replace(1, 0, "a")
    (first,) = client.flush()
    assert isinstance(first, Edit) and first.intent is N
    for letter in "ppl":  # forwards, while "a" is in flight: one buffered insert
        client.replace(len(client.text) - 1, 0, letter)
    # The acknowledgement sends the buffer.
    (second,) = client.receive(Revision(1, 0, "ann", OpId("ann", 1), first.patch, _checksum("[a]")))
    assert isinstance(second, Edit) and second.intent is F
    assert not client.receive(
        Revision(2, 1, "ann", OpId("ann", 2), second.patch, _checksum("[appl]"))
    )
    # Backwards: each letter before the previous one.
    client.replace(1, 0, "z")  # not next to the run: none
    (third,) = client.flush()
    assert isinstance(third, Edit) and third.intent is N
    client.replace(1, 0, "y")  # before "z", buffered behind the in-flight "z"
    (fourth,) = client.receive(
        Revision(3, 2, "ann", OpId("ann", 3), third.patch, _checksum("[zappl]"))
    )
    assert isinstance(fourth, Edit) and fourth.intent is B


def _checksum(value: str) -> str:
    return checksum(value)


def test_server_keeps_a_forward_run_together() -> None:
    # The case: Ann and Bob type at one spot; Ann's next letter was made on a
    # revision that did not have Bob's first letter yet.
    server = Sequencer("[]")
    server.submit(_insert("[]", 0, "ann", 1, 1, "a", N), "ann")  # "[a]"
    server.submit(_insert("[]", 0, "bob", 1, 1, "b", N), "bob")  # "[ab]"
    server.submit(_insert("[a]", 1, "ann", 2, 2, "p", F), "ann")
    assert server.text == "[apb]"
    server.submit(_insert("[ab]", 2, "bob", 2, 3, "r", F), "bob")
    assert server.text == "[apbr]"


def test_without_intent_the_same_edits_interleave() -> None:
    # What old clients get among themselves: the protocol as it was.
    server = Sequencer("[]")
    server.submit(_insert("[]", 0, "ann", 1, 1, "a", L), "ann")
    server.submit(_insert("[]", 0, "bob", 1, 1, "b", L), "bob")
    server.submit(_insert("[a]", 1, "ann", 2, 2, "p", L), "ann")
    assert server.text == "[abp]"


def test_server_keeps_a_backward_run_together() -> None:
    server = Sequencer("[]")
    server.submit(_insert("[]", 0, "ann", 1, 1, "e", N), "ann")  # "[e]"
    server.submit(_insert("[e]", 1, "bob", 1, 1, "x", N), "bob")  # Bob types before "e"
    server.submit(_insert("[e]", 1, "ann", 2, 1, "l", B), "ann")  # Ann types before "e" too
    assert server.text == "[xle]"
    assert server.revision(3) is not None and server.revision(3).intent is B  # type: ignore[union-attr]


def _insert(
    text: str, base: int, client: str, seq: int, at: int, letter: str, intent: Intent
) -> Edit:
    op = ops.replace(len(text), at, "", letter)
    return Edit(base, OpId(client, seq), patches.patch_text(text, op), intent)


# -- whole sessions: runs stay in one piece ------------------------------------------------------

# Each typist's letters come from its own block of code points, so the final text says which
# letter is whose and where it is.
BLOCKS = (0x4E00, 0x3040 + 0x10, 0x0410, 0x05D0)
LEFT, RIGHT = "⟦", "⟧"


@dataclass
class Typist:
    client: int
    forward: bool
    letters: list[str]

    def next_letter(self) -> str:
        letter = chr(BLOCKS[self.client] + len(self.letters))
        self.letters.append(letter)
        return letter

    def position(self, text: str) -> int:
        """Where this typist's cursor is: after (forwards) or before (backwards) the letter
        they typed last, or right after the opening bracket if they have typed nothing."""
        if not self.letters:
            return text.index(LEFT) + 1
        at = text.find(self.letters[-1])
        if at < 0:  # never: nobody deletes here
            raise AssertionError(f"{self.letters[-1]!r} is gone from {text!r}")
        return at + 1 if self.forward else at

    def expected(self) -> str:
        return "".join(self.letters if self.forward else reversed(self.letters))


def contiguity_problems(text: str, typists: list[Typist]) -> list[str]:
    problems = []
    for typist in typists:
        run = typist.expected()
        if run and run not in text:
            direction = "forwards" if typist.forward else "backwards"
            problems.append(f"c{typist.client} typed {run!r} {direction}; the text is {text!r}")
    return problems


# One step of a session: (who types, how many letters, ticks to advance after).
STEP = st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(0, 3))
NETWORK = st.builds(
    Faults,
    drop=st.sampled_from([0.0, 0.0, 0.05, 0.2]),
    duplicate=st.sampled_from([0.0, 0.1]),
    max_delay=st.integers(0, 6),
    stragglers=st.booleans(),
)


def run_typists(
    typists: list[Typist],
    steps: list[tuple[int, int, int]],
    faults: Faults,
    seed: int,
    *,
    eager_flush: bool = True,
    drops: frozenset[int] = frozenset(),
    prefix: str = "",
) -> World:
    text = f"{prefix}{LEFT}{RIGHT}tail"
    config = Config(
        clients=len(typists), text=text, faults=faults, timeout=4, eager_flush=eager_flush
    )
    world = World(config, random.Random(seed))
    world.tick(2)  # connected before anyone types
    for number, (who, letters, ticks) in enumerate(steps):
        typist = typists[who % len(typists)]
        if number in drops:
            world.disconnect(typist.client)
        for _ in range(letters):
            peer = world.peers[typist.client]
            at = typist.position(peer.client.text)
            world.type(typist.client, at, 0, typist.next_letter())
        if number in drops:
            world.reconnect(typist.client)
        world.tick(ticks)
    world.quiesce()
    return world


def check_typists(world: World, typists: list[Typist]) -> None:
    problems = world.divergence() + world.anomalies()
    problems += contiguity_problems(world.server.text, typists)
    assert not problems, "\n".join([*problems, world.describe()])


# Whole sessions, but cheap ones: twice the profile's budget, as for the convergence tests.
SESSIONS = settings.default.max_examples * 2


@settings(max_examples=SESSIONS)
@given(
    st.integers(2, 3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.lists(STEP, min_size=1, max_size=40),
    NETWORK,
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.frozensets(st.integers(0, 40), max_size=3),
)
def test_runs_typed_at_one_spot_stay_in_one_piece(
    count: int,
    directions: list[bool],
    steps: list[tuple[int, int, int]],
    faults: Faults,
    seed: int,
    eager_flush: bool,
    drops: frozenset[int],
) -> None:
    typists = [Typist(i, directions[i], []) for i in range(count)]
    note(f"directions {directions[:count]}, steps {steps}, {faults}, seed {seed}")
    world = run_typists(typists, steps, faults, seed, eager_flush=eager_flush, drops=drops)
    check_typists(world, typists)


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("count", [2, 3])
def test_simultaneous_typists_at_twelve_keys_a_second(count: int, forward: bool) -> None:
    # The session: everyone types a letter each tick for a while, with a round trip
    # of several ticks, so every letter is concurrent with several of the others'.
    typists = [Typist(i, forward, []) for i in range(count)]
    steps = [(i % count, 1, 1 if i % count == count - 1 else 0) for i in range(30 * count)]
    world = run_typists(typists, steps, Faults(max_delay=3), seed=7)
    check_typists(world, typists)
    assert all(len(t.letters) == 30 for t in typists)


class OldClient(SyncClient):
    """A client from before intents: its edits carry none, and at every tie it puts the
    remote revision first (what ``later_goes_first`` answers for a LEGACY edit)."""

    def edit(self, op: ops.Op) -> None:
        super().edit(op)
        self._buffer_intent = Intent.LEGACY


@settings(max_examples=SESSIONS)
@given(
    st.lists(STEP, min_size=1, max_size=40),
    NETWORK,
    st.integers(0, 2**32 - 1),
    st.integers(0, 2),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_old_clients_converge_with_new_ones_and_leave_forward_runs_whole(
    steps: list[tuple[int, int, int]],
    faults: Faults,
    seed: int,
    old: int,
    directions: list[bool],
) -> None:
    # One typist runs an old client: everyone still converges exactly, and the new clients'
    # forward runs stay in one piece. (The old client's own run may be split, as it always
    # could, and so may a new client's backward run: docs/protocol.md says why.)
    typists = [Typist(i, directions[i], []) for i in range(3)]
    text = f"{LEFT}{RIGHT}tail"
    world = World(Config(clients=3, text=text, faults=faults, timeout=4), random.Random(seed))
    peer = world.peers[old]
    peer.client = OldClient(peer.client.client_id, text=text)
    peer.connected = False
    world.reconnect(old)
    world.tick(2)
    for who, letters, ticks in steps:
        typist = typists[who]
        for _ in range(letters):
            at = typist.position(world.peers[who].client.text)
            world.type(who, at, 0, typist.next_letter())
        world.tick(ticks)
    world.quiesce()
    problems = world.divergence() + world.anomalies()
    new = [t for t in typists if t.client != old and t.forward]
    problems += contiguity_problems(world.server.text, new)
    assert not problems, "\n".join([*problems, world.describe()])
