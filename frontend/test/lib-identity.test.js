import assert from "node:assert/strict";
import { test } from "node:test";

import {
  COLOR_KEY,
  NAME_KEY,
  PALETTE,
  cleanColor,
  cleanName,
  loadIdentity,
  newClientId,
  randomName,
  saveColor,
  saveName,
} from "../src/lib/identity.js";

/** A Storage stand-in over a Map. */
function memoryStorage(entries = {}) {
  const map = new Map(Object.entries(entries));
  return {
    map,
    getItem: (/** @type {string} */ key) => (map.has(key) ? map.get(key) : null),
    setItem: (/** @type {string} */ key, /** @type {string} */ value) => void map.set(key, String(value)),
    removeItem: (/** @type {string} */ key) => void map.delete(key),
  };
}

const brokenStorage = {
  getItem: () => {
    throw new Error("SecurityError");
  },
  setItem: () => {
    throw new Error("QuotaExceededError");
  },
  removeItem: () => {
    throw new Error("SecurityError");
  },
};

test("a first visit gets a random name, remembered, and no color: the server gives one", () => {
  const storage = memoryStorage();
  const identity = loadIdentity(storage, () => 0);
  assert.deepEqual(identity, { name: "Amber Otter", color: null });
  assert.equal(storage.map.get(NAME_KEY), "Amber Otter");
  assert.equal(storage.map.has(COLOR_KEY), false);
  // The next visit reads them back, whatever the random source says.
  assert.deepEqual(loadIdentity(storage, () => 0.99), identity);
});

test("a remembered name and chosen color are kept", () => {
  const storage = memoryStorage({ [NAME_KEY]: "Ann <b>", [COLOR_KEY]: "#A1b2C3" });
  assert.deepEqual(loadIdentity(storage), { name: "Ann <b>", color: "#a1b2c3" });
});

test("an unusable remembered name is replaced, an unusable color forgotten", () => {
  const badColor = memoryStorage({ [NAME_KEY]: "Ann", [COLOR_KEY]: "red" });
  assert.deepEqual(loadIdentity(badColor, () => 0.99), { name: "Ann", color: null });

  const badName = memoryStorage({ [NAME_KEY]: " \u0007 ", [COLOR_KEY]: "#123456" });
  assert.deepEqual(loadIdentity(badName, () => 0), { name: "Amber Otter", color: "#123456" });
});

test("a chosen color is remembered; only #rrggbb is a color", () => {
  const storage = memoryStorage({ [NAME_KEY]: "Ann" });
  saveColor(storage, "#2e86de");
  assert.equal(loadIdentity(storage).color, "#2e86de");
  saveColor(storage, null);
  assert.equal(loadIdentity(storage).color, null);
  assert.equal(cleanColor(" #ABCDEF "), "#abcdef");
  for (const bad of ["", "#abc", "#abcdeg", "abcdef", "#abcdef0", "red"]) assert.equal(cleanColor(bad), null);
});

test("storage that throws still gives an identity", () => {
  const identity = loadIdentity(brokenStorage, () => 0.5);
  assert.equal(identity.name, randomName(() => 0.5));
  assert.equal(identity.color, null);
  assert.doesNotThrow(() => saveName(brokenStorage, "Ann"));
  assert.doesNotThrow(() => saveColor(brokenStorage, "#123456"));
  assert.doesNotThrow(() => saveColor(brokenStorage, null));
});

test("saveName stores the name under the name key", () => {
  const storage = memoryStorage();
  saveName(storage, "Bob");
  assert.equal(storage.map.get(NAME_KEY), "Bob");
  assert.equal(loadIdentity(storage).name, "Bob");
});

test("random names and colors come from the lists, at both ends of the range", () => {
  assert.equal(randomName(() => 0), "Amber Otter");
  assert.equal(randomName(() => 0.999), "Quiet Gecko");
  for (const color of PALETTE) assert.match(color, /^#[0-9a-f]{6}$/);
  assert.ok(Object.isFrozen(PALETTE));
});

test("cleanName drops control characters, trims, and keeps 64 code points", () => {
  assert.equal(cleanName("  Ann\u0000\u001f\u007f  "), "Ann");
  assert.equal(cleanName("A\uFFFEnn"), "Ann");
  assert.equal(cleanName(" \t\n "), null);
  assert.equal(cleanName(""), null);
  const emoji = "😀".repeat(70);
  const cleaned = cleanName(emoji);
  assert.equal([...(cleaned ?? "")].length, 64);
  assert.equal(cleaned, "😀".repeat(64), "no emoji is cut in half");
});

test("client ids follow the protocol's alphabet, and differ per page load", () => {
  let n = 0;
  const counting = () => ((n += 7) % 36) / 36;
  const id = newClientId(counting);
  assert.match(id, /^web-[a-z0-9]{12}$/);
  assert.match(id, /^[A-Za-z0-9_.~-]{1,64}$/);
  assert.equal(newClientId(() => 0), "web-aaaaaaaaaaaa");
  assert.notEqual(newClientId(), newClientId());
});
