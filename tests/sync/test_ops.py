from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import ops
from sync.errors import PatchRejected
from sync.ops import Delete, Insert, Retain

ALPHABET = "ab\n😀é字"
texts = st.text(alphabet=ALPHABET, max_size=30)


@st.composite
def text_and_op(draw: st.DrawFn, text: str | None = None) -> tuple[str, ops.Op]:
    base = draw(texts) if text is None else text
    builder = ops.OpBuilder()
    index = 0
    while index < len(base):
        step = draw(st.integers(1, len(base) - index))
        kind = draw(st.sampled_from(["retain", "delete", "insert"]))
        if kind == "insert":
            builder.insert(draw(st.text(alphabet=ALPHABET, min_size=1, max_size=4)))
            continue
        if kind == "retain":
            builder.retain(step)
        else:
            builder.delete(base[index : index + step])
        index += step
    if draw(st.booleans()):
        builder.insert(draw(st.text(alphabet=ALPHABET, min_size=1, max_size=4)))
    return base, builder.build()


@st.composite
def two_concurrent(draw: st.DrawFn) -> tuple[str, ops.Op, ops.Op]:
    base, a = draw(text_and_op())
    _, b = draw(text_and_op(base))
    return base, a, b


def test_builder_merges_and_orders_delete_before_insert() -> None:
    op = ops.OpBuilder().retain(1).retain(2).insert("x").delete("a").delete("b").build()
    assert op == (Retain(3), Delete("ab"), Insert("x"))


def test_builder_drops_empty_components() -> None:
    assert ops.OpBuilder().retain(0).insert("").delete("").build() == ()


def test_apply_checks_deleted_text_and_span() -> None:
    assert ops.apply("abc", (Retain(1), Delete("b"), Insert("X"), Retain(1))) == "aXc"
    with pytest.raises(PatchRejected, match="not the text the edit deletes"):
        ops.apply("abc", (Retain(1), Delete("z"), Retain(1)))
    with pytest.raises(PatchRejected, match="spans 2 characters but the text has 3"):
        ops.apply("abc", (Retain(2),))


def test_replace_builds_a_canonical_op() -> None:
    assert ops.replace(5, 1, "bc", "X") == (Retain(1), Delete("bc"), Insert("X"), Retain(2))
    with pytest.raises(ValueError, match="outside a text of length 5"):
        ops.replace(5, 4, "xyz", "")


def test_transform_insert_insert_same_spot_other_first() -> None:
    a = ops.replace(4, 2, "", "A")
    b = ops.replace(4, 2, "", "B")
    assert ops.apply(ops.apply("abcd", b), ops.transform(a, b)) == "abBAcd"
    assert ops.apply(ops.apply("abcd", b), ops.transform(a, b, other_first=False)) == "abABcd"


def test_transform_insert_inside_deleted_range_survives() -> None:
    delete = ops.replace(6, 1, "bcde", "")
    insert = ops.replace(6, 3, "", "X")
    after_delete = ops.apply(ops.apply("abcdef", insert), ops.transform(delete, insert))
    after_insert = ops.apply(ops.apply("abcdef", delete), ops.transform(insert, delete))
    assert after_delete == after_insert == "aXf"


def test_transform_overlapping_deletes_delete_once() -> None:
    a = ops.replace(6, 1, "bcd", "")
    b = ops.replace(6, 2, "cde", "")
    assert ops.apply(ops.apply("abcdef", b), ops.transform(a, b)) == "af"
    assert ops.apply(ops.apply("abcdef", a), ops.transform(b, a)) == "af"


def test_transform_edits_at_both_ends() -> None:
    head = ops.replace(3, 0, "", ">>")
    tail = ops.replace(3, 3, "", "<<")
    assert ops.apply(ops.apply("abc", head), ops.transform(tail, head)) == ">>abc<<"


def test_transform_refuses_deletes_of_different_text() -> None:
    with pytest.raises(PatchRejected, match="differs from the text at its base"):
        ops.transform((Delete("a"),), (Delete("b"),))


def test_transform_refuses_ops_on_different_lengths() -> None:
    with pytest.raises(PatchRejected, match="not made on texts of the same length"):
        ops.transform((Retain(2),), (Retain(3),))


@given(two_concurrent())
def test_transform_converges_both_ways(case: tuple[str, ops.Op, ops.Op]) -> None:
    base, a, b = case
    left = ops.apply(ops.apply(base, a), ops.transform(b, a, other_first=False))
    right = ops.apply(ops.apply(base, b), ops.transform(a, b))
    assert left == right


@given(two_concurrent())
def test_transform_keeps_every_insert(case: tuple[str, ops.Op, ops.Op]) -> None:
    _, a, b = case
    transformed = ops.transform(a, b)
    inserted = "".join(c.text for c in a if isinstance(c, Insert))
    assert "".join(c.text for c in transformed if isinstance(c, Insert)) == inserted


@given(text_and_op())
def test_invert_undoes(case: tuple[str, ops.Op]) -> None:
    base, op = case
    assert ops.apply(ops.apply(base, op), ops.invert(op)) == base


@given(text_and_op(), st.data())
def test_compose_equals_sequential_apply(case: tuple[str, ops.Op], data: st.DataObject) -> None:
    base, first = case
    middle = ops.apply(base, first)
    _, second = data.draw(text_and_op(middle))
    assert ops.apply(base, ops.compose(first, second)) == ops.apply(middle, second)


@given(text_and_op())
def test_lengths_and_json_round_trip(case: tuple[str, ops.Op]) -> None:
    base, op = case
    assert ops.base_length(op) == len(base)
    assert ops.target_length(op) == len(ops.apply(base, op))
    assert ops.from_json(ops.to_json(op)) == op


@given(text_and_op())
def test_diffs_round_trip(case: tuple[str, ops.Op]) -> None:
    base, op = case
    assert ops.from_diffs(ops.to_diffs(base, op)) == op


def test_transform_position() -> None:
    op = ops.replace(6, 2, "cd", "XYZ")  # ab|cd|ef -> abXYZef
    assert ops.transform_position(1, op) == 1
    assert ops.transform_position(2, op) == 5  # an insert at the cursor pushes it right
    assert ops.transform_position(2, op, stick_left=True) == 2
    assert ops.transform_position(3, op) == 5  # inside the deleted range: its end
    assert ops.transform_position(6, op) == 7


def test_compose_refuses_deleting_uninserted_text() -> None:
    with pytest.raises(PatchRejected):
        ops.compose((Insert("a"),), (Delete("b"),))


def test_from_json_rejects_unknown_components() -> None:
    with pytest.raises(ValueError, match="not an operation component"):
        ops.from_json([{"move": 3}])
