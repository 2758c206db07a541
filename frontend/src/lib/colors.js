/**
 * People's colors on a document: distinct per person per document, the same on every page
 * that knows the same people. Authorship marks, the people list and remote cursors all take
 * their color from here, so a person's cursor has the color of the text they wrote.
 *
 * Each name prefers a palette slot from a hash of the document id and the name; names are
 * placed in sorted order, and one whose slot is taken takes the next free one. Only past 12
 * people do two share a color.
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
 * A color for each of `names` on document `docId`.
 * @param {string} docId
 * @param {Iterable<string>} names
 * @returns {Map<string, string>}
 */
export function assignColors(docId, names) {
  const sorted = [...new Set(names)].sort();
  /** @type {Map<string, string>} */
  const colors = new Map();
  /** @type {Set<number>} */
  const taken = new Set();
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
