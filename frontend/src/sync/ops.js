/**
 * Operations: the exact, position-based form of a change, and the algebra the engine needs.
 * The twin of sync/ops.py.
 *
 * An operation walks its base text from start to end with three kinds of component, kept as
 * the plain JSON objects that Python's `ops.to_json` writes: `{retain: n}` keeps n code points,
 * `{delete: text}` removes `text` (recorded, so an operation can be checked against the text it
 * claims to change and inverted), and `{insert: text}` adds `text`. Counts are code points,
 * never UTF-16 units, so that an operation means the same thing to both twins.
 *
 * Canonical form, relied on by both twins: adjacent components of one kind are merged, nothing
 * is empty, and where deletes and inserts meet with no retain between them the delete comes
 * first (the order diff-match-patch itself emits). Operations are never mutated.
 * @module
 */

import { PatchRejected } from "./errors.js";
import { advance, codepointLength, unitIndexer } from "./text.js";

/** @typedef {{retain: number}} Retain */
/** @typedef {{insert: string}} Insert */
/** @typedef {{delete: string}} Delete */
/** @typedef {Retain | Insert | Delete} Component */
/** @typedef {readonly Component[]} Op */
/**
 * diff-match-patch's diff tuples: (-1, deleted), (0, equal), (1, inserted). The library's own
 * Diff objects also index as [kind, text], so they are accepted where a Diff is.
 * @typedef {readonly [number, string] | {0: number, 1: string}} Diff
 */

export const DIFF_DELETE = -1;
export const DIFF_EQUAL = 0;
export const DIFF_INSERT = 1;

/**
 * @param {Component | undefined} c
 * @returns {c is Retain}
 */
export const isRetain = (c) => c !== undefined && "retain" in c;
/**
 * @param {Component | undefined} c
 * @returns {c is Insert}
 */
export const isInsert = (c) => c !== undefined && "insert" in c;
/**
 * @param {Component | undefined} c
 * @returns {c is Delete}
 */
export const isDelete = (c) => c !== undefined && "delete" in c;

/**
 * The size of a component in its own units: a retain's count, or its text's code points.
 * @param {Component} c
 * @returns {number}
 */
function size(c) {
  if (isRetain(c)) return c.retain;
  return codepointLength(isInsert(c) ? c.insert : c.delete);
}

/** Accumulates components in canonical form. */
export class OpBuilder {
  /** @type {Component[]} */
  #parts = [];

  /** @param {number} count */
  retain(count) {
    if (count > 0) {
      const parts = this.#parts;
      const last = parts.at(-1);
      if (isRetain(last)) parts[parts.length - 1] = { retain: last.retain + count };
      else parts.push({ retain: count });
    }
    return this;
  }

  /** @param {string} text */
  insert(text) {
    if (text) {
      const parts = this.#parts;
      const last = parts.at(-1);
      if (isInsert(last)) parts[parts.length - 1] = { insert: last.insert + text };
      else parts.push({ insert: text });
    }
    return this;
  }

  /** @param {string} text */
  delete(text) {
    if (!text) return this;
    const parts = this.#parts;
    const last = parts.at(-1);
    // Keep "delete before insert" where the two meet.
    if (isInsert(last)) {
      parts.pop();
      this.delete(text);
      parts.push(last);
    } else if (isDelete(last)) {
      parts[parts.length - 1] = { delete: last.delete + text };
    } else {
      parts.push({ delete: text });
    }
    return this;
  }

  /** @param {Component} component */
  add(component) {
    if (isRetain(component)) return this.retain(component.retain);
    if (isInsert(component)) return this.insert(component.insert);
    if (isDelete(component)) return this.delete(component.delete);
    throw new RangeError(`not an operation component: ${JSON.stringify(component)}`);
  }

  /** @returns {Op} */
  build() {
    return this.#parts.slice();
  }
}

/**
 * The canonical form of `components` (also how JSON from a peer becomes an operation).
 * @param {Iterable<Component>} components
 * @returns {Op}
 */
export function normalize(components) {
  const builder = new OpBuilder();
  for (const component of components) builder.add(component);
  return builder.build();
}

/**
 * How much base text a component consumes (inserts consume none).
 * @param {Component} component
 * @returns {number}
 */
export function lengthOf(component) {
  return isInsert(component) ? 0 : size(component);
}

/**
 * @param {Op} op
 * @returns {number}
 */
export function baseLength(op) {
  return op.reduce((total, c) => total + lengthOf(c), 0);
}

/**
 * @param {Op} op
 * @returns {number}
 */
export function targetLength(op) {
  return op.reduce((total, c) => total + (isDelete(c) ? 0 : size(c)), 0);
}

/**
 * @param {Op} op
 * @returns {boolean}
 */
export function isNoop(op) {
  return op.every(isRetain);
}

/**
 * @param {number} length
 * @returns {Op}
 */
export function identity(length) {
  return length ? [{ retain: length }] : [];
}

