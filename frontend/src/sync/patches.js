/**
 * diff-match-patch patches in text form, with positions in code points. The twin of
 * sync/patches.py.
 *
 * The wire form of every revision is the text that diff-match-patch's `patch_toText` emits:
 * hunks under a unified-diff header (`-a,b +c,d` between double at-signs) and `%xx`-escaped
 * UTF-8 lines. No JavaScript port can be used for this (they count UTF-16 units, throw
 * URIError on split pairs, or drop surrogates: see docs/js-dmp-ports.md), so this module
 * reads and writes the form itself, byte for byte as the Python twin does. The reader is
 * strict: bad escapes, bad UTF-8, lone surrogates and XML-forbidden characters are errors.
 *
 * Hunks use diff-match-patch's *rolling* coordinates: each hunk's start is a position in the
 * text as left by the hunks before it. {@link makePatch} reproduces `patch_make(text, diffs)`
 * exactly, and {@link opFromPatch} turns hunks back into an exact operation.
 * @module
 */

import { MalformedPatch, PatchRejected } from "./errors.js";
import * as ops from "./ops.js";
import { DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT } from "./ops.js";
import { assertWellFormed, codepointLength, unitIndexer, validateText } from "./text.js";

const PATCH_MARGIN = 4; // diff-match-patch's Patch_Margin
const MATCH_MAX_BITS = 32; // diff-match-patch's Match_MaxBits
// How far (in code points) either side of a hunk its context must be unique: as in Python's
// `sync/patches.py` (`CONTEXT_RADIUS`), which says why.
const CONTEXT_RADIUS = 2048;

/**
 * One hunk; every number counts code points.
 * @typedef {{start1: number, length1: number, start2: number, length2: number,
 *   diffs: [number, string][]}} Hunk
 */

/**
 * Context text a patch expects: at `position` of its base text, or (`inResult`) of the
 * patched text, for context that overlaps what an earlier hunk of the patch wrote.
 * @typedef {{position: number, text: string, inResult: boolean}} ContextCheck
 */

