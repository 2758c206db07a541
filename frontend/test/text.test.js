import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidText } from "../src/sync/errors.js";
import {
  assertWellFormed,
  checksum,
  checksumLength,
  codepointLength,
  codepointToUtf16,
  findInvalid,
  utf16ToCodepoint,
  validateText,
} from "../src/sync/text.js";

test("lengths count code points; a lone surrogate counts as one, as in Python", () => {
  assert.equal(codepointLength("a😀b"), 3);
  assert.equal(codepointLength("👍🏽"), 2); // emoji plus skin-tone modifier: two code points
  assert.equal(codepointLength("\ud83d"), 1);
  assert.equal(codepointLength("\ude00\ud83d"), 2); // low then high is not a pair
  assert.equal(codepointLength("e\u0301"), 2);
});

test("checksum is zlib's CRC-32 of the UTF-8 bytes, with the length in code points", () => {
  assert.equal(checksum(""), "0:00000000");
  assert.equal(checksum("hello"), "5:3610a686");
  assert.equal(checksum("héllo 😀"), "7:8d272c32"); // computed by sync/text.py
});

test("checksum encodes a lone surrogate as Python's surrogatepass does, not as U+FFFD", () => {
  assert.equal(checksum("a\ud800b"), "3:0722f55a"); // computed by sync/text.py
  assert.notEqual(checksum("a\ud800b"), checksum("a\ufffdb"));
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
