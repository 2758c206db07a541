/**
 * Between the sync engine's operations (code points) and an editor's changes (UTF-16 offsets),
 * plus the filter that keeps characters a document may not hold out of the editor.
 * Pure functions: node's test runner checks them without a browser.
 * @module
 */

import { advance, codepointToUtf16, ops, removeInvalid } from "../sync/index.js";

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
 * Which side of text a remote change inserts exactly at the caret the caret keeps (the `assoc`
 * of CodeMirror's `mapPos`): after it (1) when the caret is at the start of the person's own
 * latest insert, where someone typing backwards puts the next letter; before it (-1, the
 * default) otherwise, which keeps a caret typing forwards against its own text on the left.
 * Either way the caret stays beside what the person just typed, so their next letter
 * continues it and carries its typing intent (docs/protocol.md, "Typing at the same spot").
 * @param {string} before  the text the change applies to
 * @param {number} caret  a UTF-16 offset in `before`
 * @param {import("../sync/intent.js").Run} run  the engine's (`textChanged`'s third argument):
 *   the person's latest insert, in code points of `before`
 * @returns {1 | -1}
 */
export function caretAssoc(before, caret, run) {
  // A code point is one or two UTF-16 units: only a caret in run[0]..2·run[0] can be there.
  if (run === null || run[0] === run[1] || caret < run[0] || caret > 2 * run[0]) return -1;
  return codepointToUtf16(before, run[0]) === caret ? 1 : -1;
}

/**
 * The UTF-16 offset `count` code points after `unit` in `text`.
 * @param {string} text
 * @param {number} unit
 * @param {number} count
 */
function advanceUnits(text, unit, count) {
  const end = advance(text, unit, count);
  if (end < 0) throw new RangeError(`the operation runs past the text (${text.length})`);
  return end;
}

/**
 * `text` without the characters a document may not hold (pasted control characters, half
 * an emoji from a broken clipboard), and how many were taken out.
 */
export const sanitizeInsert = removeInvalid;
