/**
 * People's colors on a document: distinct per person per document, the same on every page
 * that knows the same people. Authorship marks, the people list and remote cursors all take
 * their color from here, so a person's cursor has the color of the text they wrote.
 *
 * A person present has the color the server gave them (their own choice if nobody else
 * present has it: docs/protocol.md, "Colors"), passed in as `fixed`. Every other author of
 * the text prefers a palette slot from a hash of the document id and the name; names are
 * placed in sorted order after the fixed ones, and one whose slot is taken takes the next free
 * one. Only past 12 people do two share a color.
 * @module
 */

import { PALETTE } from "./identity.js";

/**
 * FNV-1a over UTF-16 units: small, stable, and the same in every browser.
 * @param {string} text
 */
export function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * A color for each of `names` on document `docId`, and for everyone in `fixed`.
 * @param {string} docId
 * @param {Iterable<string>} names
 * @param {Map<string, string>} [fixed]  author → color of the people present
 * @returns {Map<string, string>}
 */
export function assignColors(docId, names, fixed = new Map()) {
  const sorted = [...new Set(names)].filter((name) => !fixed.has(name)).sort();
  /** @type {Map<string, string>} */
  const colors = new Map(fixed);
  /** @type {Set<number>} */
  const taken = new Set();
  for (const color of fixed.values()) {
    const at = PALETTE.indexOf(color.toLowerCase());
    if (at >= 0) taken.add(at);
  }
  for (const name of sorted) {
    let slot = hash(`${docId}\u0000${name}`) % PALETTE.length;
    if (taken.size < PALETTE.length) {
      while (taken.has(slot)) slot = (slot + 1) % PALETTE.length;
    }
    taken.add(slot);
    colors.set(name, PALETTE[slot]);
  }
  return colors;
}

const COLOR = /^#[0-9a-fA-F]{6}$/;

/**
 * The name a person's revisions carry: `author` where presence gives one (an account shown
 * by another name), else their name.
 * @param {{name: string, author?: string}} person
 */
export function authorOf(person) {
  return typeof person.author === "string" && person.author !== "" ? person.author : person.name;
}

/**
 * The colors of the people present, by author: what the server gave each. Of several
 * sessions of one author (two tabs), the one with the least session id gives the color, so
 * every page picks the same.
 * @param {Iterable<{session?: string, name: string, author?: string, color?: string}>} people
 * @returns {Map<string, string>}
 */
export function presentColors(people) {
  const key = (/** @type {{session?: string}} */ p) => p.session ?? "";
  const sorted = [...people].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  /** @type {Map<string, string>} */
  const colors = new Map();
  for (const person of sorted) {
    const author = authorOf(person);
    if (colors.has(author) || typeof person.color !== "string" || !COLOR.test(person.color)) continue;
    colors.set(author, person.color.toLowerCase());
  }
  return colors;
}

/** @type {Map<string, string>} */
const tints = new Map();
/** @type {CSSStyleSheet | null} */
let sheet = null;

/**
 * A class giving text a soft background in `color` (`#rrggbb` only; anything else gets no
 * rule). Set through a constructed stylesheet: the page's CSP admits no style attributes.
 * @param {string} color
 */
export function tintClass(color) {
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) return "cm-author-unknown";
  const safe = color.toLowerCase();
  let name = tints.get(safe);
  if (name !== undefined) return name;
  name = `cm-author-${safe.slice(1)}`;
  tints.set(safe, name);
  try {
    if (sheet === null) {
      sheet = new CSSStyleSheet();
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    sheet.insertRule(`.${name} { background-color: ${safe}2e; }`, sheet.cssRules.length);
    sheet.insertRule(
      `:root[data-theme="dark"] .${name} { background-color: ${safe}4d; }`,
      sheet.cssRules.length,
    );
  } catch {
    // No constructable stylesheets (old browsers, node): the text shows without a tint.
  }
  return name;
}
