/**
 * Finding the change between two texts by diffing, and carrying local changes onto a text
 * whose history in between is unknown. The twin of sync/merge.py.
 *
 * A client that was away too long gets a snapshot instead of the revisions it missed, so its
 * unconfirmed changes cannot be rebased over those revisions one by one. Instead this is a
 * three-way merge: the difference between the text the changes were made on and the snapshot is
 * found by diffing, and the changes are transformed over it exactly as over any revision. Every
 * insertion survives (transformation never drops one), deletions of text that is still there
 * apply, and the result is the one Python computes.
 *
 * The JavaScript diff-match-patch works in UTF-16 units and the Python one in code points. So
 * that both see the same sequence, texts are first *narrowed*: every astral character becomes
 * a BMP character that none of the texts contain (private use first), and is turned back
 * afterwards. Then `diff_main`, which only compares characters, gives exactly Python's diffs,
 * no result can hold half of a surrogate pair, and positions are code points. The cleanup that
 * slides changes to word boundaries is our own port of Python's, because it looks at what the
 * characters are: it scores the real (un-narrowed) characters with Python's `str.isalnum` and
 * `str.isspace` (see charclass.js).
 * @module
 */

import { diff_match_patch } from "@dmsnell/diff-match-patch";
import { isAlnum, isSpace } from "./charclass.js";
import * as ops from "./ops.js";
import { DIFF_EQUAL } from "./ops.js";

const PAIR = /[\ud800-\udbff][\udc00-\udfff]/g;
// Where narrowed characters are taken from, in this order: private use, then the rest of the
// BMP above Latin-1, except surrogates. A text with more distinct characters than that (over
// 63 000) is diffed in UTF-16 units instead.
const POOL = [
  [0xe000, 0xf8ff],
  [0x0100, 0xd7ff],
  [0xf900, 0xffff],
];
const PRIVATE_USE = /[\ue000-\uf8ff]/g;
const ANY_OF_POOL = /[\u0100-\ud7ff\ue000-\uffff]/g;
const LF = 0x0a;
const CR = 0x0d;

/**
 * A two-way mapping that makes every code point one UTF-16 unit, and tells which code point a
 * unit stands for.
 * @typedef {{encode: (text: string) => string, decode: (text: string) => string,
 *   codePoint: (unit: string) => number}} Narrowing
 */

/** @type {Narrowing} */
const UNITS = {
  encode: (text) => text,
  decode: (text) => text,
  codePoint: (unit) => unit.charCodeAt(0),
};

/**
 * The narrowing of `texts`, or null when they use more distinct characters than the BMP
 * has room for.
 * @param {readonly string[]} texts
 * @returns {Narrowing | null}
 */
function narrowing(texts) {
  /** @type {Map<string, string>} */
  const narrow = new Map();
  for (const text of texts) for (const [pair] of text.matchAll(PAIR)) narrow.set(pair, "");
  if (narrow.size === 0) return UNITS;
  const used = new Uint8Array(0x10000);
  for (const text of texts) for (let i = 0; i < text.length; i++) used[text.charCodeAt(i)] = 1;
  /** @type {Map<string, string>} */
  const wide = new Map();
  const pairs = narrow.keys();
  let next = pairs.next();
  let privateOnly = true;
  for (const [first, last] of POOL) {
    for (let unit = first; unit <= last && !next.done; unit++) {
      if (used[unit]) continue;
      const char = String.fromCharCode(unit);
      narrow.set(next.value, char);
      wide.set(char, next.value);
      privateOnly &&= unit <= 0xf8ff && unit >= 0xe000;
      next = pairs.next();
    }
  }
  if (!next.done) return null;
  const substitutes = privateOnly ? PRIVATE_USE : ANY_OF_POOL;
  return {
    encode: (text) => text.replace(PAIR, (pair) => /** @type {string} */ (narrow.get(pair))),
    decode: (text) => text.replace(substitutes, (unit) => wide.get(unit) ?? unit),
    codePoint: (unit) => /** @type {number} */ ((wide.get(unit) ?? unit).codePointAt(0)),
  };
}

/**
 * The number of units common to the end of both strings.
 * @param {string} a
 * @param {string} b
 */
function commonSuffix(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i)) i++;
  return i;
}

/**
 * diff-match-patch's `diff_cleanupSemanticLossless` as the Python port runs it: slide every
 * single edit between two equalities to the best-scoring word boundary. The JavaScript port's
 * own version scores only ASCII letters and digits as word characters and uses JavaScript's
 * `\s`, so it would slide differently from Python around non-ASCII text.
 * @param {[number, string][]} diffs  on narrowed text; changed in place
 * @param {Narrowing} narrowed  what each unit stands for
 */
