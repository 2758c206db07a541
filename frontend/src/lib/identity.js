/**
 * Who this browser is: a display name and the color the person chose (if they did),
 * remembered in localStorage, and a client id per page load (the server deduplicates edits by client id and sequence number, so a
 * reloaded page must not reuse the old one's numbers).
 * @module
 */

export const NAME_KEY = "collab.name";
export const COLOR_KEY = "collab.color";

/** Distinct, readable on white, and each with enough contrast for a cursor line. */
export const PALETTE = Object.freeze([
  "#d7263d", "#1b998b", "#2e86de", "#f46036", "#8e44ad", "#2a9d3a",
  "#c2185b", "#b8860b", "#00838f", "#5d4037", "#3949ab", "#e65100",
]);

const ADJECTIVES = ["Amber", "Brave", "Calm", "Deft", "Eager", "Fleet", "Gentle", "Keen", "Lucid", "Merry", "Nimble", "Quiet"];
const ANIMALS = ["Otter", "Heron", "Lynx", "Finch", "Badger", "Ibex", "Koala", "Marten", "Puffin", "Wren", "Yak", "Gecko"];

/** @param {() => number} [random] */
export function randomName(random = Math.random) {
  const pick = (/** @type {string[]} */ list) => list[Math.floor(random() * list.length)];
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`;
}

/** The protocol's client id alphabet: 1-64 of A-Z a-z 0-9 _ . ~ - */
export function newClientId(random = Math.random) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let id = "web-";
  for (let i = 0; i < 12; i++) id += alphabet[Math.floor(random() * alphabet.length)];
  return id;
}

/**
 * A name as the server accepts it (1-64 characters, no control characters), or null.
 * @param {string} raw
 */
export function cleanName(raw) {
  // eslint-disable-next-line no-control-regex
  const name = raw.replace(/[\u0000-\u001f\u007f\ufffe\uffff]/g, "").trim();
  if (!name) return null;
  return [...name].slice(0, 64).join("");
}

/**
 * The remembered name (a random one, remembered, on a first visit) and chosen color. With no
 * color chosen (`null`), the server gives one nobody else on the document has.
 * @param {Pick<Storage, "getItem" | "setItem">} storage
 * @param {() => number} [random]
 * @returns {{name: string, color: string | null}}
 */
export function loadIdentity(storage, random = Math.random) {
  let name = safeGet(storage, NAME_KEY);
  const color = cleanColor(safeGet(storage, COLOR_KEY) ?? "");
  if (!name || !cleanName(name)) {
    name = randomName(random);
    safeSet(storage, NAME_KEY, name);
  }
  return { name, color };
}

/**
 * A color as the protocol takes it (`#rrggbb`, lower case), or null.
 * @param {string} raw
 */
export function cleanColor(raw) {
  const color = raw.trim().toLowerCase();
  return /^#[0-9a-f]{6}$/.test(color) ? color : null;
}

/**
 * Remember `color` as the person's choice (`null`: forget it; they have chosen none).
 * @param {Pick<Storage, "setItem" | "removeItem">} storage
 * @param {string | null} color  `#rrggbb`
 */
export function saveColor(storage, color) {
  if (color !== null) safeSet(storage, COLOR_KEY, color);
  else {
    try {
      storage.removeItem(COLOR_KEY);
    } catch {
      // not forgotten; it is only a wish
    }
  }
}

/**
 * @param {Pick<Storage, "setItem">} storage
 * @param {string} name
 */
export function saveName(storage, name) {
  safeSet(storage, NAME_KEY, name);
}

/** Private modes and full disks make storage throw; the page works on without it. */
function safeGet(/** @type {Pick<Storage, "getItem">} */ storage, /** @type {string} */ key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function safeSet(
  /** @type {Pick<Storage, "setItem">} */ storage,
  /** @type {string} */ key,
  /** @type {string} */ value,
) {
  try {
    storage.setItem(key, value);
  } catch {
    // not remembered; nothing else depends on it
  }
}
