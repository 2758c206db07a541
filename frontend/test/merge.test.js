import assert from "node:assert/strict";
import { test } from "node:test";

import { changesBetween, mergeOnto } from "../src/sync/merge.js";
import * as ops from "../src/sync/ops.js";
import { findInvalid } from "../src/sync/text.js";
import { hasLoneSurrogate, random, randomOp, randomText } from "../test-support/helpers.js";

/** @param {ops.Op} op */
const texts = (op) => op.map((c) => ("insert" in c ? c.insert : "delete" in c ? c.delete : ""));

test("changesBetween never splits a surrogate pair", () => {
  // Raw diff_main on UTF-16 would give [[0,"a\ud83d"],[-1,"\ude00"],[1,"\ude01"],[0,"b"]].
  assert.deepEqual(changesBetween("a😀b", "a😁b"), [
    { retain: 1 },
    { delete: "😀" },
    { insert: "😁" },
    { retain: 1 },
  ]);
  const rng = random(5);
  for (let i = 0; i < 300; i++) {
    const old = randomText(rng, rng.int(0, 12));
    const target = randomText(rng, rng.int(0, 12));
    const op = changesBetween(old, target);
    assert.equal(ops.apply(old, op), target);
    assert.ok(!texts(op).some(hasLoneSurrogate), JSON.stringify({ old, target, op }));
  }
});

test("texts that use private-use characters themselves are narrowed without collisions", () => {
  const old = "\ue000😀\ue001";
  const target = "\ue001😀\ue000𝄞";
  assert.equal(ops.apply(old, changesBetween(old, target)), target);
  const base = "a\ue000 😀 b \ue001c";
  const changes = [{ retain: 4 }, { insert: "X" }, { retain: 5 }];
  assert.equal(mergeOnto(base, changes, `${base} tail`), "a\ue000 😀X b \ue001c tail");
});

test("with more distinct astral characters than private-use room, diffs still hold", () => {
  const many = Array.from({ length: 7000 }, (_, i) => String.fromCodePoint(0x20000 + i)).join("");
  const target = many.replace(String.fromCodePoint(0x20010), "x");
  const op = changesBetween(many, target);
  assert.equal(ops.apply(many, op), target);
  assert.ok(!texts(op).some(hasLoneSurrogate));
  // Nothing is placed fuzzily then: inserts are kept, deletions dropped.
  const changes = [
    { retain: 2 },
    { delete: String.fromCodePoint(0x20002) },
    { insert: "NEW" },
    { retain: 6997 },
  ];
  const merged = mergeOnto(many, changes, many);
  assert.ok(merged.includes("NEW") && merged.includes(String.fromCodePoint(0x20002)));
});

test("a change lands at its context; a hunk that matches nothing keeps its inserts", () => {
  const base = "one two three four five";
  const changes = ops.replace(23, 8, "three", "3");
  assert.equal(
    mergeOnto(base, changes, "zero one two three four five six"),
    "zero one two 3 four five six",
  );
  const lost = mergeOnto(base, changes, "completely unrelated words here");
  assert.ok(lost.includes("3") && lost.includes("unrelated words"), lost);
});

test("a hunk longer than diff-match-patch's 32-character window is merged piece by piece", () => {
  // sync/merge.py raises ValueError here: patch_apply reports each piece, not each hunk.
  const base = "The quick brown fox jumps over the lazy dog.";
  const changes = ops.replace(44, 4, "quick brown fox jumps over the lazy", "slow cat");
  assert.equal(
    mergeOnto(base, changes, "A quick brown fox jumps over the lazy dog!"),
    "A slow cat dog!",
  );
});

test("padding that diff-match-patch leaks at the edges never reaches the text", () => {
  // patch_apply(patch_make("abcdef", "efXY"), "ab") returns "\x01\x02" in every port,
  // sync/merge.py included. Here nothing is placed then: inserts kept, deletions dropped.
  const changes = [{ delete: "abcd" }, { retain: 2 }, { insert: "XY" }];
  assert.equal(mergeOnto("abcdef", changes, "ab"), "XYab");
});

test("merged text never holds a lone surrogate or a forbidden character", () => {
  const rng = random(9);
  for (let i = 0; i < 2000; i++) {
    const base = randomText(rng, rng.int(0, 20));
    const changes = randomOp(rng, base, 3);
    const target = ops.apply(base, randomOp(rng, base, 4));
    const merged = mergeOnto(base, changes, target);
    const context = JSON.stringify({ base, changes, target, merged });
    assert.ok(!hasLoneSurrogate(merged) && findInvalid(merged) === null, context);
  }
});
