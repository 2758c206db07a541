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
 * `"<length in code points>:<crc32 of the UTF-8 bytes, 8 hex digits>"`, equal to Python's
 * `checksum` for every string, lone surrogates included.
 * @param {string} text
 * @returns {string}
 */
export function checksum(text) {
  let crc = 0xffffffff;
  for (const bytes of utf8SurrogatePass(text)) {
    for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  const hex = ((crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
  return `${codepointLength(text)}:${hex}`;
}

/**
 * The length part of a checksum: the text's length in code points, in ASCII digits only.
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
 * @returns {number}
 */
export function utf16ToCodepoint(text, index) {
  if (!Number.isInteger(index)) throw new RangeError(`UTF-16 index ${index} is not an integer`);
  if (index < 0) throw new RangeError(`UTF-16 index ${index} is negative`);
  if (index > text.length) {
    throw new RangeError(`UTF-16 index ${index} outside 0..${text.length}`);
  }
  const before = text.slice(0, index);
  if (isHigh(text.charCodeAt(index - 1)) && isLow(text.charCodeAt(index))) {
    const position = codepointLength(before) - 1;
    throw new RangeError(`UTF-16 index ${index} splits the surrogate pair at ${position}`);
  }
  return codepointLength(before);
}
