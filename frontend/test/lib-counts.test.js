import assert from "node:assert/strict";
import { test } from "node:test";

import { countText, countsText } from "../src/lib/counts.js";

test("words are runs of anything but white space; characters are code points", () => {
  assert.deepEqual(countText(""), { words: 0, characters: 0 });
  assert.deepEqual(countText("  \n\t "), { words: 0, characters: 5 });
  assert.deepEqual(countText("one two\nthree 😀\n"), { words: 4, characters: 16 });
  assert.deepEqual(countText("don't stop—now"), { words: 2, characters: 14 });
  assert.deepEqual(countText("a\u00a0b\u3000c"), { words: 3, characters: 5 }); // any Unicode space
  assert.deepEqual(countText("𝄞𝄞 𝄞"), { words: 2, characters: 4 });
});

test("countsText says it in the status bar's words", () => {
  assert.equal(countsText({ words: 1, characters: 1 }, "en"), "1 word · 1 character");
  assert.equal(countsText({ words: 1200, characters: 7000 }, "en"), "1,200 words · 7,000 characters");
});
