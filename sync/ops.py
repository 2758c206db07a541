"""Operations: the exact, position-based form of a change, and the algebra the engine needs.

An operation walks its base text from start to end with three kinds of component:
``Retain(n)`` keeps ``n`` code points, ``Delete(text)`` removes ``text`` (recorded, so that an
operation can be checked against the text it claims to change and inverted for history), and
``Insert(text)`` adds ``text``. Every operation spans its whole base text exactly.

Patches on the wire are diff-match-patch text; operations are what patches are turned into so
that concurrent edits can be rebased exactly (:func:`transform`) rather than by fuzzy matching.

Canonical form, relied on by both twins (Python here, JavaScript in ``frontend/``): adjacent
components of one kind are merged, nothing is empty, and where deletes and inserts meet with no
retain between them the delete comes first (the order diff-match-patch itself emits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from sync.errors import PatchRejected


@dataclass(frozen=True, slots=True)
class Retain:
    count: int


@dataclass(frozen=True, slots=True)
class Insert:
    text: str


@dataclass(frozen=True, slots=True)
class Delete:
    text: str


Component: TypeAlias = Retain | Insert | Delete
Op: TypeAlias = tuple[Component, ...]

# diff-match-patch's diff tuples: (-1, deleted), (0, equal), (1, inserted).
Diff: TypeAlias = tuple[int, str]
DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT = -1, 0, 1


class OpBuilder:
    """Accumulates components in canonical form."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[Component] = []

    def retain(self, count: int) -> OpBuilder:
        if count > 0:
            parts = self._parts
            if parts and isinstance(parts[-1], Retain):
                parts[-1] = Retain(parts[-1].count + count)
            else:
                parts.append(Retain(count))
        return self

    def insert(self, text: str) -> OpBuilder:
        if text:
            parts = self._parts
            if parts and isinstance(parts[-1], Insert):
                parts[-1] = Insert(parts[-1].text + text)
            else:
                parts.append(Insert(text))
        return self

    def delete(self, text: str) -> OpBuilder:
        if not text:
            return self
        parts = self._parts
        # Keep "delete before insert" where the two meet.
        if parts and isinstance(parts[-1], Insert):
            pending = parts.pop()
            self.delete(text)
            parts.append(pending)
        elif parts and isinstance(parts[-1], Delete):
            parts[-1] = Delete(parts[-1].text + text)
        else:
            parts.append(Delete(text))
        return self

    def add(self, component: Component) -> OpBuilder:
        if isinstance(component, Retain):
            return self.retain(component.count)
        if isinstance(component, Insert):
            return self.insert(component.text)
        return self.delete(component.text)

    def build(self) -> Op:
        return tuple(self._parts)


def normalize(components: Iterable[Component]) -> Op:
    builder = OpBuilder()
    for component in components:
        builder.add(component)
    return builder.build()


def length_of(component: Component) -> int:
    """How much base text a component consumes (inserts consume none)."""
    if isinstance(component, Retain):
        return component.count
    if isinstance(component, Delete):
        return len(component.text)
    return 0


def base_length(op: Op) -> int:
    return sum(length_of(c) for c in op)


def target_length(op: Op) -> int:
    total = 0
    for c in op:
        if isinstance(c, Retain):
            total += c.count
        elif isinstance(c, Insert):
            total += len(c.text)
    return total


def is_noop(op: Op) -> bool:
    return all(isinstance(c, Retain) for c in op)


def identity(length: int) -> Op:
    return (Retain(length),) if length else ()


def replace(length: int, position: int, delete: str, insert: str) -> Op:
    """The operation that replaces ``delete`` at ``position`` with ``insert``."""
    end = position + len(delete)
    if not 0 <= position <= end <= length:
        raise ValueError(f"range {position}..{end} outside a text of length {length}")
    return OpBuilder().retain(position).delete(delete).insert(insert).retain(length - end).build()


