import assert from "node:assert/strict";
import { test } from "node:test";

import { COLOR_NAMES, pickerOptions } from "../src/lib/color-picker.js";
import { PALETTE } from "../src/lib/identity.js";

test("the picker offers the palette, marks the person's color and who has the others", () => {
  const options = pickerOptions("#2E86DE", new Map([[PALETTE[0], "Bob"], ["#2e86de", "Ann too"]]));
  assert.equal(options.length, PALETTE.length);
  assert.equal(COLOR_NAMES.length, PALETTE.length);
  const mine = options.filter((o) => o.checked);
  assert.deepEqual(mine.map((o) => o.color), ["#2e86de"]);
  assert.equal(mine[0].takenBy, null, "one's own color is never taken from oneself");
  assert.equal(options[0].takenBy, "Bob");
  assert.equal(options[0].label, "Red (Bob has it)");
  assert.ok(options.slice(1).every((o) => o.takenBy === null));
});

test("a custom color checks no palette button; no color yet checks none either", () => {
  assert.ok(pickerOptions("#010203", new Map()).every((o) => !o.checked));
  assert.ok(pickerOptions(null, new Map()).every((o) => !o.checked));
});
