import assert from "node:assert/strict";
import { test } from "node:test";

import { THEME_KEY, loadChoice, resolveTheme } from "../src/lib/theme.js";

test("the saved choice, or the system's when there is none (or storage fails)", () => {
  const store = (/** @type {string | null} */ value) => ({ getItem: () => value });
  assert.equal(loadChoice(store("dark")), "dark");
  assert.equal(loadChoice(store("light")), "light");
  assert.equal(loadChoice(store(null)), "system");
  assert.equal(loadChoice(store("purple")), "system");
  assert.equal(
    loadChoice({
      getItem: () => {
        throw new Error("private mode");
      },
    }),
    "system",
  );
  assert.equal(THEME_KEY, "collab.theme");
});

test("system follows the system; a choice wins over it", () => {
  assert.equal(resolveTheme("system", true), "dark");
  assert.equal(resolveTheme("system", false), "light");
  assert.equal(resolveTheme("light", true), "light");
  assert.equal(resolveTheme("dark", false), "dark");
});
