"""Vectors shared with the JavaScript twin: revision logs (patches and authors) and the runs
both must give (``frontend/test/authorship.test.js`` replays them).

Regenerate after a deliberate change with ``COLLAB_REGENERATE=1``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from sync import ops, patches
from sync.authorship import attribute

VECTORS = Path(__file__).resolve().parents[1] / "conformance" / "vectors" / "authorship.json"
PIECES = ["a", "b", " ", "\n", "é", "e\u0301", "字", "😀", "𝄞", "👍🏽", "\r\n", "שלום"]
AUTHORS = ["ann", "bob", "Cy (guest)", "dée"]


def generate() -> list[dict[str, Any]]:
    rng = random.Random(13)
    cases = []
    for _ in range(60):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        initial = len(text)
        log = []
        for _ in range(rng.randint(1, 10)):
            position = rng.randint(0, len(text))
            deleted = rng.randint(0, min(4, len(text) - position))
            inserted = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))
            op = ops.replace(len(text), position, text[position : position + deleted], inserted)
            if ops.is_noop(op):
                continue
            log.append({"patch": patches.patch_text(text, op), "author": rng.choice(AUTHORS)})
            text = ops.apply(text, op)
        attribution = attribute(initial, [(r["patch"], r["author"]) for r in log])
        start = rng.randint(0, len(text))
        end = rng.randint(start, len(text) + 2)
        cases.append(
            {
                "initial_length": initial,
                "log": log,
                "runs": [list(r) for r in attribution.runs()],
                "range": [start, end],
                "range_runs": [list(r) for r in attribution.runs(start, end)],
            }
        )
    return cases


def test_vectors_are_current_and_pass() -> None:
    cases = generate()
    if os.environ.get("COLLAB_REGENERATE") == "1":
        VECTORS.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", "utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == cases, (
        "tests/conformance/vectors/authorship.json is stale: COLLAB_REGENERATE=1 to rewrite it"
    )
