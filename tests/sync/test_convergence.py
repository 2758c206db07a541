"""Whole-system properties of the engine, in the simulated world of ``tests/sync/sim.py``.

2 to 8 clients type (inserts, deletes, replaces; same-spot inserts; astral characters, CJK,
combining marks, ``\\r\\n``, pastes of several KB) while the network delays, reorders,
duplicates and drops messages and connections come and go. Once the network heals and the
world settles, every copy must equal the server's, nothing may be left unconfirmed or
refused, and no copy may have needed repair (a full resync or a fuzzy placement means some
copy drifted). In the unique-character mode, no insertion may be lost or duplicated either.

Small ``history_limit`` values force snapshots and the merge in ``sync/merge.py``; large ones
keep every rebase exact.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from tests.sync.sim import (
    Action,
    Advance,
    Config,
    Disconnect,
    Faults,
    Reconnect,
    Type,
    World,
    random_actions,
    replay_code,
    survival_problems,
)

# Small atoms joined at random: a tiny alphabet makes repeated context (hard for patch
# context and fuzzy matching), and every atom is a known troublemaker somewhere.
ATOMS = (
    "a",
    "b",
    " ",
    "\n",
    "\r\n",
    "\t",
    "é",  # precomposed
    "e\u0301",  # e + combining acute
    "中",
    "文",
    "한",
    "😀",  # astral: two UTF-16 units
    "👍🏽",  # emoji + skin-tone modifier
    "👨\u200d👩\u200d👧",  # ZWJ sequence
    "𝄞",
    "\u2028",  # LINE SEPARATOR: a line break to str.splitlines, not to patches
    "\x85",  # NEL, likewise
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\ufeff",  # BOM / zero-width no-break space
)

SMALL_HISTORY = st.sampled_from([1, 2, 3, 5])
LARGE_HISTORY = st.just(1000)

# Whole sessions, but cheap ones (a few ms): twice the profile's budget.
SIM_EXAMPLES = settings.default.max_examples * 2

# Paste sizes. A snapshot merge diffs the offline copy against the snapshot, and when
# thousands of unrepeated characters differ, diff-match-patch runs into its 1 s timeout
# (sync/merge.py sets it), once per merge. Sessions of unique characters that go through
# snapshots therefore paste less; the others paste up to several KB (of repeated chunks).
BIG_PASTE = 6000
SNAPSHOT_PASTE = 800

# Strategies are built once: building them inside a composite on every draw made data
# generation (and so shrinking) several times slower than the simulation itself.
_CHUNK = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=12).map("".join)


def _repeat(chunk: str, size: int) -> str:
    return (chunk * (size // len(chunk) + 1))[:size]


# The first choice of each is what the shrinker tends to: a no-op edit at the start.
_KIND = st.sampled_from(["type"] * 4 + ["advance"] * 4 + ["drop", "open"])
_WHO = st.integers(0, 7)  # taken modulo the number of clients
# 0 and -1 (the start and the end) make concurrent same-spot inserts common.
_AT = st.one_of(st.just(0), st.just(-1), st.integers(0, 1 << 20))
_DELETE = st.one_of(st.integers(0, 3), st.integers(0, BIG_PASTE))
_PASTE_ROLL = st.integers(0, 15)  # 0: a paste, so about one edit in sixteen
_TICKS = st.integers(1, 4)


def actions(*, unique: bool, paste: int) -> st.SearchStrategy[Action]:
    # In unique mode an int asks the world for that many never-seen characters.
    small: st.SearchStrategy[str | int]
    big: st.SearchStrategy[str | int]
    if unique:
        small, big = st.integers(0, 6), st.integers(0, paste)
    else:
        small = st.lists(st.sampled_from(ATOMS), max_size=6).map("".join)
        big = st.builds(_repeat, _CHUNK, st.integers(1, paste))

    @st.composite
    def action(draw: st.DrawFn) -> Action:
        kind, who = draw(_KIND), draw(_WHO)
        if kind == "type":
            at, delete = draw(_AT), draw(_DELETE)
            insert = draw(big if draw(_PASTE_ROLL) == 0 else small)
            return Type(who, at, delete, insert)
        if kind == "advance":
            return Advance(draw(_TICKS))
        return Disconnect(who) if kind == "drop" else Reconnect(who)

    return action()


faults = st.builds(
    Faults,
    drop=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    duplicate=st.sampled_from([0.0, 0.05, 0.2]),
    max_delay=st.integers(0, 8),
    stragglers=st.booleans(),
)


def configs(history: st.SearchStrategy[int], *, unique: bool) -> st.SearchStrategy[Config]:
    text: st.SearchStrategy[str | int] = (
        st.integers(0, 40) if unique else st.lists(st.sampled_from(ATOMS), max_size=30).map("".join)
    )
    return st.builds(
        Config,
        clients=st.integers(2, 8),
        text=text,
        history_limit=history,
        faults=faults,
        timeout=st.integers(2, 20),
        heartbeat=st.one_of(st.none(), st.integers(3, 30)),
        eager_flush=st.booleans(),
    )


def sessions(*, unique: bool, paste: int = BIG_PASTE) -> st.SearchStrategy[list[Action]]:
    # st.lists averages about twice min_size, so a minimum gives sessions long enough to
    # interleave; the shrinker turns the actions it does not need into no-ops.
    return st.lists(actions(unique=unique, paste=paste), min_size=20, max_size=80)


def explain(config: Config, seed: int, session: list[Action]) -> None:
    """Print, for a failing example, code that replays it (this Hypothesis version prints
    the arguments of a failing example blank)."""
    note(replay_code(config, seed, session))


def settle(config: Config, seed: int, session: list[Action]) -> World:
    world = World(config, random.Random(seed))
    world.run(session)
    world.quiesce()
    return world


def record(world: World) -> World:
    """Events for ``--hypothesis-show-statistics``: what the examples actually exercised."""
    stats = world.stats
    event(f"revisions: {_bucket(world.server.rev)}")
    for name in ("snapshots", "dropped", "duplicated", "disconnects", "timeouts"):
        event(f"{name}: {'yes' if stats[name] else 'no'}")
    event(f"longest text: {_bucket(len(world.server.text))}")
    return world


def _bucket(n: int) -> str:
    return "0" if n == 0 else f"<{10 ** len(str(n))}"


def check(world: World, *, unique: bool) -> None:
    problems = world.divergence() + world.anomalies()
    if unique:
        problems += survival_problems(world)
    assert not problems, "\n".join([*problems, world.describe()])


# -- properties ------------------------------------------------------------------------------

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=SIM_EXAMPLES)
@given(
    configs(st.one_of(SMALL_HISTORY, LARGE_HISTORY), unique=False), SEEDS, sessions(unique=False)
)
def test_every_copy_converges(config: Config, seed: int, session: list[Action]) -> None:
    explain(config, seed, session)
    check(record(settle(config, seed, session)), unique=False)


@settings(max_examples=SIM_EXAMPLES)
@given(configs(LARGE_HISTORY, unique=True), SEEDS, sessions(unique=True))
def test_no_insertion_lost_or_duplicated_when_rebasing(
    config: Config, seed: int, session: list[Action]
) -> None:
    explain(config, seed, session)
    check(record(settle(config, seed, session)), unique=True)


@settings(max_examples=SIM_EXAMPLES)
@given(configs(SMALL_HISTORY, unique=True), SEEDS, sessions(unique=True, paste=SNAPSHOT_PASTE))
def test_no_insertion_lost_or_duplicated_through_snapshots(
    config: Config, seed: int, session: list[Action]
) -> None:
    explain(config, seed, session)
    check(record(settle(config, seed, session)), unique=True)


# -- seeded regression runs --------------------------------------------------------------------
# Plain random sessions, the same on every machine: quick to run, easy to replay by number.


def seeded(seed: int, *, unique: bool, history_limit: int) -> tuple[Config, list[Action]]:
    rng = random.Random(seed)
    clients = rng.randint(2, 8)
    config = Config(
        clients=clients,
        text=rng.randint(0, 30) if unique else "hello wörld 😀\r\n",
        history_limit=history_limit,
        faults=Faults(
            drop=rng.choice([0.0, 0.05, 0.2]),
            duplicate=rng.choice([0.0, 0.1, 0.3]),
            max_delay=rng.choice([0, 2, 6]),
            stragglers=rng.random() < 0.5,
        ),
        timeout=rng.randint(3, 20),
        heartbeat=rng.choice([None, 5, 17]),
        eager_flush=rng.random() < 0.7,
    )
    # These pastes are random text, as costly to diff as unique characters, so they stay
    # small where snapshots are merged (see SNAPSHOT_PASTE).
    paste = SNAPSHOT_PASTE if history_limit < 1000 else BIG_PASTE
    steps = rng.randint(5, 80)
    return config, random_actions(rng, clients=clients, steps=steps, unique=unique, paste=paste)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("history_limit", [1, 3, 1000])
def test_seeded_sessions_converge(seed: int, history_limit: int) -> None:
    config, session = seeded(seed, unique=False, history_limit=history_limit)
    check(settle(config, seed, session), unique=False)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("history_limit", [1, 3, 1000])
def test_seeded_sessions_keep_every_insertion(seed: int, history_limit: int) -> None:
    config, session = seeded(seed, unique=True, history_limit=history_limit)
    check(settle(config, seed, session), unique=True)


# -- named scenarios ---------------------------------------------------------------------------


def test_same_spot_inserts_from_every_client_all_survive() -> None:
    world = World(Config(clients=8, text=10, faults=Faults(max_delay=5)), random.Random(1))
    for round_ in range(5):
        for client in range(8):
            world.type(client, at=(0, -1, 5)[round_ % 3], delete=0, insert=2)
        world.tick(2)
    world.quiesce()
    check(world, unique=True)


def test_lost_acknowledgements_are_recovered_without_duplicates() -> None:
    # Nearly every message is lost: timeouts (resend, answered as a DUPLICATE) and catch-ups
    # get the edits through, and each must land exactly once.
    world = World(Config(clients=3, text=5, timeout=3), random.Random(2))
    world.tick(3)  # connect on a clean network
    world.faults = Faults(drop=0.9, duplicate=0.3, max_delay=4)
    for step in range(30):
        world.type(step % 3, at=step * 7, delete=step % 2, insert=1 + step % 3)
        world.tick(1)
    world.quiesce()
    check(world, unique=True)


def test_client_away_past_the_kept_history_merges_its_work() -> None:
    # c0 goes offline and keeps typing while the others make far more revisions than the
    # server keeps, so it must come back through a snapshot and the three-way merge.
    world = World(Config(clients=3, text=20, history_limit=2), random.Random(3))
    world.tick(3)
    world.disconnect(0)
    for step in range(20):
        world.type(0, at=step * 3, delete=1, insert=2)
        world.type(1 + step % 2, at=step * 5, delete=step % 3, insert=1)
        world.tick(2)
    world.reconnect(0)
    world.quiesce()
    assert world.stats["snapshots"] >= 1
    check(world, unique=True)


def test_large_pastes_on_a_repetitive_text() -> None:
    # Context that is not unique within diff-match-patch's 32-character window.
    text = "ab " * 2000
    world = World(
        Config(clients=4, text=text, faults=Faults(drop=0.1, duplicate=0.1, max_delay=4)),
        random.Random(4),
    )
    for step in range(12):
        world.type(step % 4, at=step * 997, delete=step * 13 % 50, insert="ab " * (300 + step))
        world.tick(1)
    world.quiesce()
    check(world, unique=False)
