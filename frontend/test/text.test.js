import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidText } from "../src/sync/errors.js";
import * as ops from "../src/sync/ops.js";
import {
  K,
  assertWellFormed,
  checksum,
  checksumLength,
  checksumMatches,
  checksumV1,
  checksumVersion,
  codepointLength,
  codepointToUtf16,
  findInvalid,
  updateChecksum,
  unitIndexer,
  utf16ToCodepoint,
  validateText,
} from "../src/sync/text.js";
import { random, randomOp, randomText } from "../test-support/helpers.js";

test("lengths count code points; a lone surrogate counts as one, as in Python", () => {
  assert.equal(codepointLength("a😀b"), 3);
  assert.equal(codepointLength("👍🏽"), 2); // emoji plus skin-tone modifier: two code points
  assert.equal(codepointLength("\ud83d"), 1);
  assert.equal(codepointLength("\ude00\ud83d"), 2); // low then high is not a pair
  assert.equal(codepointLength("e\u0301"), 2);
});

test("checksumV1 is zlib's CRC-32 of the UTF-8 bytes, with the length in code points", () => {
  assert.equal(checksumV1(""), "0:00000000");
  assert.equal(checksumV1("hello"), "5:3610a686");
  assert.equal(checksumV1("héllo 😀"), "7:8d272c32"); // computed by sync/text.py
  assert.equal(checksumVersion(checksumV1("hello")), 1);
});

test("checksumV1 encodes a lone surrogate as Python's surrogatepass does, not as U+FFFD", () => {
  assert.equal(checksumV1("a\ud800b"), "3:0722f55a"); // computed by sync/text.py
  assert.notEqual(checksumV1("a\ud800b"), checksumV1("a\ufffdb"));
});

test("checksum (version 2) is the length and two lanes of 8 hex digits", () => {
  assert.match(checksum("a😀\r\n"), /^4:[0-9a-f]{16}$/);
  assert.equal(checksumVersion(checksum("a😀\r\n")), 2);
  assert.equal(checksumLength(checksum("a😀\r\n")), 4);
  assert.equal(checksum("héllo 😀"), "7:eb9cedeff975dd53"); // computed by sync/text.py
  assert.notEqual(checksum("a\ud800b"), checksum("a\ufffdb"));
  for (const [one, two] of [
    ["ab", "ba"],
    ["e\u0301", "\u00e9"],
    ["a".repeat(40), "a".repeat(20) + "b" + "a".repeat(19)],
    ["x".repeat(20) + "ab", "x".repeat(20) + "ba"],
  ]) {
    assert.notEqual(checksum(one), checksum(two), JSON.stringify([one, two]));
  }
});

test("checksum cannot tell blocks swapped between K - 1 identical characters", () => {
  const context = "-".repeat(K - 1);
  const one = `start${context}cat${context}dog${context}end`;
  const two = `start${context}dog${context}cat${context}end`;
  assert.equal(checksum(one), checksum(two)); // the limit docs/protocol.md states
  assert.notEqual(checksumV1(one), checksumV1(two));
});

test("checksums of either version are matched by their own rules", () => {
  assert.ok(checksumMatches("abc", checksum("abc")));
  assert.ok(checksumMatches("abc", checksumV1("abc")));
  assert.ok(!checksumMatches("abd", checksum("abc")));
  assert.ok(!checksumMatches("abd", checksumV1("abc")));
  assert.ok(!checksumMatches("abc", "3:0"));
  assert.equal(checksumVersion("3:" + "A".repeat(16)), null);
  const op = [{ insert: "x" }, { retain: 3 }];
  assert.throws(() => updateChecksum(checksumV1("abc"), "abc", op, "xabc"), RangeError);
});

/**
 * An operation on `base` with several changes, gaps around K - 1 between them (so that their
 * windows meet, touch or stay apart), long inserts and deletes, at either end too.
 * @param {import("../test-support/helpers.js").Random} rng
 * @param {string} base
 */
function spacedOp(rng, base) {
  const chars = Array.from(base);
  const builder = new ops.OpBuilder();
  let done = 0;
  for (;;) {
    const gaps = [0, 1, K - 2, K - 1, K, 2 * K, rng.int(0, chars.length)];
    const gap = Math.min(rng.pick(gaps), chars.length - done);
    builder.retain(gap);
    done += gap;
    if (done === chars.length && rng.next() < 0.5) return builder.build();
    const deleted = Math.min(rng.pick([0, 1, 3, K, 40]), chars.length - done);
    builder.delete(chars.slice(done, done + deleted).join(""));
    done += deleted;
    if (deleted === 0 || rng.next() < 0.5) builder.insert(randomText(rng, rng.pick([1, 2, 20])));
  }
}

