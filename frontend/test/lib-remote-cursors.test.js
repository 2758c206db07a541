import assert from "node:assert/strict";
import { test } from "node:test";

import { ChangeSet } from "@codemirror/state";

import { mapSelection, safeColor } from "../src/lib/remote-cursors.js";

const insert = (/** @type {number} */ at, /** @type {string} */ text, length = 10) =>
  ChangeSet.of([{ from: at, insert: text }], length);

test("a cursor moves past text typed right at it", () => {
  assert.deepEqual(mapSelection({ head: 4, anchor: 4 }, insert(4, "abc")), { head: 7, anchor: 7 });
  assert.deepEqual(mapSelection({ head: 4, anchor: 4 }, insert(5, "abc")), { head: 4, anchor: 4 });
});

test("a selection keeps its direction and does not take in text inserted at its edges", () => {
  assert.deepEqual(mapSelection({ anchor: 2, head: 5 }, insert(2, "xx")), { anchor: 4, head: 7 });
  assert.deepEqual(mapSelection({ anchor: 2, head: 5 }, insert(5, "xx")), { anchor: 2, head: 5 });
  assert.deepEqual(mapSelection({ anchor: 5, head: 2 }, insert(3, "xx")), { anchor: 7, head: 2 });
});

test("a selection whose text is replaced collapses rather than covering the new text", () => {
  const replace = ChangeSet.of([{ from: 2, to: 5, insert: "new" }], 10);
  assert.deepEqual(mapSelection({ anchor: 2, head: 5 }, replace), { anchor: 5, head: 5 });
});

test("only #rrggbb colors reach the page", () => {
  assert.equal(safeColor("#A1b2C3"), "#a1b2c3");
  assert.equal(safeColor("red; background: url(x)"), "#888888");
  assert.equal(safeColor("#fff"), "#888888");
});
