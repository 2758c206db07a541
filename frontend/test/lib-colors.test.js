import assert from "node:assert/strict";
import { test } from "node:test";

import { assignColors, hash } from "../src/lib/colors.js";
import { PALETTE } from "../src/lib/identity.js";

test("each person on a document gets a distinct palette color, up to the palette's size", () => {
  const names = Array.from({ length: PALETTE.length }, (_, i) => `person ${i}`);
  const colors = assignColors("doc-1", names);
  assert.equal(colors.size, names.length);
  assert.equal(new Set(colors.values()).size, PALETTE.length);
  for (const color of colors.values()) assert.ok(PALETTE.includes(color));
  // Past the palette, colors repeat but everyone still has one.
  const crowd = assignColors("doc-1", [...names, "one more"]);
  assert.ok(PALETTE.includes(/** @type {string} */ (crowd.get("one more"))));
});

test("the same people get the same colors on every page, whatever order they are met in", () => {
  const a = assignColors("doc-1", ["Ann", "Bob", "Cy"]);
  const b = assignColors("doc-1", ["Cy", "Ann", "Bob", "Ann"]);
  assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
});

test("colors depend on the document, so two people who clash on one need not clash on all", () => {
  let differs = false;
  for (let i = 0; i < 20 && !differs; i++) {
    differs = assignColors(`doc-${i}`, ["Ann"]).get("Ann") !== assignColors("doc-x", ["Ann"]).get("Ann");
  }
  assert.ok(differs);
  assert.equal(hash("abc"), hash("abc"));
  assert.notEqual(hash("abc"), hash("abd"));
});