/**
 * Whether two operations in canonical form are the same.
 * @param {Op} a
 * @param {Op} b
 * @returns {boolean}
 */
export function equals(a, b) {
  if (a.length !== b.length) return false;
  return a.every((c, i) => {
    const d = b[i];
    if (isRetain(c)) return isRetain(d) && c.retain === d.retain;
    if (isInsert(c)) return isInsert(d) && c.insert === d.insert;
    return isDelete(d) && c.delete === d.delete;
  });
}

/**
 * The operation that replaces `deleted` at `position` with `inserted`.
 * @param {number} length  of the base text, in code points
 * @param {number} position
 * @param {string} deleted
 * @param {string} inserted
 * @returns {Op}
 */
export function replace(length, position, deleted, inserted) {
  const end = position + codepointLength(deleted);
  if (!(Number.isInteger(position) && 0 <= position && end <= length)) {
    throw new RangeError(`range ${position}..${end} outside a text of length ${length}`);
  }
  return new OpBuilder()
    .retain(position)
    .delete(deleted)
    .insert(inserted)
    .retain(length - end)
    .build();
}

/**
 * Apply `op` to `text`, checking that it spans the text and deletes what it says.
 *
 * JavaScript only (Python's `len` and slicing are free): `length` is `text`'s length in code
 * points, if the caller knows it, and `at` a `unitIndexer` of the text, if the caller has one.
 * The text is then cut where the operation says without walking it, if it holds no surrogate
 * pair, or else by walking from its nearer end to each place.
 * @param {string} text
 * @param {Op} op
 * @param {number} [length]
 * @param {(cp: number) => number} [at]
 * @returns {string}
 */
export function apply(text, op, length = codepointLength(text), at = unitIndexer(text, length)) {
  const pieces = [];
  let index = 0; // in code points; may run past the end, as Python's slicing lets it
  let unit = 0; // the same place in UTF-16 units, stopped at the end
  let short = false; // the text ended before the operation did
  /** @param {number} count */
  const walk = (count) => {
    index += count;
    let end = at(index);
    if (end < 0) {
      end = text.length;
      short = true;
    }
    const piece = text.slice(unit, end);
    unit = end;
    return piece;
  };
  for (const c of op) {
    if (isRetain(c)) {
      pieces.push(walk(c.retain));
    } else if (isInsert(c)) {
      pieces.push(c.insert);
    } else {
      const start = index;
      const count = codepointLength(c.delete);
      if (walk(count) !== c.delete) {
        throw new PatchRejected(
          `the text at ${start}..${start + count} is not the text the edit deletes`,
        );
      }
    }
  }
  if (index !== length || short) {
    const actual = codepointLength(text);
    throw new PatchRejected(`the edit spans ${index} characters but the text has ${actual}`);
  }
  return pieces.join("");
}

/**
 * The operation that undoes `op` (it applies to `op`'s result).
 * @param {Op} op
 * @returns {Op}
 */
export function invert(op) {
  const builder = new OpBuilder();
  for (const c of op) {
    if (isRetain(c)) builder.retain(c.retain);
    else if (isInsert(c)) builder.delete(c.insert);
    else builder.insert(c.delete);
  }
  return builder.build();
}

/** Walks an operation, handing out pieces of its components. */
class Cursor {
  /** @type {Op} */
  #op;
  #index = 0;
  #offset = 0; // into the current component, in code points
  #unit = 0; // the same offset in UTF-16 units (for text components)
  #size;

  /** @param {Op} op */
  constructor(op) {
    this.#op = op;
    this.#size = op.length ? size(op[0]) : 0;
  }

  /** @returns {Component | undefined} */
  peek() {
    return this.#op[this.#index];
  }

  /** Length left in the current component (for inserts: characters left). */
  remaining() {
    return this.#size - this.#offset;
  }

