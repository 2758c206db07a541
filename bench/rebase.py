"""What an edit based B revisions back costs the server to sequence, for several B and
history lengths. No network, no storage, one process.

    python -m bench.rebase [--edits N] [--rounds R]

A `Sequencer` keeping H revisions (its history full) takes one-character inserts, each based
B revisions behind the head, as a busy document's edits are: rebased by transformation over
the B revisions since their base (``Sequencer._rebase_exactly``). Printed: microseconds per
edit (CPU time of this thread, so that other work on a shared machine counts less), the best
of R rounds, and what each revision rebased over adds. The cost should grow
with B and not with H. An older engine is measured by putting its copy first on the path:
``PYTHONPATH=/path/to/old:. python -m bench.rebase``.
"""

from __future__ import annotations

import argparse
import time

from sync.protocol import Edit, OpId
from sync.server import Sequencer

BEHIND = (0, 1, 4, 16, 64)
HISTORIES = (100, 1000)
INSERT = "@@ -0,0 +1 @@\n+x\n"


def per_edit(behind: int, history: int, edits: int) -> float:
    """Microseconds to sequence one edit based ``behind`` revisions back."""
    sequencer = Sequencer("", 0, history_limit=history)
    seq = 0
    for _ in range(history + behind):  # fill the history
        seq += 1
        sequencer.submit(Edit(sequencer.rev, OpId("filler", seq), INSERT), "filler")
    spent = 0
    for _ in range(edits):
        seq += 1
        edit = Edit(sequencer.rev - behind, OpId("writer", seq), INSERT)
        started = time.thread_time_ns()
        sequencer.submit(edit, "writer")
        spent += time.thread_time_ns() - started
    return spent / edits / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    print(f"CPU µs per edit (best of {arguments.rounds} rounds of {arguments.edits} edits)")
    print("history  " + "  ".join(f"B={b:<5}" for b in BEHIND) + "  per revision behind")
    for history in HISTORIES:
        best = [
            min(per_edit(b, history, arguments.edits) for _ in range(arguments.rounds))
            for b in BEHIND
        ]
        slope = (best[-1] - best[1]) / (BEHIND[-1] - BEHIND[1])
        cells = "  ".join(f"{v:<7.1f}" for v in best)
        print(f"{history:<7}  {cells}  {slope:.1f}")


if __name__ == "__main__":
    main()
