import assert from "node:assert/strict";
import { test } from "node:test";

import { changeLabel, changeSize, diffSegments, sideText } from "../src/lib/diffview.js";

/** @typedef {import("../src/lib/diffview.js").DiffChunk} DiffChunk */

/** @type {DiffChunk[]} */
const DIFF = [
  { op: "equal", text: "h" },
  { op: "delete", text: "ello" },
  { op: "insert", text: "i" },
  { op: "equal", text: " brave 😀 world\n" },
];

test("segments keep the server's order and mark whitespace-only changes", () => {
  assert.deepEqual(diffSegments(DIFF), [
    { op: "equal", text: "h", blank: false },
    { op: "delete", text: "ello", blank: false },
    { op: "insert", text: "i", blank: false },
    { op: "equal", text: " brave 😀 world\n", blank: false },
  ]);
  assert.deepEqual(diffSegments([{ op: "insert", text: "\n\n" }]), [{ op: "insert", text: "\n\n", blank: true }]);
  assert.deepEqual(diffSegments([{ op: "delete", text: "\u00a0 " }]), [{ op: "delete", text: "\u00a0 ", blank: true }]);
});

test("empty chunks are dropped and neighbours of one kind merged", () => {
  const segments = diffSegments([
    { op: "equal", text: "a" },
    { op: "insert", text: "" },
    { op: "equal", text: "b" },
    { op: "insert", text: " " },
    { op: "insert", text: "c" },
  ]);
  assert.deepEqual(segments, [
    { op: "equal", text: "ab", blank: false },
    { op: "insert", text: " c", blank: false },
  ]);
  assert.deepEqual(diffSegments([]), []);
});

test("the two sides rebuild the old and the new text", () => {
  const segments = diffSegments(DIFF);
  assert.equal(sideText(segments, "old"), "hello brave 😀 world\n");
  assert.equal(sideText(segments, "new"), "hi brave 😀 world\n");
  assert.equal(sideText(DIFF, "new"), "hi brave 😀 world\n", "raw chunks work too");
});

test("anything but a list of {op, text} is refused, naming the chunk", () => {
  assert.throws(() => diffSegments(null), /not a list of chunks/);
  assert.throws(() => diffSegments({ diffs: [] }), /not a list of chunks/);
  assert.throws(() => diffSegments([{ op: "equal", text: "a" }, { op: "replace", text: "b" }]), /diff chunk 1 is not/);
  assert.throws(() => diffSegments([{ op: "insert", text: 5 }]), /diff chunk 0 is not/);
  assert.throws(() => diffSegments([null]), /diff chunk 0 is not/);
});

test("changeSize counts code points, as the API does", () => {
  assert.deepEqual(changeSize(diffSegments(DIFF)), { inserted: 1, deleted: 4 });
  assert.deepEqual(
    changeSize([
      { op: "insert", text: "😀😀" },
      { op: "equal", text: "xyz" },
    ]),
    { inserted: 2, deleted: 0 },
  );
});

test("changeLabel", () => {
  assert.equal(changeLabel({ inserted: 12, deleted: 3 }), "+12 \u22123");
  assert.equal(changeLabel({ inserted: 5, deleted: 0 }), "+5");
  assert.equal(changeLabel({ inserted: 0, deleted: 2 }), "\u22122");
  assert.equal(changeLabel({ inserted: 0, deleted: 0 }), "no change");
});
