"""Typing intent: which way an edit's inserted text is attached, so runs never interleave.

When two people type at one spot at once, every insert of one meets inserts of the other at
the same position, and the transformation needs a tie-break there. Ordering by sequencing
alone (the earlier revision's text first) splits runs: Ann's next letter, made right after
her previous one, loses to Bob's letter that the server placed there a moment before, and two
words come out mixed letter by letter.

So every edit says how its insert relates to its author's own previous insert:

* ``FORWARD``: it continues that insert to its right (typing forwards);
* ``BACKWARD``: it continues it to its left (typing backwards, each letter before the last);
* ``NONE``: neither (a first letter, a paste, a change in several places);
* ``LEGACY``: the edit came without an intent, from a client older than intents. Never on
  the wire; a revision made from such an edit carries ``NONE``.

At a tie, :func:`later_goes_first` decides from the two intents alone: a forward insert stays
against the text on its left, a backward insert against the text on its right, and otherwise
the revision sequenced first goes first, as before. The sequencer and both client twins call
it with the same pair wherever the same two edits meet, so they decide alike
(docs/protocol.md, "Typing at the same spot", has the argument).

:func:`typed` is how a client finds a local change's intent, from the range of its own
previous insert (its *run*), which :func:`map_run` carries through every later change.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeAlias

from sync.errors import ProtocolViolation
from sync.ops import Delete, Insert, Op, Retain, transform_position


class Intent(Enum):
    NONE = "none"
    FORWARD = "forward"
    BACKWARD = "backward"
    LEGACY = "legacy"


# Lower goes first at a tie: forward text hugs its left side, backward text its right side.
_RANK = {Intent.FORWARD: 0, Intent.NONE: 1, Intent.LEGACY: 1, Intent.BACKWARD: 2}
WIRE_VALUES = ("forward", "backward", "none")

# Where a client's own latest insert is in its local text: [start, end), or None.
Run: TypeAlias = tuple[int, int] | None


def later_goes_first(earlier: Intent, later: Intent) -> bool:
    """At a position where both insert, does the later-sequenced edit's text go first?

    ``earlier`` is the intent of the edit the server sequenced first (a revision), ``later``
    that of the one sequenced after it (an edit being rebased, or a client's pending change).
    An edit without intent (``LEGACY``) always goes second, which is what its client, which
    knows nothing of intents, assumes.
    """
    if later is Intent.LEGACY:
        return False
    return _RANK[later] < _RANK[earlier]


def parse(value: object, *, default: Intent) -> Intent:
    """The intent a message's ``intent`` field names (``default`` when it is absent)."""
    if value is None:
        return default
    if isinstance(value, str) and value in WIRE_VALUES:
        return Intent(value)
    raise ProtocolViolation("'intent' must be 'forward', 'backward' or 'none'")


def map_run(run: Run, op: Op) -> Run:
    """``run`` (a range of the text ``op`` applies to) in ``op``'s result: text inserted at its
    start goes before it, text inserted at its end after it."""
    if run is None:
        return None
    start, end = run
    if start == end:
        point = transform_position(start, op, stick_left=True)
        return point, point
    new_start = transform_position(start, op)
    new_end = transform_position(end, op, stick_left=True)
    return new_start, max(new_start, new_end)


def typed(run: Run, op: Op) -> tuple[Intent | None, Run]:
    """The intent of a local change ``op`` made after the client's previous insert ``run``,
    and the client's run after it. None instead of an intent when ``op`` inserts nothing."""
    moved = map_run(run, op)
    inserts: list[tuple[int, int]] = []  # (position in the result, length)
    position = 0
    for component in op:
        if isinstance(component, Retain):
            position += component.count
        elif isinstance(component, Insert):
            inserts.append((position, len(component.text)))
            position += len(component.text)
        else:
            assert isinstance(component, Delete)
    if not inserts:
        return None, moved
    at, length = inserts[-1]
    intent = Intent.NONE
    if len(inserts) == 1 and moved is not None:
        if at == moved[1]:
            intent = Intent.FORWARD
        elif at + length == moved[0]:
            intent = Intent.BACKWARD
    return intent, (at, at + length)
