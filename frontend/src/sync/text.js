/**
 * Text rules shared by every wire: validation, checksums and UTF-16 conversion. The twin of
 * sync/text.py.
 *
 * Every position and length on every wire counts Unicode code points (a Python `str` index).
 * JavaScript strings count UTF-16 code units, so this module is where the two meet: a lone
 * surrogate counts as one code point, as it does in Python and in `Array.from(text)`.
 * @module
 */

import { InvalidText } from "./errors.js";

// XML 1.0 allows TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF. Patches travel
// inside XMPP stanzas, so anything outside that set is refused before it enters a document.
// A JS string holds surrogates in pairs for astral characters, so only unpaired ones are
// forbidden (no `u` flag: the regexp must see code units to find them).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
const FORBIDDEN = new RegExp(
  `[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]|${LONE_SURROGATE.source}`,
);
const SURROGATE = /[\ud800-\udfff]/;

/** @param {number} unit */
const isHigh = (unit) => unit >= 0xd800 && unit <= 0xdbff;
/** @param {number} unit */
const isLow = (unit) => unit >= 0xdc00 && unit <= 0xdfff;

/**
 * Length of `text` in code points (Python's `len`).
 * @param {string} text
 * @returns {number}
 */
export function codepointLength(text) {
  if (!SURROGATE.test(text)) return text.length;
  let length = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if (isHigh(text.charCodeAt(i)) && isLow(text.charCodeAt(i + 1))) {
      length--;
      i++;
    }
  }
  return length;
}

/**
 * The UTF-16 index `count` code points after the UTF-16 index `from`, or -1 if the text ends
 * first. This is how the engine walks JS strings in code points without copying them.
 * @param {string} text
 * @param {number} from
 * @param {number} count
 * @returns {number}
 */
export function advance(text, from, count) {
  let unit = from;
  for (let left = count; left > 0; left--) {
    if (unit >= text.length) return -1;
    unit += isHigh(text.charCodeAt(unit)) && isLow(text.charCodeAt(unit + 1)) ? 2 : 1;
  }
  return unit;
}

/**
 * Finds UTF-16 indexes of code point indexes in one text of `length` code points: by walking
 * from the nearest place already known (the start, the end, or the last index found), so that
 * indexes near each other or near either end cost little. A text whose UTF-16 length is
 * `length` holds no surrogate pair, and needs no walking at all.
 * @param {string} text
 * @param {number} length  `text`'s length in code points (trusted)
 * @param {[number, number]} [known]  a code point index and its UTF-16 index, to walk from
 *   (trusted), such as where the last keystroke was
 * @returns {(cp: number) => number}  -1 for an index outside the text
 */
export function unitIndexer(text, length, [knownCp, knownUnit] = [0, 0]) {
  if (length === text.length) return (cp) => (cp >= 0 && cp <= length ? cp : -1);
  let lastCp = knownCp;
  let lastUnit = knownUnit;
  return (cp) => {
    if (!(cp >= 0 && cp <= length)) return -1;
    let fromCp = 0;
    let fromUnit = 0;
    if (Math.abs(cp - lastCp) < cp) {
      fromCp = lastCp;
      fromUnit = lastUnit;
    }
    if (length - cp < Math.abs(cp - fromCp)) {
      fromCp = length;
      fromUnit = text.length;
    }
    const unit =
      cp >= fromCp ? advance(text, fromUnit, cp - fromCp) : retreat(text, fromUnit, fromCp - cp);
    if (unit >= 0 && cp !== length) {
      lastCp = cp;
      lastUnit = unit;
    }
    return unit;
  };
}

/**
 * The UTF-16 index `count` code points before the UTF-16 index `from`, or -1 if the text
 * starts first: {@link advance} backwards.
 * @param {string} text
 * @param {number} from
 * @param {number} count
 * @returns {number}
 */
function retreat(text, from, count) {
  let unit = from;
  for (let left = count; left > 0; left--) {
    if (unit <= 0) return -1;
    unit -= isLow(text.charCodeAt(unit - 1)) && isHigh(text.charCodeAt(unit - 2)) ? 2 : 1;
  }
  return unit;
}

/**
 * Code point index of the first character a document may not hold, or null.
 * @param {string} text
 * @returns {number | null}
 */
export function findInvalid(text) {
  const match = FORBIDDEN.exec(text);
  return match === null ? null : codepointLength(text.slice(0, match.index));
}

/**
 * `text` without the characters a document may not hold, and how many were taken out (for
 * pasted text, where refusing the whole paste would be worse than dropping a control
 * character). A JavaScript-only helper: the server refuses, it never cleans.
 * @param {string} text
 * @returns {{text: string, removed: number}}
 */
