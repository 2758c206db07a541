/**
 * Between the sync engine's operations (code points) and an editor's changes (UTF-16 offsets),
 * plus the filter that keeps characters a document may not hold out of the editor.
 * Pure functions: node's test runner checks them without a browser.
 * @module
 */

import { ops } from "../sync/index.js";

/** @typedef {import("../sync/ops.js").Op} Op */
/** @typedef {{from: number, to: number, insert: string}} Change  UTF-16 offsets in the old text */

/**
 * The editor changes that turn `text` into `apply(text, op)`, in document order, with
 * offsets in `text` (CodeMirror's convention for a set of changes dispatched at once).
 * @param {string} text
 * @param {Op} op  an operation on `text`, in code points
 * @returns {Change[]}
 */
export function opToChanges(text, op) {
  /** @type {Change[]} */
  const changes = [];
  let unit = 0; // UTF-16 offset in `text`
  /** @type {Change | null} */
  let open = null; // a change being built (a delete and an insert at the same place merge)
  const close = () => {
    if (open !== null) changes.push(open);
    open = null;
  };
  for (const component of op) {
    if (ops.isRetain(component)) {
      close();
      unit = advanceUnits(text, unit, component.retain);
    } else if (ops.isDelete(component)) {
      // A delete carries the deleted text; its length in code points is what to skip.
      const end = advanceUnits(text, unit, ops.lengthOf(component));
      if (open === null) open = { from: unit, to: end, insert: "" };
      else open.to = end;
      unit = end;
    } else {
      if (open === null) open = { from: unit, to: unit, insert: component.insert };
      else open.insert += component.insert;
    }
  }
  close();
  return changes;
}

/**
 * The UTF-16 offset `count` code points after `unit` in `text`.
 * @param {string} text
 * @param {number} unit
 * @param {number} count
 */
function advanceUnits(text, unit, count) {
  let at = unit;
  for (let i = 0; i < count; i++) {
    if (at >= text.length) throw new RangeError(`the operation runs past the text (${text.length})`);
    const code = text.charCodeAt(at);
    at += code >= 0xd800 && code <= 0xdbff && isLowAt(text, at + 1) ? 2 : 1;
  }
  return at;
}

/** @param {string} text @param {number} at */
function isLowAt(text, at) {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff;
}

// What XML 1.0 forbids (docs/protocol.md), and surrogates that are not part of a pair.
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` without the characters a document may not hold (pasted control characters, half
 * an emoji from a broken clipboard), and how many were taken out.
 * @param {string} text
 * @returns {{text: string, removed: number}}
 */
export function sanitizeInsert(text) {
  let removed = 0;
  const clean = text.replace(FORBIDDEN, () => {
    removed += 1;
    return "";
  });
  return { text: clean, removed };
}