  /**
   * Consume `count` units of the current component and return them.
   * @param {number} count
   * @returns {Component}
   */
  take(count) {
    const c = this.#op[this.#index];
    /** @type {Component} */
    let piece;
    if (isRetain(c)) {
      piece = { retain: count };
    } else {
      const text = isInsert(c) ? c.insert : c.delete;
      const end = advance(text, this.#unit, count);
      const part = text.slice(this.#unit, end);
      this.#unit = end;
      piece = isInsert(c) ? { insert: part } : { delete: part };
    }
    this.#offset += count;
    if (this.#offset === this.#size) {
      this.#index += 1;
      this.#offset = 0;
      this.#unit = 0;
      this.#size = this.#index < this.#op.length ? size(this.#op[this.#index]) : 0;
    }
    return piece;
  }

  takeAll() {
    return this.take(this.remaining());
  }
}

/**
 * One operation with the effect of `first` then `second`.
 * @param {Op} first
 * @param {Op} second
 * @returns {Op}
 */
export function compose(first, second) {
  const a = new Cursor(first);
  const b = new Cursor(second);
  const out = new OpBuilder();
  for (;;) {
    const ca = a.peek();
    const cb = b.peek();
    if (isDelete(ca)) {
      out.add(a.takeAll());
      continue;
    }
    if (isInsert(cb)) {
      out.add(b.takeAll());
      continue;
    }
    if (ca === undefined && cb === undefined) return out.build();
    if (ca === undefined || cb === undefined) {
      throw new RangeError("cannot compose: the second operation does not span the first's result");
    }
    const n = Math.min(a.remaining(), b.remaining());
    const pa = a.take(n);
    const pb = b.take(n);
    if (isRetain(pa)) {
      out.add(pb); // retain-retain keeps, retain-delete deletes
    } else if (isRetain(pb)) {
      out.add(pa); // inserted, then kept
    } else if (/** @type {Insert} */ (pa).insert !== /** @type {Delete} */ (pb).delete) {
      throw new PatchRejected("the second operation deletes text the first did not insert");
    }
    // else: inserted, then deleted; nothing remains
  }
}

/**
 * Rewrite `op` so that it applies after `other`; both were made on the same text.
 *
 * Where both insert at one position, the edit the server sequenced first goes first: `other`
 * by default (the server rebasing an edit over earlier revisions), `op` with
 * `otherFirst: false` (a client moving an earlier remote revision over its own pending
 * edits). Text that both delete is deleted once. Text that `other` inserted inside a range
 * `op` deletes survives: nobody who saw it deleted it.
 * @param {Op} op
 * @param {Op} other
 * @param {{otherFirst?: boolean}} [options]
 * @returns {Op}
 */
export function transform(op, other, { otherFirst = true } = {}) {
  const a = new Cursor(op);
  const b = new Cursor(other);
  const out = new OpBuilder();
  for (;;) {
    const ca = a.peek();
    const cb = b.peek();
    if (isInsert(ca) && !(otherFirst && isInsert(cb))) {
      out.add(a.takeAll());
      continue;
    }
    if (isInsert(cb)) {
      out.retain(b.remaining());
      b.takeAll();
      continue;
    }
    if (ca === undefined && cb === undefined) return out.build();
    if (ca === undefined || cb === undefined) {
      throw new PatchRejected("the two edits were not made on texts of the same length");
    }
    const n = Math.min(a.remaining(), b.remaining());
    const pa = a.take(n);
    const pb = b.take(n);
    if (isRetain(pb)) {
      out.add(pa);
    } else if (isDelete(pa) && pa.delete !== /** @type {Delete} */ (pb).delete) {
      throw new PatchRejected(
        "the edit deletes text that differs from the text at its base revision",
      );
    }
    // Both delete it, or `other` already deleted what `op` keeps: the text is gone either way.
  }
}

/**
 * Where `position` in `op`'s base text ends up in its result (for cursors). A position inside
 * a deleted range collapses to where the range was. Text inserted exactly at the position
 * pushes it right, unless `stickLeft`.
 * @param {number} position  in code points
 * @param {Op} op
 * @param {{stickLeft?: boolean}} [options]
 * @returns {number}
 */
export function transformPosition(position, op, { stickLeft = false } = {}) {
  let target = position;
  let old = 0;
  let moved = 0;
  for (const c of op) {
    if (isInsert(c)) {
      if (old < target || (old === target && !stickLeft)) moved += size(c);
      continue;
    }
    if (old > target || (old === target && isRetain(c))) break;
    const span = lengthOf(c);
    if (isRetain(c)) {
      const step = Math.min(span, target - old);
      moved += step;
      old += step;
      if (step < span) break;
    } else {
      // Deleted text occupies no room in the result; a position inside it is equivalent to
      // the end of the deletion.
      target = Math.max(target, old + span);
      old += span;
    }
  }
  return moved;
}

/**
 * @param {Iterable<Diff>} diffs
 * @returns {Op}
 */
export function fromDiffs(diffs) {
  const builder = new OpBuilder();
  for (const diff of diffs) {
    const kind = diff[0];
    const text = diff[1];
    if (kind === DIFF_EQUAL) builder.retain(codepointLength(text));
    else if (kind === DIFF_INSERT) builder.insert(text);
    else if (kind === DIFF_DELETE) builder.delete(text);
    else throw new RangeError(`unknown diff kind ${JSON.stringify(kind)}`);
  }
  return builder.build();
}

/**
 * @param {string} base
 * @param {Op} op
 * @returns {[number, string][]}
 */
export function toDiffs(base, op) {
  /** @type {[number, string][]} */
  const diffs = [];
  let unit = 0;
  for (const c of op) {
    if (isInsert(c)) {
      diffs.push([DIFF_INSERT, c.insert]);
      continue;
    }
    let end = isRetain(c) ? advance(base, unit, c.retain) : unit + c.delete.length;
    if (end < 0) end = base.length; // an operation longer than `base`: a short slice, as in Python
    diffs.push(isRetain(c) ? [DIFF_EQUAL, base.slice(unit, end)] : [DIFF_DELETE, c.delete]);
    unit = end;
  }
  return diffs;
}
