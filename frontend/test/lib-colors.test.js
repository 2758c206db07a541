import assert from "node:assert/strict";
import { test } from "node:test";

import { assignColors, authorOf, hash, presentColors } from "../src/lib/colors.js";
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

test("people present keep the color the server gave them; other authors get the rest", () => {
  const fixed = new Map([["Ann", PALETTE[3]], ["Bob", "#123456"]]);
  const colors = assignColors("doc-1", ["Ann", "Bob", ...Array.from({ length: 11 }, (_, i) => `p${i}`)], fixed);
  assert.equal(colors.get("Ann"), PALETTE[3]);
  assert.equal(colors.get("Bob"), "#123456");
  const others = Array.from({ length: 11 }, (_, i) => colors.get(`p${i}`));
  assert.ok(!others.includes(PALETTE[3]), "a present person's palette color is nobody else's");
  assert.equal(new Set(others).size, 11);
});

test("the colors of the people present are by author, the least session's for one author", () => {
  const colors = presentColors([
    { session: "s9", name: "Ann", color: "#AA0000" },
    { session: "s1", name: "Ann", color: "#00aa00" },
    { session: "s5", name: "Ann Lee", author: "ann", color: "#0000aa" },
    { session: "s2", name: "Bad", color: "red" },
  ]);
  assert.deepEqual([...colors.entries()].sort(), [["Ann", "#00aa00"], ["ann", "#0000aa"]]);
  assert.equal(authorOf({ name: "Ann Lee", author: "ann" }), "ann");
  assert.equal(authorOf({ name: "Ann", author: "" }), "Ann");
});
