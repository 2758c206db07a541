import assert from "node:assert/strict";
import { test } from "node:test";

import { changesBetween, mergeOnto, rebaseOnto } from "../src/sync/merge.js";
import * as ops from "../src/sync/ops.js";
import { findInvalid } from "../src/sync/text.js";
import { hasLoneSurrogate, random, randomOp, randomText } from "../test-support/helpers.js";

/** @param {ops.Op} op */
const texts = (op) => op.map((c) => ("insert" in c ? c.insert : "delete" in c ? c.delete : ""));

/**
 * `base` with its first `old` replaced by `replacement`, as an operation.
 * @param {string} base
 * @param {string} old
 * @param {string} replacement
 */
function swap(base, old, replacement) {
  const position = Array.from(base.slice(0, base.indexOf(old))).length;
  return ops.replace(Array.from(base).length, position, old, replacement);
}

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

test("changesBetween slides a change to word boundaries", () => {
  // diff_main alone deletes "wo t".
  assert.deepEqual(changesBetween("one two three", "one three"), [
    { retain: 4 },
    { delete: "two " },
    { retain: 5 },
  ]);
  // As in Python, letters outside ASCII (and outside the BMP) are word characters.
  assert.deepEqual(changesBetween("über straße drei", "über drei"), [
    { retain: 5 },
    { delete: "straße " },
    { retain: 4 },
  ]);
  assert.deepEqual(changesBetween("x 𝐀𝐀 𝐀𝐀 y", "x 𝐀𝐀 y"), [
    { retain: 5 },
    { delete: "𝐀𝐀 " },
    { retain: 1 },
  ]);
});

test("texts that use private-use characters themselves are narrowed without collisions", () => {
  const old = "\ue000😀\ue001";
  const target = "\ue001😀\ue000𝄞";
  assert.equal(ops.apply(old, changesBetween(old, target)), target);
  const base = "a\ue000 😀 b \ue001c";
  const changes = [{ retain: 4 }, { insert: "X" }, { retain: 5 }];
  assert.equal(mergeOnto(base, changes, `${base} tail`), "a\ue000 😀X b \ue001c tail");
});

test("with more distinct astral characters than private-use room, diffs stay exact", () => {
  const many = Array.from({ length: 7000 }, (_, i) => String.fromCodePoint(0x20000 + i)).join("");
  const target = many.replace(String.fromCodePoint(0x20010), "x");
  assert.deepEqual(changesBetween(many, target), [
    { retain: 16 },
    { delete: String.fromCodePoint(0x20010) },
    { insert: "x" },
    { retain: 6983 },
  ]);
});

test("with more distinct characters than the BMP has room for, diffs still hold", () => {
  // Beyond about 63 000 distinct characters the diff runs on UTF-16 units, then split pairs
  // are moved whole to one side: still exact, though not always Python's diff.
  const many = Array.from({ length: 64000 }, (_, i) => String.fromCodePoint(0x20000 + i)).join("");
  const target = many.replace(String.fromCodePoint(0x20010), "x 😀");
  const op = changesBetween(many, target);
  assert.equal(ops.apply(many, op), target);
  assert.ok(!texts(op).some(hasLoneSurrogate));
  const changes = [{ retain: 2 }, { delete: String.fromCodePoint(0x20002) }, { retain: 63997 }];
  const merged = mergeOnto(many, changes, target);
  assert.equal(merged, target.replace(String.fromCodePoint(0x20002), ""));
});

test("text the snapshot already deleted is not deleted again", () => {
  const base = "one two three";
  assert.equal(mergeOnto(base, swap(base, "two ", ""), "one three"), "one three");
  assert.deepEqual(rebaseOnto(base, swap(base, "two ", ""), "one three"), [{ retain: 9 }]);
  assert.equal(mergeOnto(base, swap(base, "two ", "2 "), "one three"), "one 2 three");
});

test("a change longer than 32 characters is merged whole", () => {
  const base = "The quick brown fox jumps over the lazy dog.";
  const changes = swap(base, "quick brown fox jumps over the lazy", "slow cat");
  assert.equal(
    mergeOnto(base, changes, "A quick brown fox jumps over the lazy dog!"),
    "A slow cat dog!",
  );
});

test("inserts survive when their context is gone, once", () => {
  const base = "the quick brown fox";
  const changes = ops.compose(swap(base, "quick ", ""), ops.replace(13, 13, "", " jumps"));
  const merged = mergeOnto(base, changes, "0123456789 0123456789");
  assert.equal(merged.split("jumps").length, 2);
  assert.equal(merged.replace(" jumps", ""), "0123456789 0123456789");
  assert.equal(mergeOnto("hello world", ops.replace(11, 9, "", "X"), ""), "X");
});

test("where both insert at one place, the snapshot's text comes first", () => {
  assert.equal(mergeOnto("ab", ops.replace(2, 1, "", "X"), "aYb"), "aYXb");
  assert.equal(mergeOnto("", [{ insert: "mine" }], "theirs"), "theirsmine");
});

test("merged text never holds a lone surrogate or a forbidden character", () => {
  const rng = random(9);
  for (let i = 0; i < 2000; i++) {
    const base = randomText(rng, rng.int(0, 20));
    const changes = randomOp(rng, base, 3);
    const target = ops.apply(base, randomOp(rng, base, 4));
    const op = rebaseOnto(base, changes, target);
    const merged = ops.apply(target, op);
    const context = JSON.stringify({ base, changes, target, merged });
    assert.equal(merged, mergeOnto(base, changes, target), context);
    assert.ok(!hasLoneSurrogate(merged) && findInvalid(merged) === null, context);
    // Everything the changes inserted is there.
    for (const c of changes) if ("insert" in c) assert.ok(merged.includes(c.insert), context);
  }
});
