// The twin of tests/sync/test_fold.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChecksumMismatch, PatchRejected } from "../src/sync/errors.js";
import { fold } from "../src/sync/fold.js";
import * as ops from "../src/sync/ops.js";
import { patchText } from "../src/sync/patches.js";
import { checksum, checksumLength, checksumV1, codepointLength } from "../src/sync/text.js";

const TEXT =
  "Jackdaws love my big sphinx of quartz. Pack my box with five dozen liquor jugs. 😀 " +
  "The quick brown fox jumps over the lazy dog. How vexingly quick daft zebras jump!";
const AT = Array.from(TEXT).indexOf("l", Array.from(TEXT).indexOf("q") + 20); // "liquor"

/**
 * @param {string} text
 * @param {ops.Op} op
 * @param {{v1?: boolean}} [options]
 * @returns {import("../src/sync/protocol.js").Revision}
 */
function revisionOf(text, op, { v1 = false } = {}) {
  const after = ops.apply(text, op);
  return {
    type: "revision",
    rev: 5,
    base: 4,
    author: "Ann",
    client: "ann",
    seq: 1,
    patch: patchText(text, op),
    checksum: v1 ? checksumV1(after) : checksum(after),
  };
}

const EDIT = ops.replace(codepointLength(TEXT), AT, "liquor", "wine");
const REVISION = revisionOf(TEXT, EDIT);
const AFTER = ops.apply(TEXT, EDIT);

/**
 * `text` with the code point at `index` replaced (or removed, with `by` empty).
 * @param {string} text
 * @param {number} index
 * @param {string} by
 */
function change(text, index, by) {
  const chars = Array.from(text);
  chars.splice(index < 0 ? chars.length + index : index, 1, ...(by ? [by] : []));
  return chars.join("");
}

test("the setting: the edit is where the tests think", () => {
  assert.equal(AFTER, TEXT.replace("liquor", "wine"));
});

test("with the copy's checksum, the new one is updated from it, not computed", () => {
  assert.deepEqual(fold(TEXT, REVISION, checksum(TEXT)), { text: AFTER, op: EDIT });
  // Computed from scratch, a right text with a wrong (well-formed) checksum would pass.
  const wrong = `${checksumLength(checksum(TEXT))}:${"0".repeat(16)}`;
  assert.throws(() => fold(TEXT, REVISION, wrong), ChecksumMismatch);
});

test("without it, or with a version 1 one, the checksum is computed in full", () => {
  assert.equal(fold(TEXT, REVISION).text, AFTER);
  assert.equal(fold(TEXT, REVISION, checksumV1(TEXT)).text, AFTER);
});

test("version 1 revisions still verify", () => {
  const old = revisionOf(TEXT, EDIT, { v1: true });
  assert.equal(fold(TEXT, old, checksum(TEXT)).text, AFTER);
  assert.equal(fold(TEXT, old).text, AFTER);
  assert.throws(() => fold(TEXT, { ...old, checksum: checksumV1(TEXT) }), ChecksumMismatch);
});

test("a copy that differs anywhere, with its own checksum, is caught on the next revision", () => {
  for (const copy of [change(TEXT, -3, "X"), change(TEXT, -3, ""), change(TEXT, 0, "#")]) {
    for (const known of [checksum(copy), null]) {
      assert.throws(() => fold(copy, REVISION, known), ChecksumMismatch, copy);
    }
  }
  // Text added or removed before the change moves it: the patch no longer fits.
  assert.throws(() => fold(TEXT.slice(1), REVISION, checksum(TEXT.slice(1))), PatchRejected);
});

test("a copy corrupted behind the engine's back is caught near a change, or by length", () => {
  const near = change(TEXT, AT - 10, "E");
  assert.throws(() => fold(near, REVISION, checksum(TEXT)), ChecksumMismatch);
  // Python compares lengths it counts for free. Here the checksum's length is taken for the
  // text's, unless the text holds no surrogate at all (then it must be its UTF-16 length).
  const plain = TEXT.replace("😀", "!");
  const revision = revisionOf(plain, EDIT);
  for (const copy of [change(plain, -3, ""), change(plain, -3, "XY")]) {
    assert.throws(() => fold(copy, revision, checksum(plain)), ChecksumMismatch, copy);
  }
});

test("a copy corrupted behind the engine's back far from changes is not caught", () => {
  // The limit of updating (docs/protocol.md, "Checksums"): found only by a full check. In a
  // text with surrogate pairs, that includes a change of length.
  for (const far of [change(TEXT, -3, "X"), change(TEXT, -3, ""), change(TEXT, -3, "XY")]) {
    assert.notEqual(fold(far, REVISION, checksum(TEXT)).text, AFTER);
  }
});
