/**
 * Words and characters, for the status bar.
 * @module
 */

import { codepointLength } from "../sync/text.js";

const WORD = /[^\s]+/gu;

/**
 * Words are runs of anything but white space; characters are code points (what the server
 * counts), so "😀" is one.
 * @param {string} text
 * @returns {{words: number, characters: number}}
 */
export function countText(text) {
  let words = 0;
  WORD.lastIndex = 0;
  while (WORD.exec(text) !== null) words++;
  return { words, characters: codepointLength(text) };
}

/**
 * @param {{words: number, characters: number}} counts
 * @param {string} [locale]
 */
export function countsText({ words, characters }, locale) {
  const number = new Intl.NumberFormat(locale);
  const w = `${number.format(words)} ${words === 1 ? "word" : "words"}`;
  const c = `${number.format(characters)} ${characters === 1 ? "character" : "characters"}`;
  return `${w} · ${c}`;
}
