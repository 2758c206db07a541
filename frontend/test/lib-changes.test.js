import assert from "node:assert/strict";
import { test } from "node:test";

import { ChangeSet, Text } from "@codemirror/state";

import { caretAssoc, opToChanges, sanitizeInsert } from "../src/lib/changes.js";
import { changesBetween, ops } from "../src/sync/index.js";
import { random, randomOp, randomText } from "../test-support/helpers.js";

const asEditor = (/** @type {string} */ text, /** @type {any} */ op) =>
  ChangeSet.of(opToChanges(text, op), text.length, "\n")
    .apply(Text.of(text.split("\n")))
    .sliceString(0, undefined, "\n");

test("a delete and an insert at one place become one change, in UTF-16 offsets", () => {
  const text = "a😀b";
  const op = ops.replace(3, 1, "😀", "xy");
  assert.deepEqual(opToChanges(text, op), [{ from: 1, to: 3, insert: "xy" }]);
});

test("changes are in document order with offsets in the old text", () => {
  const text = "😀😀 one two";
  const op = changesBetween(text, "😀 one! two?");
  const changes = opToChanges(text, op);
  for (let i = 1; i < changes.length; i++) assert.ok(changes[i - 1].to <= changes[i].from);
  assert.equal(asEditor(text, op), "😀 one! two?");
});

test("an operation that runs past the text is an error, not a silent clamp", () => {
  assert.throws(() => opToChanges("ab", [{ retain: 3 }]), RangeError);
});

test("random operations apply to CodeMirror exactly as to the engine", () => {
  const rng = random(7);
  for (let i = 0; i < 500; i++) {
    const text = randomText(rng, rng.int(0, 12));
    const op = randomOp(rng, text, rng.int(1, 4));
    assert.equal(asEditor(text, op), ops.apply(text, op), JSON.stringify({ text, op }));
  }
});

test("sanitizeInsert keeps text a document may hold, and counts what it drops", () => {
  assert.deepEqual(sanitizeInsert("tab\tcr\r\nlf 😀 é"), { text: "tab\tcr\r\nlf 😀 é", removed: 0 });
  assert.deepEqual(sanitizeInsert("a\u0000b\u0001c\u000bd\u001fe\ufffff"), {
    text: "abcdef",
    removed: 5,
  });
  assert.deepEqual(sanitizeInsert("x\ud800y\udc00z"), { text: "xyz", removed: 2 });
  assert.deepEqual(sanitizeInsert("\ud83d\ude00"), { text: "😀", removed: 0 });
});

test("caretAssoc: a caret at the start of its own latest insert keeps after remote text", () => {
  // "😀[ab]": our latest insert is "ab" (code points 2..4, UTF-16 3..5).
  const before = "😀[ab]";
  assert.equal(caretAssoc(before, 3, [2, 4]), 1); // typing backwards, before "a"
  assert.equal(caretAssoc(before, 5, [2, 4]), -1); // typing forwards, after "b"
  assert.equal(caretAssoc(before, 2, [2, 4]), -1); // code point 2 is not UTF-16 offset 2
  assert.equal(caretAssoc(before, 3, [2, 2]), -1); // an empty run (after a backspace)
  assert.equal(caretAssoc(before, 3, null), -1);
});
