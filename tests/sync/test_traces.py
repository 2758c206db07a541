"""Replay real editing traces (josephg/editing-traces, by Joseph Gentle and JSON Joy, CC BY 4.0)
through the whole engine.

Each trace is one person's keystrokes. A typing client applies them transaction by
transaction and flushes after each; the server sequences what it sends; a second client only
receives. Every message arrives 0 to 6 transactions after it was sent (in order), so the typist
usually types on with an edit in flight and acknowledgements arrive in bunches. Everyone must
end at exactly the trace's ``endContent``. The harness is ``bench/replay.py``, which the
benchmark times.

The traces live outside the repository (``../shared/traces`` from the project root); the test
skips, saying so, where they are absent.
"""

from __future__ import annotations

import pytest

from bench.replay import TRACE_DIR as TRACES
from bench.replay import TRACE_NAMES, load_trace, replay
from sync.server import Placement

# The two longest traces (260k and 137k keystrokes, 40 s together) run in `make test-long`:
# CI replays the others, which take the same paths through the engine.
LONG_TRACES = frozenset({"automerge-paper", "seph-blog1"})


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in LONG_TRACES else n for n in TRACE_NAMES],
)
def test_trace_replays_exactly(name: str) -> None:
    path = TRACES / f"{name}.json.gz"
    if not path.exists():
        pytest.skip(
            f"editing trace {path} not found: the traces live in ../shared/traces "
            "(or set COLLAB_TRACES_DIR)"
        )
    trace = load_trace(path)
    run = replay(trace, max_lag=6)

    assert run.settled, "the last acknowledgements never arrived"
    assert run.server.text == trace.end
    assert run.typist.text == run.typist.shadow == trace.end
    assert run.reader.text == run.reader.shadow == trace.end
    assert run.reader.rev == run.typist.rev == run.server.rev
    assert not run.typist.has_unconfirmed
    assert not run.typist.rejected
    # One author and ordered delivery: every edit fits the head exactly, once.
    assert run.placements[Placement.FUZZY] == 0
    assert run.placements[Placement.DUPLICATE] == 0
    # The lag really did make the typist keep typing with an edit in flight, so revisions
    # carry several keystrokes.
    assert run.batched > len(trace.txns) // 4
    assert run.server.rev < trace.patches // 2
