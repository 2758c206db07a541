// Writes src/sync/charclass.js from tests/conformance/vectors/unicode.json (Python's
// str.isalnum and str.isspace as ranges of code points). Run it after the vectors changed
// their Unicode version: `node test-support/write-charclass.js` in frontend/. The conformance
// test checks that the table in src/ is the one in the vectors.
import { readFileSync, writeFileSync } from "node:fs";

const VECTORS = new URL("../../tests/conformance/vectors/unicode.json", import.meta.url);
const TARGET = new URL("../src/sync/charclass.js", import.meta.url);

/**
 * Ranges as base-36 numbers, alternately the gap since the previous range's end and the
 * range's length less one.
 * @param {[number, number][]} ranges
 */
function pack(ranges) {
  const tokens = [];
  let next = 0;
  for (const [start, end] of ranges) {
    tokens.push((start - next).toString(36), (end - start).toString(36));
    next = end + 1;
  }
  return tokens.join(" ");
}

/**
 * Wrap a long string literal at spaces, as concatenated lines.
 * @param {string} text
 */
function wrap(text) {
  const lines = [];
  let line = "";
  for (const token of text.split(" ")) {
    if (line && line.length + token.length + 1 > 88) {
      lines.push(line);
      line = "";
    }
    line += `${token} `;
  }
  lines.push(line.trimEnd());
  return lines.map((l) => `  ${JSON.stringify(l)}`).join(" +\n");
}

const { version, alnum, space } = JSON.parse(readFileSync(VECTORS, "utf8"));
const source = `/**
 * Python's \`str.isalnum\` and \`str.isspace\` for one code point, under Unicode ${version} (the
 * version of the Python that wrote the conformance vectors). sync/merge.py scores word
 * boundaries with them (diff-match-patch's \`diff_cleanupSemanticLossless\`), and the browser's
 * own \`\\p{L}\` or \`\\s\` differ from them in definition and in Unicode version.
 *
 * Written by test-support/write-charclass.js from tests/conformance/vectors/unicode.json; do not
 * edit by hand.
 * @module
 */

export const UNICODE_VERSION = ${JSON.stringify(version)};

// Ranges, as base-36 pairs: the gap since the previous range's end, the length less one.
const ALNUM =
${wrap(pack(alnum))};
const SPACE = ${JSON.stringify(pack(space))};

/**
 * The first code point of every range, then one past its last, in one sorted array.
 * @param {string} packed
 * @returns {Uint32Array}
 */
function unpack(packed) {
  const numbers = packed.split(" ").map((token) => parseInt(token, 36));
  const bounds = new Uint32Array(numbers.length);
  let next = 0;
  for (let i = 0; i < numbers.length; i += 2) {
    bounds[i] = next + numbers[i];
    bounds[i + 1] = bounds[i] + numbers[i + 1] + 1;
    next = bounds[i + 1];
  }
  return bounds;
}

const ALNUM_BOUNDS = unpack(ALNUM);
const SPACE_BOUNDS = unpack(SPACE);

/**
 * @param {Uint32Array} bounds
 * @param {number} cp
 */
function within(bounds, cp) {
  // The number of bounds at or below cp is odd exactly inside a range.
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid] <= cp) lo = mid + 1;
    else hi = mid;
  }
  return (lo & 1) === 1;
}

/**
 * Python's \`chr(cp).isalnum()\`.
 * @param {number} cp
 */
export const isAlnum = (cp) => within(ALNUM_BOUNDS, cp);

/**
 * Python's \`chr(cp).isspace()\`.
 * @param {number} cp
 */
export const isSpace = (cp) => within(SPACE_BOUNDS, cp);

/**
 * The table as [first, last] ranges, for the conformance test.
 * @param {"alnum" | "space"} name
 * @returns {[number, number][]}
 */
export function ranges(name) {
  const bounds = name === "alnum" ? ALNUM_BOUNDS : SPACE_BOUNDS;
  /** @type {[number, number][]} */
  const out = [];
  for (let i = 0; i < bounds.length; i += 2) out.push([bounds[i], bounds[i + 1] - 1]);
  return out;
}
`;
writeFileSync(TARGET, source);
console.error(`wrote ${TARGET.pathname} (Unicode ${version})`);