function cleanupSemanticLossless(diffs, narrowed) {
  const { codePoint } = narrowed;
  /** @param {string} text @param {number} i */
  const at = (text, i) => (i >= 0 && i < text.length ? codePoint(text[i]) : -1);
  // Python's BLANKLINEEND (\n\r?\n$) and BLANKLINESTART (^\r?\n\r?\n).
  /** @param {string} text */
  const endsBlank = (text) => {
    const n = text.length;
    if (at(text, n - 1) !== LF) return false;
    return at(text, n - 2) === LF || (at(text, n - 2) === CR && at(text, n - 3) === LF);
  };
  /** @param {string} text */
  const startsBlank = (text) => {
    let i = at(text, 0) === CR ? 1 : 0;
    if (at(text, i) !== LF) return false;
    i += at(text, i + 1) === CR ? 2 : 1;
    return at(text, i) === LF;
  };
  /**
   * From 6 (best) to 0: how well the boundary between `one` and `two` falls on a logical one.
   * @param {string} one
   * @param {string} two
   */
  const score = (one, two) => {
    if (!one || !two) return 6; // edges are the best
    const char1 = at(one, one.length - 1);
    const char2 = at(two, 0);
    const nonAlphaNumeric1 = !isAlnum(char1);
    const nonAlphaNumeric2 = !isAlnum(char2);
    const whitespace1 = nonAlphaNumeric1 && isSpace(char1);
    const whitespace2 = nonAlphaNumeric2 && isSpace(char2);
    const lineBreak1 = whitespace1 && (char1 === CR || char1 === LF);
    const lineBreak2 = whitespace2 && (char2 === CR || char2 === LF);
    const blankLine1 = lineBreak1 && endsBlank(one);
    const blankLine2 = lineBreak2 && startsBlank(two);
    if (blankLine1 || blankLine2) return 5;
    if (lineBreak1 || lineBreak2) return 4;
    if (nonAlphaNumeric1 && !whitespace1 && whitespace2) return 3; // end of a sentence
    if (whitespace1 || whitespace2) return 2;
    if (nonAlphaNumeric1 || nonAlphaNumeric2) return 1;
    return 0;
  };

  let pointer = 1;
  // The first and last diffs need no checking.
  while (pointer < diffs.length - 1) {
    if (diffs[pointer - 1][0] === DIFF_EQUAL && diffs[pointer + 1][0] === DIFF_EQUAL) {
      let equality1 = diffs[pointer - 1][1];
      let edit = diffs[pointer][1];
      let equality2 = diffs[pointer + 1][1];
      // First, shift the edit as far left as possible.
      const common = commonSuffix(equality1, edit);
      if (common) {
        const commonString = edit.slice(edit.length - common);
        equality1 = equality1.slice(0, equality1.length - common);
        edit = commonString + edit.slice(0, edit.length - common);
        equality2 = commonString + equality2;
      }
      // Then step right one character at a time, keeping the best fit (the last of equals).
      let bestEquality1 = equality1;
      let bestEdit = edit;
      let bestEquality2 = equality2;
      let bestScore = score(equality1, edit) + score(edit, equality2);
      while (edit && equality2 && edit[0] === equality2[0]) {
        equality1 += edit[0];
        edit = edit.slice(1) + equality2[0];
        equality2 = equality2.slice(1);
        const fit = score(equality1, edit) + score(edit, equality2);
        if (fit >= bestScore) {
          bestScore = fit;
          bestEquality1 = equality1;
          bestEdit = edit;
          bestEquality2 = equality2;
        }
      }
      if (diffs[pointer - 1][1] !== bestEquality1) {
        if (bestEquality1) {
          diffs[pointer - 1][1] = bestEquality1;
        } else {
          diffs.splice(pointer - 1, 1);
          pointer--;
        }
        diffs[pointer][1] = bestEdit;
        if (bestEquality2) {
          diffs[pointer + 1][1] = bestEquality2;
        } else {
          diffs.splice(pointer + 1, 1);
          pointer--;
        }
      }
    }
    pointer++;
  }
}

/**
 * The operation turning `oldText` into `newText`, found by diffing (for rare paths only):
 * `diff_main` without line mode, with a one-second budget, then each change slid to a word
 * boundary without changing what it does, so that "one two three" -> "one three" deletes
 * "two ", not "wo t". A merge transforms other changes over this one, and they should meet it
 * where a person would.
 * @param {string} oldText
 * @param {string} newText
 * @returns {ops.Op}
 */
export function changesBetween(oldText, newText) {
  const dmp = new diff_match_patch();
  dmp.Diff_Timeout = 1.0;
  const narrow = narrowing([oldText, newText]);
  if (narrow === null) {
    // Diff the UTF-16 units, and move split pairs whole into one side of each boundary,
    // before and after sliding (which may split one again).
    /** @type {[number, string][]} */
    const diffs = dmp.diff_main(oldText, newText, false).map((d) => [d[0], d[1]]);
    dmp.diff_cleanupSplitSurrogates(diffs);
    cleanupSemanticLossless(diffs, UNITS);
    dmp.diff_cleanupSplitSurrogates(diffs);
    return ops.fromDiffs(diffs);
  }
  const encoded = dmp.diff_main(narrow.encode(oldText), narrow.encode(newText), false);
  /** @type {[number, string][]} */
  const diffs = encoded.map((d) => [d[0], d[1]]);
  cleanupSemanticLossless(diffs, narrow);
  return ops.fromDiffs(diffs.map(([kind, text]) => [kind, narrow.decode(text)]));
}

/**
 * `changes` (an operation on `base`) as an operation on `target`. Where the changes and the
 * difference from `base` to `target` insert at one position, the text already in `target`
 * comes first.
 * @param {string} base
 * @param {ops.Op} changes
 * @param {string} target
 * @returns {ops.Op}
 */
export function rebaseOnto(base, changes, target) {
  return ops.transform(changes, changesBetween(base, target));
}

/**
 * `target` with `changes` (an operation on `base`) merged in.
 * @param {string} base
 * @param {ops.Op} changes
 * @param {string} target
 * @returns {string}
 */
export function mergeOnto(base, changes, target) {
  return ops.apply(target, rebaseOnto(base, changes, target));
}
