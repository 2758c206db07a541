"""Replay real editing traces (josephg/editing-traces, by Joseph Gentle and JSON Joy, CC BY 4.0)
through the whole engine.

Each trace is one person's keystrokes. A typing client applies them transaction by
transaction and flushes after each; the server sequences what it sends; a second client only
receives. The network keeps order but is slow: every message arrives 0 to ``MAX_LAG``
transactions after it was sent, so the typist usually has an edit in flight while it keeps
typing into its buffer, and acknowledgements arrive in bunches. Everyone must end at exactly
the trace's ``endContent``.

The traces live outside the repository (``../shared/traces`` from the project root); the test
skips, saying so, where they are absent.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from sync.client import ClientState, SyncClient
from sync.protocol import ClientMessage, Edit, Revision, Synced
from sync.server import Placement, Sequencer

TRACES = Path(__file__).parents[2].parent / "shared" / "traces"
NAMES = (
    "automerge-paper",
    "seph-blog1",
    "rustcode",
    "sveltecomponent",
    "json-crdt-blog-post",
)
MAX_LAG = 6  # transactions; a round trip is 0-12, so revisions carry about 6 keystrokes


def load(name: str) -> dict[str, Any]:
    path = TRACES / f"{name}.json.gz"
    if not path.exists():
        pytest.skip(f"editing trace {path} not found: the traces live in ../shared/traces")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace: dict[str, Any] = json.load(f)
    return trace


class LaggyLink:
    """One direction of an ordered connection whose messages each take 0 to ``MAX_LAG`` ticks."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._queue: deque[tuple[int, Any]] = deque()

    def send(self, now: int, message: Any) -> None:
        due = now + self._rng.randint(0, MAX_LAG)
        if self._queue:
            due = max(due, self._queue[-1][0])  # ordered, like TCP
        self._queue.append((due, message))

    def receive(self, now: int) -> list[Any]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(self._queue.popleft()[1])
        return out

    def __bool__(self) -> bool:
        return bool(self._queue)


@pytest.mark.parametrize("name", NAMES)
def test_trace_replays_exactly(name: str) -> None:
    trace = load(name)
    start, end = trace["startContent"], trace["endContent"]
    server = Sequencer(start)
    typist = SyncClient("typist", text=start)
    reader = SyncClient("reader", text=start)
    for client in (typist, reader):
        client.connect()
        client.receive(Synced(server.rev))
        assert client.state is ClientState.READY
    rng = random.Random(name)
    up = LaggyLink(rng)  # typist -> server
    down = LaggyLink(rng)  # server -> both clients, at the same moment
    placements: dict[Placement, int] = dict.fromkeys(Placement, 0)
    batched = 0

    def send(now: int, messages: list[ClientMessage]) -> None:
        for message in messages:
            assert isinstance(message, Edit), message
            up.send(now, message)

    def pump(now: int) -> None:
        for edit in up.receive(now):
            outcome = server.submit(edit, "typist")
            placements[outcome.placement] += 1
            down.send(now, outcome.revision)
        for revision in down.receive(now):
            assert isinstance(revision, Revision)
            assert reader.receive(revision) == []
            send(now, typist.receive(revision))

    now = 0
    for now, txn in enumerate(trace["txns"]):
        for position, deleted, inserted in txn["patches"]:
            typist.replace(position, deleted, inserted)
        if typist.unconfirmed_count == 2:  # typing on while an edit is in flight
            batched += 1
        send(now, typist.flush())
        pump(now)
    assert typist.text == end, "the typist's own text went wrong while typing"

    # Let the last acknowledgements arrive (each round trip takes at most 2 * MAX_LAG).
    for later in range(now + 1, now + 10 * (MAX_LAG + 1)):
        if not (up or down or typist.has_unconfirmed):
            break
        pump(later)
    else:
        pytest.fail("the replay did not settle")

    assert server.text == end
    assert typist.text == typist.shadow == end
    assert reader.text == reader.shadow == end
    assert reader.rev == typist.rev == server.rev
    assert not typist.rejected
    # One author, ordered delivery: every edit fits the head exactly.
    assert placements[Placement.FUZZY] == 0
    assert placements[Placement.DUPLICATE] == 0
    # The lag really did make the typist keep typing with an edit in flight.
    assert batched > len(trace["txns"]) // 4
