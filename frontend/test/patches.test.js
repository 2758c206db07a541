import assert from "node:assert/strict";
import { test } from "node:test";

import * as ops from "../src/sync/ops.js";
import {
  applyPatch,
  formatPatch,
  makePatch,
  opFromPatch,
  parsePatch,
  patchText,
} from "../src/sync/patches.js";
import { random, randomOp, randomText } from "../test-support/helpers.js";

test("headers count code points, as the Python twin writes them", () => {
  // The cases docs/js-dmp-ports.md found every JavaScript port getting wrong.
  const swap = patchText("a😀b", ops.replace(3, 1, "😀", "😁"));
  assert.equal(swap, "@@ -1,3 +1,3 @@\n a\n-%F0%9F%98%80\n+%F0%9F%98%81\n b\n");
  const grow = patchText("😀😀", [{ retain: 1 }, { insert: "😁" }, { retain: 1 }]);
  assert.equal(grow.split("\n")[0], "@@ -1,2 +1,3 @@");
});

test("escaping matches Python's quote(..., \"!~*'();/?:@&=+$,# \") for every ASCII byte", () => {
  const ascii = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i));
  const body = formatPatch([
    { start1: 0, length1: 0, start2: 0, length2: 128, diffs: [[ops.DIFF_INSERT, ascii]] },
  ]).split("\n")[1];
  const controls = Array.from(
    { length: 32 },
    (_, i) => `%${i.toString(16).toUpperCase().padStart(2, "0")}`,
  );
  // The printable part is what sync/patches.py writes for bytes 32..126.
  const printable =
    " !%22#$%25&'()*+,-./0123456789:;%3C=%3E?@ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60" +
    "abcdefghijklmnopqrstuvwxyz%7B%7C%7D~";
  assert.equal(body, `+${controls.join("")}${printable}%7F`);
});

test("formatPatch refuses a lone surrogate instead of writing U+FFFD", () => {
  const hunk = {
    start1: 0,
    length1: 0,
    start2: 0,
    length2: 1,
    diffs: [[ops.DIFF_INSERT, "\ud800"]],
  };
  assert.throws(() => formatPatch([/** @type {any} */ (hunk)]), { name: "InvalidText" });
});

test("parsePatch keeps a leading byte order mark: it is text", () => {
  const [hunk] = parsePatch("@@ -1 +1 @@\n-%EF%BB%BF\n+b\n");
  assert.deepEqual(hunk.diffs, [
    [ops.DIFF_DELETE, "\ufeff"],
    [ops.DIFF_INSERT, "b"],
  ]);
});

test("parsePatch is strict where the Python twin is, and names the line", () => {
  assert.throws(() => parsePatch("@@ -1 +1 @@\n-%E2%82\n"), {
    name: "MalformedPatch",
    message: "patch line 2: escaped bytes are not UTF-8",
  });
  assert.throws(() => parsePatch("@@ -1 +1 @@\n+%ED%A0%80\n"), { name: "MalformedPatch" });
  assert.throws(() => parsePatch("@@ -1 +1 @@\n+a%2\n"), /'%' not followed by two hex digits/);
  assert.throws(() => parsePatch("@@ -1,2 +1 @@\n-a\n+b\n"), /header says 2\/1 characters/);
});

test("parsePatch checks raw text before escapes, and takes ASCII digits only", () => {
  // A raw (unescaped) lone surrogate cannot be turned into bytes: InvalidText, naming it.
  assert.throws(() => parsePatch("@@ -1 +1 @@\n-\ud800\n+b\n"), {
    name: "InvalidText",
    message: /^patch line 2 has U\+D800 at position 0, which is a lone surrogate/,
  });
  // Raw text is checked first, as in Python, so a bad escape after it is not what is reported.
  assert.throws(() => parsePatch("@@ -1 +1 @@\n-%\x01\n+b\n"), { name: "InvalidText" });
  assert.throws(() => parsePatch("@@ -1 +1 @@\n-\ud83d%F0\n+b\n"), { name: "InvalidText" });
  for (const digit of ["١", "１", "²", "१"]) {
    assert.throws(() => parsePatch(`@@ -${digit} +1 @@\n-a\n+b\n`), { name: "MalformedPatch" });
  }
});

test("opFromPatch refuses hunks that overlap or run past the end", () => {
  const overlap = parsePatch("@@ -1,2 +1,2 @@\n-ab\n+cd\n@@ -1 +1 @@\n-c\n+x\n");
  assert.throws(() => opFromPatch(overlap, 4), /hunk 2 changes text that hunk 1 already changed/);
  assert.throws(() => opFromPatch(parsePatch("@@ -5 +5 @@\n-a\n+b\n"), 2), /past the end/);
});

test("applyPatch refuses a patch whose context differs", () => {
  const patch = parsePatch(patchText("hello world", ops.replace(11, 6, "w", "W")));
  assert.equal(applyPatch("hello world", patch).text, "hello World");
  assert.throws(() => applyPatch("hellO world", patch), {
    name: "PatchRejected",
    message: "the patch's context does not match the text (check 1)",
  });
});

test("random patches round-trip exactly: same operation, same text", () => {
  const rng = random(11);
  for (let i = 0; i < 300; i++) {
    const base = randomText(rng, rng.int(0, 30));
    const op = randomOp(rng, base, 5);
    const wire = patchText(base, op);
    const result = applyPatch(base, parsePatch(wire));
    const context = JSON.stringify({ base, op, wire });
    assert.equal(result.text, ops.apply(base, op), context);
    assert.deepEqual(result.op, op, context);
  }
});

test("a large document patches in linear time without exhausting the stack", () => {
  const base = "😀 lorem ipsum dolor 字 ".repeat(10_000); // 220,000 code points
  const length = ops.baseLength([{ retain: Array.from(base).length }]);
  const op = [{ retain: 100_000 }, { insert: "X" }, { retain: length - 100_000 }];
  const hunks = makePatch(base, op);
  assert.equal(hunks.length, 1);
  assert.equal(applyPatch(base, parsePatch(formatPatch(hunks))).text, ops.apply(base, op));
});

test("context is unique near the hunk, as in Python, not in the whole text", () => {
  // The same case as tests/sync/test_patches.py: a repeat 3,000 code points away is ignored,
  // one 100 away is not.
  const far = `0123456789${"-".repeat(3000)}0123456789`;
  assert.equal(patchText(far, ops.replace(far.length, 5, "", "Z")), "@@ -1,13 +1,14 @@\n 01234\n+Z\n 56789---\n");
  const near = `0123456789${"-".repeat(100)}0123456789`;
  assert.equal(
    patchText(near, ops.replace(near.length, 5, "", "Z")),
    "@@ -1,17 +1,18 @@\n 01234\n+Z\n 56789-------\n",
  );
});

test("a header number of more than 16 digits is malformed, as in Python", () => {
  assert.equal(parsePatch("@@ -1,0 +9007199254740991,1 @@\n+a\n")[0].start2, 9007199254740990);
  assert.throws(() => parsePatch(`@@ -1,0 +${"9".repeat(17)},1 @@\n+a\n`), /header/);
});