test("an updated checksum equals the one computed from scratch (seeded random)", () => {
  const rng = random(7);
  for (let i = 0; i < 2000; i++) {
    const unit = randomText(rng, rng.int(1, 3));
    const base = rng.next() < 0.3 ? unit.repeat(rng.int(0, 40)) : randomText(rng, rng.int(0, 80));
    const op = rng.next() < 0.5 ? spacedOp(rng, base) : randomOp(rng, base, 4);
    const after = ops.apply(base, op);
    const context = JSON.stringify({ base, op });
    assert.equal(updateChecksum(checksum(base), base, op, after), checksum(after), context);
  }
});

test("an update reads only the text around the change", () => {
  const old = "a".repeat(1000) + "😀".repeat(1000);
  const op = ops.replace(2000, 1000, "", "x");
  const after = ops.apply(old, op);
  // Everything further than K from the change replaced by other text of the same length.
  const blind = (/** @type {string} */ text, /** @type {number} */ kept) =>
    Array.from(text)
      .map((c, i) => (i >= 1000 - K && i < 1000 + kept ? c : c === "a" ? "?" : "😎"))
      .join("");
  const result = updateChecksum(checksum(old), blind(old, K), op, blind(after, K + 1));
  assert.equal(result, checksum(after));
});

test("checksumLength reads the length part and refuses anything else", () => {
  assert.equal(checksumLength("12:0000abcd"), 12);
  assert.throws(() => checksumLength("abc"), RangeError);
  assert.throws(() => checksumLength("12"), RangeError);
  assert.throws(() => checksumLength("١٢:0000abcd"), RangeError); // ASCII digits only
});

test("validateText names the character and its code point position", () => {
  assert.equal(findInvalid("😀😀\x01"), 2);
  assert.throws(() => validateText("😀😀\x01", { what: "title" }), {
    name: "InvalidText",
    message: "title has U+0001 at position 2, which is not allowed in XML 1.0",
  });
  assert.throws(
    () => validateText("a\udfff"),
    (/** @type {unknown} */ error) =>
      error instanceof InvalidText &&
      error.code === "invalid-text" &&
      error.position === 1 &&
      error.codepoint === 0xdfff &&
      /lone surrogate/.test(error.message),
  );
  for (const fine of ["\t\n\r", "\ud7ff\ue000\ufffd", "😀", "\u0085\u2028"]) validateText(fine);
});

test("assertWellFormed refuses only lone surrogates", () => {
  assertWellFormed("\x01 is encodable");
  assert.throws(() => assertWellFormed("x\ud800"), { name: "InvalidText" });
});

test("UTF-16 offsets convert to code points and back", () => {
  const text = "a😀b𝄞";
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => codepointToUtf16(text, i)),
    [0, 1, 3, 4, 6],
  );
  assert.deepEqual(
    [0, 1, 3, 4, 6].map((i) => utf16ToCodepoint(text, i)),
    [0, 1, 2, 3, 4],
  );
});

test("UTF-16 offsets convert from any known place, forwards and backwards", () => {
  const text = "a😀b𝄞😀😀cd𝄞";
  const units = [0, 1, 3, 4, 6, 8, 10, 11, 12, 14]; // the UTF-16 index of each code point
  for (const [knownCp, knownUnit] of units.entries()) {
    for (const [cp, unit] of units.entries()) {
      assert.equal(utf16ToCodepoint(text, unit, [knownCp, knownUnit]), cp, `${unit} from ${knownUnit}`);
      assert.equal(unitIndexer(text, units.length - 1, [knownCp, knownUnit])(cp), unit);
    }
  }
  // Inside a pair is refused whatever the known place.
  assert.throws(() => utf16ToCodepoint(text, 9, [7, 11]), /splits the surrogate pair at 5/);
});

test("UTF-16 conversion refuses offsets outside the text or inside a pair", () => {
  assert.throws(() => utf16ToCodepoint("a😀", 2), {
    name: "RangeError",
    message: "UTF-16 index 2 splits the surrogate pair at 1",
  });
  assert.throws(() => utf16ToCodepoint("a😀", 4), /outside 0\.\.3/);
  assert.throws(() => utf16ToCodepoint("a😀", -1), { message: "UTF-16 index -1 is negative" });
  assert.throws(() => utf16ToCodepoint("a😀", 0.5), RangeError);
  assert.throws(() => codepointToUtf16("a😀", 3), /outside 0\.\.2/);
  assert.throws(() => codepointToUtf16("a😀", 0.5), RangeError);
});