export function removeInvalid(text) {
  let removed = 0;
  const clean = text.replace(new RegExp(FORBIDDEN.source, "g"), () => {
    removed += 1;
    return "";
  });
  return { text: clean, removed };
}

/**
 * Throw {@link InvalidText} naming the first forbidden character and where it is.
 * @param {string} text
 * @param {{what?: string}} [options]  what the text is, for the message
 */
export function validateText(text, { what = "text" } = {}) {
  const index = findInvalid(text);
  if (index !== null) throw invalidAt(text, index, what);
}

/**
 * Throw {@link InvalidText} if `text` has a lone surrogate: UTF-8 cannot encode one (Python
 * raises UnicodeEncodeError; TextEncoder would silently write U+FFFD).
 * @param {string} text
 * @param {{what?: string}} [options]  what the text is, for the message
 */
export function assertWellFormed(text, { what = "text" } = {}) {
  const match = LONE_SURROGATE.exec(text);
  if (match !== null) throw invalidAt(text, codepointLength(text.slice(0, match.index)), what);
}

/**
 * @param {string} text
 * @param {number} index  code point index of the forbidden character
 * @param {string} what
 * @returns {InvalidText}
 */
function invalidAt(text, index, what) {
  const cp = /** @type {number} */ (Array.from(text)[index].codePointAt(0));
  const reason =
    cp >= 0xd800 && cp <= 0xdfff
      ? "is a lone surrogate (half of a UTF-16 pair)"
      : "is not allowed in XML 1.0";
  const hex = cp.toString(16).toUpperCase().padStart(4, "0");
  return new InvalidText(`${what} has U+${hex} at position ${index}, which ${reason}`, {
    position: index,
    codepoint: cp,
  });
}

// -- checksums -----------------------------------------------------------------------------
//
// Version 2, what the sequencer writes: `"<length>:<lane 1, 8 hex><lane 2, 8 hex>"`. Pad the
// text's code points with K - 1 sentinels (0x110000, outside Unicode) at each end; every run of
// K consecutive values of that sequence is a window (a text of n code points has n + K - 1 of
// them, the empty text K - 1 windows of sentinels only). Each window is hashed per lane by a
// polynomial mod 2**32 in that lane's odd base, then mixed by murmur3's fmix32 (without it the
// sum would be linear in the characters, and blind to their order). A lane is the sum of its
// mixed window hashes mod 2**32. An edit changes only the windows that overlap it, so a
// checksum is updated from the text around each change: see docs/protocol.md, "Checksums".
//
// Version 1, in revisions and snapshots written before: `"<length>:<CRC-32 of UTF-8, 8 hex>"`.
// It is still verified (in full), never written.

/** Window length, in code points. */
export const K = 16;
const SENTINEL = 0x110000;
const BASE1 = 0x9e3779b1;
const BASE2 = 0x85ebca77;
/** @param {number} base */
const power = (base) => {
  let p = 1;
  for (let i = 0; i < K; i++) p = Math.imul(p, base);
  return p;
};
const OUT1 = power(BASE1); // what the value leaving a window was multiplied by, once shifted
const OUT2 = power(BASE2);
const V1 = /^[0-9]+:[0-9a-f]{8}$/;
const V2 = /^[0-9]+:[0-9a-f]{16}$/;

/**
 * murmur3's 32-bit finalizer.
 * @param {number} h
 */
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const ring = new Int32Array(K); // the values of the window being rolled

/**
 * Add (`sign` 1) or take out (`sign` -1) the windows that end in a run of values to `lanes`:
 * `before` sentinels, then `count` code points of `text` from the UTF-16 index `unit`, then
 * `after` sentinels. Only windows that lie wholly in the run count: the first ends at its K-th
 * value.
 * @param {Uint32Array} lanes
 * @param {number} sign
 * @param {string} text
 * @param {number} unit
 * @param {number} count
 * @param {number} before
 * @param {number} after
 */
function addWindows(lanes, sign, text, unit, count, before, after) {
  let h1 = 0;
  let h2 = 0;
  let sum1 = 0;
  let sum2 = 0;
  const body = before + count;
  const total = body + after;
  for (let i = 0; i < total; i++) {
    let value = SENTINEL;
    if (i >= before && i < body) {
      value = /** @type {number} */ (text.codePointAt(unit));
      unit += value > 0xffff ? 2 : 1;
    }
    const slot = i & (K - 1);
    const out = ring[slot];
    ring[slot] = value;
    h1 = (Math.imul(h1, BASE1) + value) | 0;
    h2 = (Math.imul(h2, BASE2) + value) | 0;
    if (i >= K) {
      h1 = (h1 - Math.imul(out, OUT1)) | 0;
      h2 = (h2 - Math.imul(out, OUT2)) | 0;
    }
    if (i >= K - 1) {
      sum1 = (sum1 + fmix32(h1)) >>> 0;
      sum2 = (sum2 + fmix32(h2)) >>> 0;
    }
  }
  lanes[0] += sign * sum1;
  lanes[1] += sign * sum2;
}