def apply(text: str, op: Op) -> str:
    """Apply ``op`` to ``text``, checking that it spans the text and deletes what it says."""
    pieces: list[str] = []
    index = 0
    for c in op:
        if isinstance(c, Retain):
            pieces.append(text[index : index + c.count])
            index += c.count
        elif isinstance(c, Insert):
            pieces.append(c.text)
        else:
            end = index + len(c.text)
            if text[index:end] != c.text:
                raise PatchRejected(f"the text at {index}..{end} is not the text the edit deletes")
            index = end
    if index != len(text):
        raise PatchRejected(f"the edit spans {index} characters but the text has {len(text)}")
    return "".join(pieces)


def invert(op: Op) -> Op:
    """The operation that undoes ``op`` (it applies to ``op``'s result)."""
    builder = OpBuilder()
    for c in op:
        if isinstance(c, Retain):
            builder.retain(c.count)
        elif isinstance(c, Insert):
            builder.delete(c.text)
        else:
            builder.insert(c.text)
    return builder.build()


class _Cursor:
    """Walks an operation, handing out pieces of its components."""

    __slots__ = ("_index", "_offset", "_op")

    def __init__(self, op: Op) -> None:
        self._op = op
        self._index = 0
        self._offset = 0

    def peek(self) -> Component | None:
        if self._index >= len(self._op):
            return None
        return self._op[self._index]

    def remaining(self) -> int:
        """Length left in the current component (for inserts: characters left)."""
        c = self._op[self._index]
        if isinstance(c, Retain):
            return c.count - self._offset
        return len(c.text) - self._offset

    def take(self, count: int) -> Component:
        """Consume ``count`` units of the current component and return them."""
        c = self._op[self._index]
        start = self._offset
        self._offset += count
        if self._offset == (c.count if isinstance(c, Retain) else len(c.text)):
            self._index += 1
            self._offset = 0
        if isinstance(c, Retain):
            return Retain(count)
        piece = c.text[start : start + count]
        return Insert(piece) if isinstance(c, Insert) else Delete(piece)

    def take_all(self) -> Component:
        return self.take(self.remaining())


def compose(first: Op, second: Op) -> Op:
    """One operation with the effect of ``first`` then ``second``."""
    a, b = _Cursor(first), _Cursor(second)
    out = OpBuilder()
    while True:
        ca, cb = a.peek(), b.peek()
        if isinstance(ca, Delete):
            out.add(a.take_all())
            continue
        if isinstance(cb, Insert):
            out.add(b.take_all())
            continue
        if ca is None and cb is None:
            return out.build()
        if ca is None or cb is None:
            raise ValueError(
                "cannot compose: the second operation does not span the first's result"
            )
        n = min(a.remaining(), b.remaining())
        pa, pb = a.take(n), b.take(n)
        if isinstance(pa, Retain):
            out.add(pb)  # retain-retain keeps, retain-delete deletes
        elif isinstance(pb, Retain):
            out.add(pa)  # inserted, then kept
        elif pa.text != pb.text:
            raise PatchRejected("the second operation deletes text the first did not insert")
        # else: inserted, then deleted; nothing remains


