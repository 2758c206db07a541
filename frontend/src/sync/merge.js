/**
 * Carrying local changes onto a text whose history in between is unknown, and finding the
 * change between two texts by diffing. The twin of sync/merge.py.
 *
 * A client that was away too long gets a snapshot instead of the revisions it missed, so its
 * unconfirmed changes cannot be rebased exactly. They are placed with diff-match-patch's fuzzy
 * matching instead. A hunk that matches nothing keeps its inserted text (at the position it was
 * expected), but not its deletions: deleting text nobody can find is how words get lost.
 *
 * The JavaScript diff-match-patch works in UTF-16 units and the Python one in code points. So
 * that both see the same sequence, texts are first *narrowed*: every astral character becomes
 * a private-use character that none of the texts contain, and is turned back afterwards. Then
 * diffs match Python's exactly (`diff_main` compares characters only), no result can hold half
 * of a surrogate pair, and positions are code points. Fuzzy placement can still differ from
 * Python's in rare cases (the two ports score word boundaries differently outside ASCII); that
 * is acceptable because a merge is local to one client, and what it produces is sent as an
 * ordinary exact edit.
 * @module
 */

import { diff_match_patch } from "@dmsnell/diff-match-patch";
import * as ops from "./ops.js";
import { DIFF_INSERT } from "./ops.js";
import { makePatch } from "./patches.js";
import { codepointLength, codepointToUtf16 } from "./text.js";

const PAIR = /[\ud800-\udbff][\udc00-\udfff]/g;
const PRIVATE_USE = /[\ue000-\uf8ff]/g;
const PRIVATE_USE_END = 0xf8ff;
const PADDING = /[\x01-\x04]/; // patch_apply's padding, for Patch_Margin 4

/** @typedef {{encode: (text: string) => string, decode: (text: string) => string}} Narrowing */

/**
 * A two-way mapping that makes every code point of `texts` one UTF-16 unit, or null when the
 * texts use more distinct astral characters than there are free private-use characters
 * (6400 less those the texts use themselves).
 * @param {readonly string[]} texts
 * @returns {Narrowing | null}
 */
function narrowing(texts) {
  /** @type {Map<string, string>} */
  const narrow = new Map();
  /** @type {Set<string>} */
  const taken = new Set();
  for (const text of texts) {
    for (const [pair] of text.matchAll(PAIR)) narrow.set(pair, "");
    for (const [unit] of text.matchAll(PRIVATE_USE)) taken.add(unit);
  }
  if (narrow.size === 0) return { encode: (text) => text, decode: (text) => text };
  /** @type {Map<string, string>} */
  const wide = new Map();
  let next = 0xe000;
  for (const pair of narrow.keys()) {
    while (next <= PRIVATE_USE_END && taken.has(String.fromCharCode(next))) next++;
    if (next > PRIVATE_USE_END) return null;
    const unit = String.fromCharCode(next++);
    narrow.set(pair, unit);
    wide.set(unit, pair);
  }
  return {
    encode: (text) => text.replace(PAIR, (pair) => /** @type {string} */ (narrow.get(pair))),
    decode: (text) => text.replace(PRIVATE_USE, (unit) => wide.get(unit) ?? unit),
  };
}

/**
 * `target` with `changes` (an operation on `base`) placed on it as well as possible.
 * @param {string} base
 * @param {ops.Op} changes
 * @param {string} target
 * @returns {string}
 */
export function mergeOnto(base, changes, target) {
  const hunks = makePatch(base, changes);
  const narrow = narrowing([target, ...hunks.flatMap((hunk) => hunk.diffs.map(([, d]) => d))]);
  if (narrow === null || !hunks.length) {
    // Without a narrowing (thousands of distinct astral characters) nothing is placed
    // fuzzily: the inserts are kept and the deletions dropped, which loses no one's text.
    return keepInserts(target, hunks);
  }
  const dmp = new diff_match_patch();
  // As the Python twin's fuzzy_apply: stricter than the port's default threshold (0.5),
  // because a loose match edits the wrong words.
  dmp.Match_Threshold = 0.35;
  dmp.Match_Distance = 5000;
  // Hunk positions count code points, which are exactly the narrowed text's units.
  const patches = hunks.map((hunk) =>
    Object.assign(new diff_match_patch.patch_obj(), {
      diffs: hunk.diffs.map(([kind, data]) => new diff_match_patch.Diff(kind, narrow.encode(data))),
      start1: hunk.start1,
      start2: hunk.start2,
      length1: hunk.length1,
      length2: hunk.length2,
    }),
  );
  // patch_apply pads the text, then splits every hunk longer than Match_MaxBits into pieces
  // and reports each piece. Doing the same to a copy tells which report is which piece.
  const pieces = dmp.patch_deepCopy(patches);
  const padding = dmp.patch_addPadding(pieces).length;
  const split = pieces.flatMap((patch) => {
    const parts = [patch];
    dmp.patch_splitMax(parts);
    return parts;
  });
  const [narrowed, placed] = dmp.patch_apply(patches, narrow.encode(target));
  if (PADDING.test(narrowed)) {
    // patch_apply pads the text with U+0001..U+0004 and cuts the padding off by length; a
    // hunk placed over the edge leaves some behind (and has eaten real text instead). No
    // document holds those characters, so their presence proves the placement wrong.
    return keepInserts(target, hunks);
  }
  if (placed.length !== split.length) {
    throw new Error(`diff-match-patch reported ${placed.length} pieces, expected ${split.length}`);
  }
  const unplaced = split
    .filter((_, index) => !placed[index])
    .map((piece) => ({
      start2: /** @type {number} */ (piece.start2) - padding,
      diffs: piece.diffs.map((d) => /** @type {[number, string]} */ ([d[0], narrow.decode(d[1])])),
    }));
  return keepInserts(narrow.decode(narrowed), unplaced);
}

/**
 * A hunk, or a piece of one, that matched nothing.
 * @typedef {{start2: number, diffs: [number, string][]}} Unplaced
 */

/**
 * `text` with the inserted text of every unplaced hunk put where the hunk was expected.
 * @param {string} text
 * @param {readonly Unplaced[]} unplaced
 * @returns {string}
 */
function keepInserts(text, unplaced) {
  let result = text;
  for (const hunk of unplaced) {
    const inserted = hunk.diffs
      .filter(([kind]) => kind === DIFF_INSERT)
      .map(([, data]) => data)
      .join("");
    if (inserted) {
      const length = codepointLength(result);
      const at = codepointToUtf16(result, Math.max(0, Math.min(length, hunk.start2)));
      result = result.slice(0, at) + inserted + result.slice(at);
    }
  }
  return result;
}

/**
 * The operation turning `oldText` into `newText`, found by diffing (for rare paths only).
 * @param {string} oldText
 * @param {string} newText
 * @returns {ops.Op}
 */
export function changesBetween(oldText, newText) {
  const dmp = new diff_match_patch();
  dmp.Diff_Timeout = 1.0;
  const narrow = narrowing([oldText, newText]);
  if (narrow === null) {
    // Diff the UTF-16 units, then move split pairs whole into one side of each boundary.
    const diffs = dmp.diff_main(oldText, newText, false);
    dmp.diff_cleanupSplitSurrogates(diffs);
    return ops.fromDiffs(diffs);
  }
  const diffs = dmp.diff_main(narrow.encode(oldText), narrow.encode(newText), false);
  return ops.fromDiffs(diffs.map((d) => /** @type {const} */ ([d[0], narrow.decode(d[1])])));
}