/**
 * @param {number} length
 * @param {Uint32Array} lanes
 */
const format = (length, lanes) =>
  `${length}:${lanes[0].toString(16).padStart(8, "0")}${lanes[1].toString(16).padStart(8, "0")}`;

/**
 * The version 2 checksum of `text`, computed from scratch. Any string has one, lone surrogates
 * included (as their own code points, as in Python), so that a corrupt copy yields a mismatch.
 * @param {string} text
 * @returns {string}
 */
export function checksum(text) {
  const length = codepointLength(text);
  const lanes = new Uint32Array(2);
  addWindows(lanes, 1, text, 0, length, K - 1, K - 1);
  return format(length, lanes);
}

/**
 * Where `op` changes its text: `[start, end, new start, new end, shift]` per range, in code
 * points of the old and the new text, with `shift` the UTF-16 units the ranges before it added
 * (negative if they removed more). Ranges closer than K - 1 are one range (with the text kept
 * between them), so that no window overlaps two of them.
 * @param {readonly ({retain: number} | {insert: string} | {delete: string})[]} op
 * @returns {[number, number, number, number, number][]}
 */
function changedRanges(op) {
  /** @type {[number, number, number, number, number][]} */
  const ranges = [];
  let old = 0;
  let now = 0;
  let shift = 0;
  /** @type {[number, number, number, number, number] | null} */
  let current = null;
  op.forEach((c, index) => {
    if ("retain" in c) {
      if (current !== null && (c.retain >= K - 1 || index === op.length - 1)) {
        ranges.push(current);
        current = null;
      }
      old += c.retain;
      now += c.retain;
      if (current !== null) {
        current[1] = old;
        current[3] = now;
      }
      return;
    }
    if (current === null) current = [old, old, now, now, shift];
    if ("delete" in c) {
      old += codepointLength(c.delete);
      shift -= c.delete.length;
    } else {
      now += codepointLength(c.insert);
      shift += c.insert.length;
    }
    current[1] = old;
    current[3] = now;
  });
  if (current !== null) ranges.push(current);
  return ranges;
}

/**
 * The version 2 checksum of `newText`, which `op` made from `oldText`, whose version 2 checksum
 * is `oldChecksum`. Costs O(K + size of the change), whatever the text's length: only the
 * windows that overlap a change are taken out (read from the old text) and put in (from the new
 * one). The texts' lengths in code points are taken from `oldChecksum` and `op`, not counted.
 * Positions are found without walking a text that holds no surrogate pair; one that does is
 * walked from its nearer end, or from where `at` (the old text's {@link unitIndexer}) last
 * stopped. Throws RangeError for a checksum of another version.
 * @param {string} oldChecksum
 * @param {string} oldText
 * @param {readonly ({retain: number} | {insert: string} | {delete: string})[]} op
 * @param {string} newText
 * @param {(cp: number) => number} [at]
 * @returns {string}
 */
export function updateChecksum(oldChecksum, oldText, op, newText, at) {
  if (checksumVersion(oldChecksum) !== 2) {
    throw new RangeError(`not a version 2 checksum: ${JSON.stringify(oldChecksum)}`);
  }
  const oldLength = checksumLength(oldChecksum);
  const hex = oldChecksum.slice(-16);
  const lanes = Uint32Array.of(parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8), 16));
  const ranges = changedRanges(op);
  const newLength = ranges.reduce((n, [s, e, ns, ne]) => n + ne - ns - (e - s), oldLength);
  const oldAt = at ?? unitIndexer(oldText, oldLength);
  for (const [start, end, newStart, newEnd, shift] of ranges) {
    // The windows start K - 1 code points before the range, in text kept since the range
    // before (ranges are that far apart), which the new text holds `shift` units further on.
    const first = Math.max(0, start - (K - 1));
    const unit = Math.max(0, oldAt(first));
    const before = first - (start - (K - 1));
    const oldStop = end + K - 1;
    const newStop = newEnd + K - 1;
    const newFirst = first + newStart - start;
    const oldCount = Math.min(oldLength, oldStop) - first;
    const newCount = Math.min(newLength, newStop) - newFirst;
    addWindows(lanes, -1, oldText, unit, oldCount, before, Math.max(0, oldStop - oldLength));
    addWindows(lanes, 1, newText, unit + shift, newCount, before, Math.max(0, newStop - newLength));
  }
  return format(newLength, lanes);
}