// The bytes diff-match-patch leaves unescaped: those JavaScript's encodeURI keeps (which are
// Python's `quote` defaults plus "!~*'();/?:@&=+$,#"), and the space. Everything else becomes
// an uppercase %XX, as Python's `quote` writes it.
const SAFE = new Set(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!*'();/?:@&=+$,# ",
);
const ESCAPED = Array.from({ length: 256 }, (_, byte) =>
  byte < 0x80 && SAFE.has(String.fromCharCode(byte))
    ? String.fromCharCode(byte)
    : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`,
);
// At most 16 digits a number, as in Python's sync/patches.py.
const HEADER = /^@@ -([0-9]{1,16}),?([0-9]{0,16}) \+([0-9]{1,16}),?([0-9]{0,16}) @@$/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const LINE_KINDS = new Map([
  ["+", DIFF_INSERT],
  ["-", DIFF_DELETE],
  [" ", DIFF_EQUAL],
]);

const encoder = new TextEncoder();
// `ignoreBOM` keeps a leading U+FEFF: it is text, and Python's decoder keeps it too.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * @param {string} text
 * @returns {string}
 */
function escape(text) {
  assertWellFormed(text, { what: "patch text" });
  let out = "";
  for (const byte of encoder.encode(text)) out += ESCAPED[byte];
  return out;
}

/**
 * @param {number} start
 * @param {number} length
 * @returns {string}
 */
function coords(start, length) {
  if (length === 0) return `${start},0`;
  if (length === 1) return String(start + 1);
  return `${start + 1},${length}`;
}

/**
 * The `patch_toText` form of `hunks`.
 * @param {readonly Hunk[]} hunks
 * @returns {string}
 */
export function formatPatch(hunks) {
  const out = [];
  for (const hunk of hunks) {
    out.push(`@@ -${coords(hunk.start1, hunk.length1)} +${coords(hunk.start2, hunk.length2)} @@\n`);
    for (const [kind, text] of hunk.diffs) {
      const sign = kind === DIFF_INSERT ? "+" : kind === DIFF_DELETE ? "-" : " ";
      out.push(`${sign}${escape(text)}\n`);
    }
  }
  return out.join("");
}

/**
 * @param {string} line
 * @param {number} number
 * @returns {string}
 */
function decodeLine(line, number) {
  // Raw (unescaped) text is tolerated, as diff-match-patch's own reader does, but it must be
  // valid on its own, and is checked first, as in Python: a lone surrogate cannot even be
  // turned into bytes.
  validateText(line, { what: `patch line ${number}` });
  if (BAD_ESCAPE.test(line)) {
    throw new MalformedPatch(`patch line ${number}: '%' not followed by two hex digits`);
  }
  // Raw characters stand for themselves, as in Python's `unquote_to_bytes`. Decoding each run
  // of escapes on its own is equivalent to decoding the whole line's bytes, because a raw
  // character never continues a multi-byte sequence.
  const text = line.replace(ESCAPE_RUN, (run) => {
    const bytes = Uint8Array.from(run.slice(1).split("%"), (hex) => parseInt(hex, 16));
    try {
      return decoder.decode(bytes);
    } catch {
      throw new MalformedPatch(`patch line ${number}: escaped bytes are not UTF-8`);
    }
  });
  validateText(text, { what: `patch line ${number}` });
  return text;
}

/**
 * @param {string} start
 * @param {string} length
 * @returns {[number, number]}
 */
function parseCoords(start, length) {
  if (length === "") return [Number(start) - 1, 1];
  if (length === "0") return [Number(start), 0];
  return [Number(start) - 1, Number(length)];
}

/**
 * Read `patch_toText` output strictly (see the module comment).
 * @param {string} text
 * @returns {Hunk[]}
 */
export function parsePatch(text) {
  /** @type {Hunk[]} */
  const hunks = [];
  if (!text) return hunks;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  /** @type {Hunk | null} */
  let hunk = null;
  lines.forEach((line, i) => {
    const number = i + 1;
    if (line.startsWith("@@")) {
      const match = HEADER.exec(line);
      if (match === null) {
        throw new MalformedPatch(
          `patch line ${number}: bad hunk header ${JSON.stringify(line.slice(0, 80))}`,
        );
      }
      const [start1, length1] = parseCoords(match[1], match[2]);
      const [start2, length2] = parseCoords(match[3], match[4]);
      if (start1 < 0 || start2 < 0) {
        throw new MalformedPatch(`patch line ${number}: positions start at 1`);
      }
      hunk = { start1, length1, start2, length2, diffs: [] };
      hunks.push(hunk);
      return;
    }
    if (hunk === null) {
      throw new MalformedPatch(`patch line ${number}: text before the first '@@' header`);
    }
    if (!line) throw new MalformedPatch(`patch line ${number}: empty line inside a hunk`);
    const kind = LINE_KINDS.get(line[0]);
    if (kind === undefined) {
      throw new MalformedPatch(
        `patch line ${number}: unknown line kind ${JSON.stringify(line[0])}`,
      );
    }
    hunk.diffs.push([kind, decodeLine(line.slice(1), number)]);
  });
  hunks.forEach((h, index) => {
    let length1 = 0;
    let length2 = 0;
    for (const [kind, data] of h.diffs) {
      const length = codepointLength(data);
      if (kind !== DIFF_INSERT) length1 += length;
      if (kind !== DIFF_DELETE) length2 += length;
    }
    if (length1 !== h.length1 || length2 !== h.length2) {
      throw new MalformedPatch(
        `hunk ${index + 1}: header says ${h.length1}/${h.length2} characters ` +
          `but its lines hold ${length1}/${length2}`,
      );
    }
  });
  return hunks;
}

/**
 * Code point slice of a text held as an array of code points.
 * @param {readonly string[]} chars
 * @param {number} start
 * @param {number} end
 */
const slice = (chars, start, end) => chars.slice(Math.max(0, start), end).join("");

/**
 * diff-match-patch's `patch_addContext`: grow context until unique (within CONTEXT_RADIUS
 * code points either side of the hunk), then pad.
 * @param {Hunk} hunk
 * @param {readonly string[]} chars  the text as code points
 */
function addContext(hunk, chars) {
  if (!chars.length) return;
  const start = hunk.start2;
  const length = hunk.length1;
  let pattern = slice(chars, start, start + length);
  let padding = 0;
  const limit = MATCH_MAX_BITS - PATCH_MARGIN - PATCH_MARGIN;
  // Searching the UTF-16 string finds exactly the code point matches: the pattern is made of
  // whole characters, so it can only match where whole characters start.
  const region = slice(chars, start - CONTEXT_RADIUS, start + length + CONTEXT_RADIUS);
  while (
    region.indexOf(pattern) !== region.lastIndexOf(pattern) &&
    codepointLength(pattern) < limit
  ) {
    padding += PATCH_MARGIN;
    pattern = slice(chars, start - padding, start + length + padding);
  }
  padding += PATCH_MARGIN;
  const prefix = slice(chars, start - padding, start);
  if (prefix) hunk.diffs.unshift([DIFF_EQUAL, prefix]);
  const suffix = slice(chars, start + length, start + length + padding);
  if (suffix) hunk.diffs.push([DIFF_EQUAL, suffix]);
  const grown = codepointLength(prefix);
  const extra = grown + codepointLength(suffix);
  hunk.start1 -= grown;
  hunk.start2 -= grown;
  hunk.length1 += extra;
  hunk.length2 += extra;
}

/**
 * The hunks `patch_make(text, diffs)` builds for `op` applied to `text`, equal to Python's
 * `make_patch` (and so to Python's diff-match-patch, whose headers count code points).
 * @param {string} text
 * @param {ops.Op} op
 * @returns {Hunk[]}
 */
export function makePatch(text, op) {
  const diffs = ops.toDiffs(text, op);
  /** @type {Hunk[]} */
  const hunks = [];
  if (!diffs.length) return hunks;
  /** @returns {Hunk} */
  const newHunk = () => ({ start1: 0, length1: 0, start2: 0, length2: 0, diffs: [] });
  let hunk = newHunk();
  let count1 = 0;
  let count2 = 0;
  // `current` is the text with every finished hunk applied (diff-match-patch's
  // `prepatch_text`); `edits` holds this hunk's changes, applied when it ends.
  let current = Array.from(text);
  /** @type {Change[]} */
  let edits = [];
  const last = diffs.length - 1;
  diffs.forEach(([kind, data], index) => {
    const length = codepointLength(data);
    if (!hunk.diffs.length && kind !== DIFF_EQUAL) {
      hunk.start1 = count1;
      hunk.start2 = count2;
    }
    if (kind === DIFF_INSERT) {
      hunk.diffs.push([kind, data]);
      hunk.length2 += length;
      edits.push({ position: count2, deleted: 0, inserted: data });
    } else if (kind === DIFF_DELETE) {
      hunk.length1 += length;
      hunk.diffs.push([kind, data]);
      edits.push({ position: count2, deleted: length, inserted: "" });
    } else if (length <= 2 * PATCH_MARGIN && hunk.diffs.length && index !== last) {
      hunk.diffs.push([kind, data]);
      hunk.length1 += length;
      hunk.length2 += length;
    }
    if (kind === DIFF_EQUAL && length >= 2 * PATCH_MARGIN && hunk.diffs.length) {
      addContext(hunk, current);
      hunks.push(hunk);
      hunk = newHunk();
      current = Array.from(applyEdits(current, edits));
      edits = [];
      count1 = count2;
    }
    if (kind !== DIFF_INSERT) count1 += length;
    if (kind !== DIFF_DELETE) count2 += length;
  });
  if (hunk.diffs.length) {
    addContext(hunk, current);
    hunks.push(hunk);
  }
  return hunks;
}

/**
 * One change of a hunk, at a position in the text as the hunk's earlier changes left it.
 * @typedef {{position: number, deleted: number, inserted: string}} Change
 */

/**
 * Apply a finished hunk's edits, given at positions in the text as it grows.
 * @param {readonly string[]} chars  the text as code points
 * @param {readonly Change[]} edits
 * @returns {string}
 */
function applyEdits(chars, edits) {
  const pieces = [];
  let old = 0; // index into `chars`
  let shift = 0; // how far positions in the growing text are ahead of `chars`
  for (const { position, deleted, inserted } of edits) {
    const at = position - shift;
    pieces.push(slice(chars, old, at), inserted);
    old = at + deleted;
    shift += codepointLength(inserted) - deleted;
  }
  pieces.push(slice(chars, old, chars.length));
  return pieces.join("");
}

/**
 * The wire form of `op` applied to `text`.
 * @param {string} text
 * @param {ops.Op} op
 * @returns {string}
 */
export function patchText(text, op) {
  return formatPatch(makePatch(text, op));
}

/**
 * The operation a patch performs on a text of `baseLength`, and the context it expects.
 *
 * Hunks apply one after another (rolling coordinates), and diff-match-patch lets their
 * context overlap: a hunk's trailing context may cover text the next hunk changes, and a
 * hunk's leading context may cover text the previous hunk wrote. So context before the
 * previous hunk's last change is checked against the result (where it stays put), and all
 * other context against the base. Throws {@link PatchRejected} if hunks change the same text,
 * run backwards or reach past the end.
 * @param {readonly Hunk[]} hunks
 * @param {number} baseLength  in code points
 * @returns {{op: ops.Op, checks: ContextCheck[]}}
 */
export function opFromPatch(hunks, baseLength) {
  const builder = new ops.OpBuilder();
  /** @type {ContextCheck[]} */
  const checks = [];
  let done = 0; // rolling position just after the previous hunk's last change
  let built = 0; // base position up to which the operation is built
  let shift = 0; // net length change of the changes so far
  hunks.forEach((hunk, index) => {
    const kinds = hunk.diffs.map(([kind]) => kind);
    const changed = kinds.flatMap((kind, i) => (kind === DIFF_EQUAL ? [] : [i]));
    const first = changed.length ? changed[0] : kinds.length;
    const last = changed.length ? changed[changed.length - 1] : kinds.length;
    let position = hunk.start2;
    hunk.diffs.forEach(([kind, data], i) => {
      const length = codepointLength(data);
      if (i === first) {
        if (position < done) {
          throw new PatchRejected(
            `hunk ${index + 1} changes text that hunk ${index} already changed`,
          );
        }
        builder.retain(position - shift - built);
        built = position - shift;
      }
      if (kind === DIFF_EQUAL) {
        const settled = i < first ? Math.max(0, Math.min(length, done - position)) : 0;
        const chars = settled ? Array.from(data) : [];
        if (settled) {
          checks.push({ position, text: chars.slice(0, settled).join(""), inResult: true });
        }
        if (settled < length) {
          const rest = settled ? chars.slice(settled).join("") : data;
          checks.push({ position: position + settled - shift, text: rest, inResult: false });
        }
        if (first < i && i < last) {
          builder.retain(length);
          built += length;
        }
        position += length;
      } else if (kind === DIFF_DELETE) {
        builder.delete(data);
        built += length;
        shift -= length;
      } else {
        builder.insert(data);
        position += length;
        shift += length;
      }
      if (position - shift > baseLength) {
        throw new PatchRejected(
          `hunk ${index + 1} reaches ${position - shift}, ` +
            `past the end of the text (${baseLength})`,
        );
      }
      if (i === last) done = position;
    });
  });
  builder.retain(baseLength - built);
  return { op: builder.build(), checks };
}

/**
 * Index of the first check `text` fails, or null. `text` is the base text, or with
 * `result: true` the patched text (for overlaps). `length` and `at` are as in `ops.apply`.
 * @param {string} text
 * @param {readonly ContextCheck[]} checks
 * @param {{result?: boolean, length?: number, at?: (cp: number) => number}} [options]
 * @returns {number | null}
 */
export function verifyContext(text, checks, { result = false, length, at } = {}) {
  let find = at ?? null; // made on the first check that needs it: the length may need counting
  const index = checks.findIndex((check) => {
    if (check.inResult !== result || !check.text) return false;
    find ??= unitIndexer(text, length ?? codepointLength(text));
    // Context made of whole characters matches where it starts on a character boundary.
    const unit = find(check.position);
    return unit < 0 || !text.startsWith(check.text, unit);
  });
  return index < 0 ? null : index;
}

/**
 * Apply a patch that must fit `text` exactly. `length` and `at` are as in `ops.apply`.
 * @param {string} text
 * @param {readonly Hunk[]} hunks
 * @param {number} [length]
 * @param {(cp: number) => number} [at]
 * @returns {{text: string, op: ops.Op}}  the new text and the operation
 */
export function applyPatch(
  text,
  hunks,
  length = codepointLength(text),
  at = unitIndexer(text, length),
) {
  const { op, checks } = opFromPatch(hunks, length);
  let failed = verifyContext(text, checks, { length, at });
  if (failed === null) {
    const newText = ops.apply(text, op, length, at); // also checks every deletion
    if (checks.some((check) => check.inResult)) {
      failed = verifyContext(newText, checks, { result: true, length: ops.targetLength(op) });
    }
    if (failed === null) return { text: newText, op };
  }
  throw new PatchRejected(`the patch's context does not match the text (check ${failed + 1})`);
}
