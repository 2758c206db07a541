"""Replaying a real editing trace through the engine: a typist, the server and a reader.

Shared by the benchmark (``bench/engine.py``) and the replay test (``tests/sync/test_traces.py``)
so that what is measured is exactly what is tested.

The traces are josephg/editing-traces (sequential_traces/), by Joseph Gentle and JSON Joy,
CC BY 4.0. Each is one person's keystrokes: the typist applies them transaction by transaction
and flushes after each. The network keeps order but every message takes 0 to ``max_lag``
transactions to arrive, so the typist usually types on with an edit in flight and
acknowledgements arrive in bunches. The reader only receives.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import Generic, TypeVar

from sync.client import ClientState, SyncClient
from sync.protocol import ClientMessage, Edit, Revision, Synced
from sync.server import Placement, Sequencer


def _trace_dir() -> Path:
    """Where the traces live: ``$COLLAB_TRACES_DIR``, else ``../shared/traces`` from the
    project root, else this workplace's shared folder (for a clone made elsewhere, as CI's)."""
    candidates = [
        os.environ.get("COLLAB_TRACES_DIR", ""),
        str(Path(__file__).resolve().parents[1].parent / "shared" / "traces"),
        "/work/shared/traces",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(candidates[1])


TRACE_DIR = _trace_dir()
TRACE_NAMES = (
    "automerge-paper",
    "seph-blog1",
    "rustcode",
    "sveltecomponent",
    "json-crdt-blog-post",
)

Patch = tuple[int, int, str]  # position (code points), characters deleted, text inserted


@dataclass(frozen=True, slots=True)
class Trace:
    name: str
    start: str
    end: str
    txns: list[list[Patch]]

    @property
    def patches(self) -> int:
        return sum(len(txn) for txn in self.txns)


def load_trace(path: Path) -> Trace:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    txns = [[(int(p), int(d), str(s)) for p, d, s in txn["patches"]] for txn in data["txns"]]
    name = path.name.removesuffix(".json.gz")
    return Trace(name, data["startContent"], data["endContent"], txns)


T = TypeVar("T")


class LaggyLink(Generic[T]):
    """One direction of an ordered connection whose messages each take 0 to ``max_lag`` ticks."""

    def __init__(self, rng: random.Random, max_lag: int) -> None:
        self._rng = rng
        self._max_lag = max_lag
        self._queue: deque[tuple[int, T]] = deque()

    def send(self, now: int, message: T) -> None:
        due = now + self._rng.randint(0, self._max_lag)
        if self._queue:
            due = max(due, self._queue[-1][0])  # ordered, like TCP
        self._queue.append((due, message))

    def receive(self, now: int) -> list[T]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(self._queue.popleft()[1])
        return out

    def __bool__(self) -> bool:
        return bool(self._queue)


@dataclass(slots=True)
class Timings:
    """Nanoseconds per call: each keystroke (``type``), each flush that produced an edit
    (``flush``: building its patch), each submit, and each revision folded by the reader
    (``fold``, a remote revision) and by the typist (``ack``, its own edit coming back)."""

    type: list[int] = field(default_factory=list)
    flush: list[int] = field(default_factory=list)
    submit: list[int] = field(default_factory=list)
    fold: list[int] = field(default_factory=list)
    ack: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Replay:
    trace: Trace
    server: Sequencer
    typist: SyncClient
    reader: SyncClient
    placements: dict[Placement, int]
    batched: int  # transactions typed while an edit was in flight
    settled: bool
    timings: Timings
    wall_ns: int


def replay(
    trace: Trace,
    *,
    max_lag: int = 6,
    seed: int | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    record: bool = True,
) -> Replay:
    """Play ``trace`` through typist, server and reader, timing every engine call unless
    ``record`` is false (when measuring memory, the timings would be most of it)."""
    start = trace.start
    server = Sequencer(start)
    typist = SyncClient("typist", text=start)
    reader = SyncClient("reader", text=start)
    for client in (typist, reader):
        client.connect()
        client.receive(Synced(server.rev))
        assert client.state is ClientState.READY
    rng = random.Random(trace.name if seed is None else seed)
    up: LaggyLink[Edit] = LaggyLink(rng, max_lag)  # typist -> server
    down: LaggyLink[Revision] = LaggyLink(rng, max_lag)  # server -> both clients at once
    placements = dict.fromkeys(Placement, 0)
    timings = Timings()
    clock = perf_counter_ns
    # Not recording, every timing goes to a deque that keeps nothing: one code path for both.
    nothing: deque[int] = deque(maxlen=0)
    drop = nothing.append
    type_ns, flush_ns, submit_ns, fold_ns, ack_ns = (
        (t.append for t in (timings.type, timings.flush, timings.submit, timings.fold, timings.ack))
        if record
        else (drop,) * 5
    )

    def send(now: int, messages: list[ClientMessage]) -> None:
        for message in messages:
            assert isinstance(message, Edit), message
            up.send(now, message)

    def pump(now: int) -> None:
        for edit in up.receive(now):
            t0 = clock()
            outcome = server.submit(edit, "typist")
            submit_ns(clock() - t0)
            placements[outcome.placement] += 1
            down.send(now, outcome.revision)
        for revision in down.receive(now):
            t0 = clock()
            reader.receive(revision)
            t1 = clock()
            replies = typist.receive(revision)
            fold_ns(t1 - t0)
            ack_ns(clock() - t1)
            send(now, replies)

    began = clock()
    batched = 0
    total = len(trace.txns)
    now = 0
    for now, txn in enumerate(trace.txns):
        for position, deleted, inserted in txn:
            t0 = clock()
            typist.replace(position, deleted, inserted)
            type_ns(clock() - t0)
        if typist.unconfirmed_count == 2:  # typing on while an edit is in flight
            batched += 1
        t0 = clock()
        messages = typist.flush()
        if messages:
            flush_ns(clock() - t0)
        send(now, messages)
        pump(now)
        if progress is not None and now % 5000 == 0:
            progress(now, total)
    # Let the last acknowledgements arrive (a round trip takes at most 2 * max_lag).
    settled = False
    for later in range(now + 1, now + 10 * (max_lag + 1)):
        if not (up or down or typist.has_unconfirmed):
            settled = True
            break
        pump(later)
    return Replay(
        trace, server, typist, reader, placements, batched, settled, timings, clock() - began
    )
