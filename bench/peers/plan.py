"""What the orchestrator and the client processes agree on: the clock, markers, schedules and
traces. Standard library only: both environments import it.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

# Latency is measured across processes: an edit is stamped in one client process, its arrival
# in another. CLOCK_MONOTONIC is one clock for the whole machine on Linux (time.monotonic is
# the same clock, but Python documents it only as "per process"), so stamps compare directly.
CLOCK = time.CLOCK_MONOTONIC

MARKER = re.compile(r"<(\d+):(\d+)>")


def now() -> float:
    return time.clock_gettime(CLOCK)


def marker(editor: int, number: int) -> str:
    """Edit ``number`` of editor ``editor``: unique, ASCII, starting with '<' and with no
    other '<' inside, so that inserting only where a marker starts keeps every marker whole."""
    return f"<{editor}:{number}>"


def schedule(seed: int, editor: int, rate: float, seconds: float) -> list[float]:
    """Offsets (seconds from the start) of one editor's edits: a Poisson process."""
    if rate <= 0:
        return []
    rng = random.Random(f"{seed}:{editor}")
    offsets, t = [], rng.expovariate(rate)
    while t < seconds:
        offsets.append(t)
        t += rng.expovariate(rate)
    return offsets


def position_fractions(seed: int, editor: int, count: int) -> list[float]:
    """Where one editor's ``count`` edits go, as fractions of the text (see ``boundary``)."""
    rng = random.Random(f"{seed}:{editor}:positions")
    return [rng.random() for _ in range(count)]


def boundary(text: str, fraction: float) -> int:
    """A position where a marker starts (or the end), near ``fraction`` of the text."""
    found = text.find("<", int(fraction * len(text)))
    return len(text) if found < 0 else found


@dataclass(frozen=True, slots=True)
class Trace:
    name: str
    end: str  # the text after the keystrokes used
    keystrokes: list[tuple[int, int, str]]  # position, characters deleted, text inserted


def load_trace(path: Path, limit: int | None = None) -> Trace:
    """A sequential trace (docs: ../shared/traces/README.md); with ``limit``, its first
    ``limit`` keystrokes and the text they make."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    keystrokes = [(int(p), int(d), str(s)) for txn in data["txns"] for p, d, s in txn["patches"]]
    if data["startContent"]:
        raise ValueError(f"{path} does not start empty; the benchmark replays from ''")
    end = data["endContent"]
    if limit is not None and limit < len(keystrokes):
        keystrokes = keystrokes[:limit]
        end = replay_text(keystrokes)
    return Trace(path.name.removesuffix(".json.gz"), end, keystrokes)


def replay_text(keystrokes: list[tuple[int, int, str]]) -> str:
    text = ""
    for position, deleted, inserted in keystrokes:
        text = text[:position] + inserted + text[position + deleted :]
    return text
