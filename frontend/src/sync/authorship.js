/**
 * Authorship ("blame"): who wrote each character, carried through changes. The twin of
 * sync/authorship.py.
 *
 * An `Attribution` holds one author per position of a text as merged segments (length,
 * author); `null` is an unknown author (text from before the log). It counts whatever unit
 * its changes are given in: the server's runs and the engine's operations are in code
 * points; the page, which follows CodeMirror, converts them once to UTF-16 units
 * (`runsToUtf16`) and then applies CodeMirror's changes as they are.
 * @module
 */

import { codepointLength } from "./text.js";

/** @typedef {string | null} Author */
/** @typedef {[number, number, Author]} Run  start, length, author */

export class Attribution {
  /**
   * @param {number} [length]  a text of this length...
   * @param {Author} [author]  ...all by this author
   */
  constructor(length = 0, author = null) {
    /** @type {number[]} */
    this.lengths = length > 0 ? [length] : [];
    /** @type {Author[]} */
    this.authors = length > 0 ? [author] : [];
    this.length = Math.max(0, length);
  }

  /**
   * Rebuild from runs covering a text from 0 with no gap (as `runs()` and the REST API give).
   * @param {readonly Run[]} runs
   */
  static fromRuns(runs) {
    const made = new Attribution();
    for (const [start, length, author] of runs) {
      if (start !== made.length || !(length >= 0)) {
        throw new RangeError(`runs must be contiguous: ${start} after ${made.length}`);
      }
      made.#push(length, author);
    }
    return made;
  }

  copy() {
    const made = new Attribution();
    made.lengths = this.lengths.slice();
    made.authors = this.authors.slice();
    made.length = this.length;
    return made;
  }

  /**
   * @param {number} length
   * @param {Author} author
   */
  #push(length, author) {
    if (length <= 0) return;
    const last = this.authors.length - 1;
    if (last >= 0 && this.authors[last] === author) this.lengths[last] += length;
    else {
      this.lengths.push(length);
      this.authors.push(author);
    }
    this.length += length;
  }

  /**
   * Replace `[from, to)` with `inserted` positions by `author`.
   * @param {number} from
   * @param {number} to
   * @param {number} inserted
   * @param {Author} author
   */
  replace(from, to, inserted, author) {
    if (!(0 <= from && from <= to && to <= this.length)) {
      throw new RangeError(`[${from}, ${to}) is outside a text of ${this.length}`);
    }
    const { lengths, authors } = this;
    this.lengths = [];
    this.authors = [];
    this.length = 0;
    let at = 0;
    let i = 0;
    // Everything before `from`.
    for (; i < lengths.length && at + lengths[i] <= from; i++) {
      this.#push(lengths[i], authors[i]);
      at += lengths[i];
    }
    if (i < lengths.length && at < from) this.#push(from - at, authors[i]);
    this.#push(inserted, author);
    // Skip to `to`, then everything after it.
    for (; i < lengths.length && at + lengths[i] <= to; i++) at += lengths[i];
    if (i < lengths.length) {
      this.#push(at + lengths[i] - to, authors[i]);
      for (i++; i < lengths.length; i++) this.#push(lengths[i], authors[i]);
    }
  }

  /**
   * Carry the attribution through an engine operation (code points), whose inserted text is
   * `author`'s.
   * @param {import("./ops.js").Op} op
   * @param {Author} author
   */
  applyOp(op, author) {
    // Applied from the end, so each component's position is still that of the base text.
    /** @type {[number, number, number][]} */
    const edits = [];
    let position = 0;
    for (const component of op) {
      if ("retain" in component) position += component.retain;
      else if ("delete" in component) {
        const n = codepointLength(component.delete);
        edits.push([position, position + n, 0]);
        position += n;
      } else edits.push([position, position, codepointLength(component.insert)]);
    }
    if (position !== this.length) {
      throw new RangeError(`the operation spans ${position} code points, the text ${this.length}`);
    }
    for (const [from, to, inserted] of edits.reverse()) this.replace(from, to, inserted, author);
  }

  /**
   * The runs covering `[start, end)` (clamped to the text), cut at its edges.
   * @param {number} [start]
   * @param {number} [end]
   * @returns {Run[]}
   */
  runs(start = 0, end = this.length) {
    const stop = Math.min(end, this.length);
    /** @type {Run[]} */
    const found = [];
    let at = 0;
    for (let i = 0; i < this.lengths.length && at < stop; i++) {
      const lo = Math.max(at, start);
      const hi = Math.min(at + this.lengths[i], stop);
      if (hi > lo) found.push([lo, hi - lo, this.authors[i]]);
      at += this.lengths[i];
    }
    return found;
  }

  /**
   * Give `from`'s text to `to` (the page learns the name the server records it under).
   * @param {Author} from
   * @param {Author} to
   */
  rename(from, to) {
    const runs = this.runs().map(([s, n, a]) => /** @type {Run} */ ([s, n, a === from ? to : a]));
    const renamed = Attribution.fromRuns(runs);
    this.lengths = renamed.lengths;
    this.authors = renamed.authors;
  }

  /** Everyone named, in order of first place. */
  names() {
    return [...new Set(this.authors.filter((a) => a !== null))];
  }
}

/**
 * Code point runs of `text` as UTF-16 runs (one pass over the text).
 * @param {readonly Run[]} runs
 * @param {string} text
 * @returns {Run[]}
 */
export function runsToUtf16(runs, text) {
  /** @type {Run[]} */
  const converted = [];
  let unit = 0;
  for (const [, length, author] of runs) {
    const start = unit;
    for (let n = 0; n < length && unit < text.length; n++) {
      const high = text.charCodeAt(unit);
      const low = text.charCodeAt(unit + 1); // NaN past the end
      unit += high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
    }
    converted.push([start, unit - start, author]);
  }
  return converted;
}
