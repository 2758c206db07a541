import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Attribution, runsToUtf16 } from "../src/sync/authorship.js";
import * as ops from "../src/sync/ops.js";
import { opFromPatch, parsePatch } from "../src/sync/patches.js";
import { random, randomOp, randomText } from "../test-support/helpers.js";

/** One author per code point, changed as the operation says: the model. */
function applyModel(/** @type {(string|null)[]} */ model, /** @type {ops.Op} */ op, /** @type {string} */ author) {
  /** @type {(string|null)[]} */
  const out = [];
  let at = 0;
  for (const c of op) {
    if ("retain" in c) {
      out.push(...model.slice(at, at + c.retain));
      at += c.retain;
    } else if ("delete" in c) at += Array.from(c.delete).length;
    else out.push(...Array.from(c.insert, () => author));
  }
  return out;
}

/** @param {Attribution} a */
const everyAuthor = (a) => a.runs().flatMap(([, n, who]) => Array.from({ length: n }, () => who));

test("every character carries its revision's author, and the length is the text's", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rng = random(seed);
    let text = randomText(rng, rng.int(0, 6));
    /** @type {(string|null)[]} */
    let model = Array.from(text, () => null);
    const attribution = new Attribution(model.length);
    for (let step = 0; step < 12; step++) {
      const op = randomOp(rng, text, 3);
      const author = rng.pick(["ann", "bob", "cy"]);
      attribution.applyOp(op, author);
      model = applyModel(model, op, author);
      text = ops.apply(text, op);
      assert.equal(attribution.length, Array.from(text).length, `seed ${seed}`);
      assert.deepEqual(everyAuthor(attribution), model, `seed ${seed} step ${step}`);
    }
    // Runs are merged: no two neighbours by the same author, none empty.
    const runs = attribution.runs();
    for (let i = 1; i < runs.length; i++) assert.notEqual(runs[i][2], runs[i - 1][2]);
    assert.ok(runs.every(([, n]) => n > 0));
    assert.deepEqual(Attribution.fromRuns(runs).runs(), runs);
  }
});

test("replace works in any unit, and runs of a range are cut at its edges", () => {
  const a = new Attribution(5); // "hello" from before the log
  a.replace(5, 5, 6, "ann"); // " world"
  a.replace(0, 1, 1, "bob"); // "H"
  assert.deepEqual(a.runs(), [[0, 1, "bob"], [1, 4, null], [5, 6, "ann"]]);
  a.replace(2, 8, 0, "cy"); // a deletion gives nobody anything
  assert.deepEqual(a.runs(), [[0, 1, "bob"], [1, 1, null], [2, 3, "ann"]]);
  assert.deepEqual(a.runs(1, 3), [[1, 1, null], [2, 1, "ann"]]);
  assert.deepEqual(a.runs(4, 99), [[4, 1, "ann"]]);
  assert.deepEqual(a.names(), ["bob", "ann"]);
  assert.throws(() => a.replace(3, 9, 1, "x"), RangeError);
  assert.throws(() => a.applyOp([{ retain: 9 }], "x"), /spans 9 code points, the text 5/);
  assert.throws(() => Attribution.fromRuns([[0, 1, "a"], [2, 1, "b"]]), RangeError);
});

test("rename gives one name's text to another, merging runs", () => {
  const a = Attribution.fromRuns([[0, 2, "\u0000me"], [2, 3, "ann"], [5, 1, "\u0000me"]]);
  a.rename("\u0000me", "ann");
  assert.deepEqual(a.runs(), [[0, 6, "ann"]]);
});

test("runsToUtf16 counts astral characters as two units", () => {
  const text = "a😀b𝄞c";
  assert.deepEqual(
    runsToUtf16([[0, 2, "ann"], [2, 2, null], [4, 1, "bob"]], text),
    [[0, 3, "ann"], [3, 3, null], [6, 1, "bob"]],
  );
});

test("the vectors shared with Python: the same log gives the same runs", () => {
  const file = new URL("../../tests/conformance/vectors/authorship.json", import.meta.url);
  const cases = JSON.parse(readFileSync(file, "utf-8"));
  assert.ok(cases.length > 0);
  for (const [index, c] of cases.entries()) {
    const attribution = new Attribution(c.initial_length);
    for (const { patch, author } of c.log) {
      const { op } = opFromPatch(parsePatch(patch), attribution.length);
      attribution.applyOp(op, author);
    }
    assert.deepEqual(attribution.runs(), c.runs, `case ${index}`);
    assert.deepEqual(attribution.runs(c.range[0], c.range[1]), c.range_runs, `case ${index}`);
  }
});