def transform(op: Op, other: Op, *, other_first: bool = True) -> Op:
    """Rewrite ``op`` so that it applies after ``other``; both were made on the same text.

    Where both insert at one position, the edit the server sequenced first goes first:
    ``other`` by default (the server rebasing an edit over earlier revisions), ``op`` with
    ``other_first=False`` (a client moving an earlier remote revision over its own pending
    edits). Text that both delete is deleted once. Text that ``other`` inserted inside a range
    ``op`` deletes survives: nobody who saw it deleted it.
    """
    # The two walks are kept in local variables (component index, offset into it) rather
    # than in _Cursor objects, and consecutive retains are summed before one Retain is
    # made: the server runs this once per revision an edit is rebased over, and the method
    # calls and component objects were most of its cost.
    out = OpBuilder()
    kept = 0  # retained and not yet added to ``out``
    i = j = 0  # the components of ``op`` and ``other`` being walked
    oa = ob = 0  # how far into each
    len_a, len_b = len(op), len(other)
    while True:
        ca = op[i] if i < len_a else None
        cb = other[j] if j < len_b else None
        if isinstance(ca, Insert) and not (other_first and isinstance(cb, Insert)):
            out.retain(kept).insert(ca.text[oa:])
            kept = 0
            i, oa = i + 1, 0
            continue
        if isinstance(cb, Insert):
            kept += len(cb.text) - ob
            j, ob = j + 1, 0
            continue
        if ca is None and cb is None:
            return out.retain(kept).build()
        if ca is None or cb is None:
            raise PatchRejected("the two edits were not made on texts of the same length")
        size_a = ca.count if isinstance(ca, Retain) else len(ca.text)
        size_b = cb.count if isinstance(cb, Retain) else len(cb.text)
        n = min(size_a - oa, size_b - ob)
        if isinstance(cb, Retain):
            if isinstance(ca, Retain):
                kept += n
            else:
                out.retain(kept).delete(ca.text[oa : oa + n])
                kept = 0
        elif isinstance(ca, Delete) and ca.text[oa : oa + n] != cb.text[ob : ob + n]:
            raise PatchRejected(
                "the edit deletes text that differs from the text at its base revision"
            )
        # Otherwise cb deleted it too (the same text), or ca kept it: it is already gone.
        oa += n
        if oa == size_a:
            i, oa = i + 1, 0
        ob += n
        if ob == size_b:
            j, ob = j + 1, 0


def transform_position(position: int, op: Op, *, stick_left: bool = False) -> int:
    """Where ``position`` in ``op``'s base text ends up in its result (for cursors).

    A position inside a deleted range collapses to where the range was. Text inserted exactly
    at the position pushes it right, unless ``stick_left``.
    """
    old = new = 0
    for c in op:
        if isinstance(c, Insert):
            if old < position or (old == position and not stick_left):
                new += len(c.text)
            continue
        if old > position or (old == position and isinstance(c, Retain)):
            break
        span = length_of(c)
        if isinstance(c, Retain):
            step = min(span, position - old)
            new += step
            old += step
            if step < span:
                break
        else:
            # Deleted text occupies no room in the result; a position inside it is
            # equivalent to the end of the deletion.
            position = max(position, old + span)
            old += span
    return new


def from_diffs(diffs: Sequence[Diff]) -> Op:
    builder = OpBuilder()
    for kind, text in diffs:
        if kind == DIFF_EQUAL:
            builder.retain(len(text))
        elif kind == DIFF_INSERT:
            builder.insert(text)
        elif kind == DIFF_DELETE:
            builder.delete(text)
        else:
            raise ValueError(f"unknown diff kind {kind!r}")
    return builder.build()


def to_diffs(base: str, op: Op) -> list[Diff]:
    diffs: list[Diff] = []
    index = 0
    for c in op:
        if isinstance(c, Retain):
            diffs.append((DIFF_EQUAL, base[index : index + c.count]))
            index += c.count
        elif isinstance(c, Insert):
            diffs.append((DIFF_INSERT, c.text))
        else:
            diffs.append((DIFF_DELETE, c.text))
            index += len(c.text)
    return diffs


def to_json(op: Op) -> list[dict[str, int | str]]:
    """The JSON form used by the conformance vectors: ``{"retain": n}``, ``{"insert": s}``,
    ``{"delete": s}``."""
    out: list[dict[str, int | str]] = []
    for c in op:
        if isinstance(c, Retain):
            out.append({"retain": c.count})
        elif isinstance(c, Insert):
            out.append({"insert": c.text})
        else:
            out.append({"delete": c.text})
    return out


def from_json(data: Sequence[dict[str, int | str]]) -> Op:
    builder = OpBuilder()
    for item in data:
        if "retain" in item:
            builder.retain(int(item["retain"]))
        elif "insert" in item:
            builder.insert(str(item["insert"]))
        elif "delete" in item:
            builder.delete(str(item["delete"]))
        else:
            raise ValueError(f"not an operation component: {item!r}")
    return builder.build()
