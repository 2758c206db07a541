import assert from "node:assert/strict";
import { test } from "node:test";

import { PatchRejected } from "../src/sync/errors.js";
import * as ops from "../src/sync/ops.js";
import { random, randomOp, randomText } from "../test-support/helpers.js";

test("components are plain JSON objects in canonical form", () => {
  const op = new ops.OpBuilder()
    .retain(1)
    .retain(2)
    .insert("x")
    .delete("a")
    .insert("")
    .delete("😀")
    .retain(0)
    .build();
  assert.deepEqual(op, [{ retain: 3 }, { delete: "a😀" }, { insert: "x" }]);
  assert.equal(JSON.stringify(op), '[{"retain":3},{"delete":"a😀"},{"insert":"x"}]');
});

test("counts are code points, not UTF-16 units", () => {
  const op = ops.replace(3, 1, "😀", "𝄞𝄞");
  assert.deepEqual(op, [{ retain: 1 }, { delete: "😀" }, { insert: "𝄞𝄞" }, { retain: 1 }]);
  assert.equal(ops.baseLength(op), 3);
  assert.equal(ops.targetLength(op), 4);
  assert.equal(ops.apply("a😀b", op), "a𝄞𝄞b");
  assert.throws(() => ops.apply("a😀b", [{ retain: 4 }]), PatchRejected);
});

test("apply refuses an operation that deletes other text than it names", () => {
  assert.throws(() => ops.apply("abc", [{ retain: 1 }, { delete: "x" }, { retain: 1 }]), {
    name: "PatchRejected",
    message: "the text at 1..2 is not the text the edit deletes",
  });
});

test("replace refuses a range outside the text", () => {
  assert.throws(() => ops.replace(2, 1, "ab", ""), /range 1\.\.3 outside a text of length 2/);
  assert.throws(() => ops.replace(2, -1, "", ""), RangeError);
});

test("inputs are never mutated", () => {
  const a = Object.freeze([Object.freeze({ retain: 1 }), Object.freeze({ insert: "x" })]);
  const b = Object.freeze([Object.freeze({ retain: 2 }), Object.freeze({ insert: "y" })]);
  ops.compose(a, b);
  ops.transform(a, [{ retain: 1 }, { insert: "z" }]);
  ops.normalize([...a, { insert: "q" }]);
  assert.deepEqual(a, [{ retain: 1 }, { insert: "x" }]);
});

test("equal inserts tie-break by who was sequenced first", () => {
  const mine = [{ insert: "m" }, { retain: 1 }];
  const theirs = [{ insert: "t" }, { retain: 1 }];
  assert.deepEqual(ops.transform(mine, theirs), [{ retain: 1 }, { insert: "m" }, { retain: 1 }]);
  assert.deepEqual(ops.transform(mine, theirs, { otherFirst: false }), [
    { insert: "m" },
    { retain: 2 },
  ]);
});

test("text the other side inserted inside a deleted range survives", () => {
  const deleteAll = [{ delete: "abcd" }];
  const insertInside = [{ retain: 2 }, { insert: "X" }, { retain: 2 }];
  assert.equal(ops.apply("abXcd", ops.transform(deleteAll, insertInside)), "X");
});

test("transformPosition moves cursors the way the text moves", () => {
  const op = [{ retain: 2 }, { delete: "ab" }, { insert: "xyz" }, { retain: 2 }];
  assert.equal(ops.transformPosition(1, op), 1);
  assert.equal(ops.transformPosition(3, op), 5); // inside the replaced range: after the insert
  assert.equal(ops.transformPosition(2, op, { stickLeft: true }), 2);
  assert.equal(ops.transformPosition(6, op), 7);
});

test("algebra laws hold on random operations over mixed-script text", () => {
  const rng = random(7);
  for (let i = 0; i < 500; i++) {
    const base = randomText(rng, rng.int(0, 10));
    const a = randomOp(rng, base, 3);
    const b = randomOp(rng, base, 3);
    const afterA = ops.apply(base, a);
    const c = randomOp(rng, afterA, 3);
    const context = JSON.stringify({ base, a, b, c });
    // compose is "one then the other"; invert undoes.
    assert.equal(ops.apply(base, ops.compose(a, c)), ops.apply(afterA, c), context);
    assert.equal(ops.apply(afterA, ops.invert(a)), base, context);
    // Convergence (TP1): a server that sequenced `b` first applies `transform(a, b)`; the
    // author of `a` applies `transform(b, a, otherFirst: false)`; both reach one text.
    const serverSide = ops.apply(ops.apply(base, b), ops.transform(a, b));
    const clientSide = ops.apply(afterA, ops.transform(b, a, { otherFirst: false }));
    assert.equal(serverSide, clientSide, context);
    // The diff form is another spelling of the same operation.
    assert.deepEqual(ops.fromDiffs(ops.toDiffs(base, a)), a, context);
    assert.ok(ops.equals(ops.normalize(a), a), context);
  }
});

test("compose and transform name the mismatch", () => {
  assert.throws(() => ops.compose([{ retain: 1 }], [{ retain: 2 }]), RangeError);
  assert.throws(() => ops.compose([{ insert: "a" }], [{ delete: "b" }]), PatchRejected);
  assert.throws(() => ops.transform([{ retain: 1 }], [{ retain: 2 }]), {
    name: "PatchRejected",
    message: "the two edits were not made on texts of the same length",
  });
  const foreign = /** @type {any} */ ([{ keep: 1 }]); // as JSON from a confused peer
  assert.throws(() => ops.normalize(foreign), /not an operation component/);
});