// Version 1's CRC-32 table.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

const encoder = new TextEncoder();

/**
 * The UTF-8 bytes of `text`, in pieces. TextEncoder would write U+FFFD for a lone surrogate;
 * Python's checksum encodes with `surrogatepass` (the surrogate's own three bytes), so that a
 * corrupt copy yields a mismatching checksum on both sides rather than a coincidence.
 * @param {string} text
 * @returns {Uint8Array[]}
 */
function utf8SurrogatePass(text) {
  const pieces = [];
  let last = 0;
  for (const match of text.matchAll(LONE_SURROGATES)) {
    pieces.push(encoder.encode(text.slice(last, match.index)));
    const unit = match[0].charCodeAt(0);
    pieces.push(
      Uint8Array.of(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)),
    );
    last = /** @type {number} */ (match.index) + 1;
  }
  pieces.push(encoder.encode(text.slice(last)));
  return pieces;
}

/**
 * `"<length in code points>:<crc32 of the UTF-8 bytes, 8 hex digits>"`: version 1, equal to
 * Python's `checksum_v1` for every string, lone surrogates included.
 * @param {string} text
 * @returns {string}
 */
export function checksumV1(text) {
  let crc = 0xffffffff;
  for (const bytes of utf8SurrogatePass(text)) {
    for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  const hex = ((crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
  return `${codepointLength(text)}:${hex}`;
}

/**
 * 1 or 2 for a well-formed checksum of that version, else null.
 * @param {string} value
 * @returns {1 | 2 | null}
 */
export function checksumVersion(value) {
  if (V2.test(value)) return 2;
  if (V1.test(value)) return 1;
  return null;
}

/**
 * Whether `value` is the checksum of `text`, in whichever version it is written.
 * @param {string} text
 * @param {string} value
 * @returns {boolean}
 */
export function checksumMatches(text, value) {
  const version = checksumVersion(value);
  if (version === 2) return checksum(text) === value;
  if (version === 1) return checksumV1(text) === value;
  return false;
}

/**
 * The length part of a checksum (of either version): the text's length in code points, in
 * ASCII digits only.
 * @param {string} value
 * @returns {number}
 */
export function checksumLength(value) {
  const match = /^([0-9]+):/.exec(value);
  if (match === null) throw new RangeError(`not a checksum: ${JSON.stringify(value)}`);
  return Number(match[1]);
}

/**
 * Translate a code point index into `text` into a UTF-16 code unit index.
 * @param {string} text
 * @param {number} index
 * @returns {number}
 */
export function codepointToUtf16(text, index) {
  const unit = Number.isInteger(index) && index >= 0 ? advance(text, 0, index) : -1;
  if (unit < 0) {
    throw new RangeError(`code point index ${index} outside 0..${codepointLength(text)}`);
  }
  return unit;
}

/**
 * Translate a UTF-16 code unit index into `text` (what an editor such as CodeMirror reports)
 * into a code point index. An index between the two halves of a surrogate pair is an error:
 * it would split a character.
 * @param {string} text
 * @param {number} index
 * @param {[number, number]} [known]  a code point index and its UTF-16 index in `text`
 *   (trusted), to walk from instead of the start: a place near `index` makes this cheap
 * @returns {number}
 */
export function utf16ToCodepoint(text, index, [knownCp, knownUnit] = [0, 0]) {
  if (!Number.isInteger(index)) throw new RangeError(`UTF-16 index ${index} is not an integer`);
  if (index < 0) throw new RangeError(`UTF-16 index ${index} is negative`);
  if (index > text.length) {
    throw new RangeError(`UTF-16 index ${index} outside 0..${text.length}`);
  }
  if (isHigh(text.charCodeAt(index - 1)) && isLow(text.charCodeAt(index))) {
    const position = codepointLength(text.slice(0, index)) - 1;
    throw new RangeError(`UTF-16 index ${index} splits the surrogate pair at ${position}`);
  }
  // Walk from the known place (the start, unless told another) to `index`, counting a
  // surrogate pair once; neither place is inside a pair.
  let cp = knownCp;
  if (index >= knownUnit) {
    for (let unit = knownUnit; unit < index; unit++, cp++) {
      if (isHigh(text.charCodeAt(unit)) && isLow(text.charCodeAt(unit + 1))) unit++;
    }
  } else {
    for (let unit = knownUnit; unit > index; unit--, cp--) {
      if (isLow(text.charCodeAt(unit - 1)) && isHigh(text.charCodeAt(unit - 2))) unit--;
    }
  }
  return cp;
}
