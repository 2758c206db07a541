/**
 * Other people's cursors, from their presence messages to positions in our own text.
 *
 * A presence message gives a cursor as a code point position in the text at revision `rev`:
 * a sender with unconfirmed edits maps its caret back through them first (`toShadowPosition`;
 * a caret in or after its own unsent typing goes to where that typing is inserted, one where
 * it deleted text goes before that text), because
 * nobody else has that typing yet. To draw it in our text we map it through the revisions we
 * have folded in since `rev`, in order, moving past text inserted right at it (the sender's
 * own typing, once it arrives, lands before their caret), then through our own unconfirmed
 * edits. After that the editor maps it through every later change itself, the same way.
 * @module
 */

import { ops } from "../sync/index.js";

/** @typedef {import("../sync/ops.js").Op} Op */

export class RevisionLog {
  /** @type {Map<number, Op>} */
  #ops = new Map();
  /** @type {Map<number, string | null>} */
  #authors = new Map();
  #floor = 0; // the oldest revision positions can be mapped from

  /** @param {number} [keep]  how many recent revisions to remember */
  constructor(keep = 500) {
    this.keep = keep;
  }

  /**
   * Revision `rev` (the operation `op` from `rev - 1`, made by `author`) is now in our shadow.
   * @param {number} rev
   * @param {Op} op
   * @param {string | null} [author]
   */
  add(rev, op, author = null) {
    if (this.#ops.size === 0 && this.#floor < rev - 1) this.#floor = rev - 1;
    this.#ops.set(rev, op);
    this.#authors.set(rev, author);
    while (this.#ops.size > this.keep) {
      const oldest = /** @type {number} */ (this.#ops.keys().next().value);
      this.#ops.delete(oldest);
      this.#authors.delete(oldest);
      this.#floor = oldest;
    }
  }

  /**
   * A snapshot replaced our shadow at `rev`: nothing older can be mapped exactly.
   * @param {number} rev
   */
  reset(rev) {
    this.#ops.clear();
    this.#authors.clear();
    this.#floor = rev;
  }

  /**
   * Carry `attribution` (in code points, of the text at revision `from`) through the
   * revisions up to `to`: each one's inserted text is its author's. False if a revision in
   * between is unknown (then `attribution` is half carried: drop it).
   * @param {import("../sync/authorship.js").Attribution} attribution
   * @param {number} from
   * @param {number} to
   */
  carry(attribution, from, to) {
    if (from > to || from < this.#floor) return false;
    for (let rev = from + 1; rev <= to; rev++) {
      const op = this.#ops.get(rev);
      if (op === undefined || ops.baseLength(op) !== attribution.length) return false;
      attribution.applyOp(op, this.#authors.get(rev) ?? null);
    }
    return true;
  }

  /**
   * Map `position` from the text at revision `from` to the text at revision `to`, or null
   * if a revision in between is unknown (too old, or not here yet).
   * @param {number} position
   * @param {number} from
   * @param {number} to
   * @returns {number | null}
   */
  map(position, from, to) {
    if (from > to) return null;
    if (from < this.#floor) return null;
    let mapped = position;
    for (let rev = from + 1; rev <= to; rev++) {
      const op = this.#ops.get(rev);
      if (op === undefined) return null;
      mapped = ops.transformPosition(Math.min(mapped, ops.baseLength(op)), op);
    }
    return mapped;
  }
}

/**
 * Our caret as presence sends it: from our local text (code points) back to the text at our
 * revision, through our unconfirmed edits `pending`.
 * @param {number} position  code points in our local text
 * @param {Op} pending  from the shadow to the local text
 */
export function toShadowPosition(position, pending) {
  const back = ops.invert(pending);
  const at = Math.min(Math.max(0, position), ops.baseLength(back));
  // Text we deleted is back in the shadow: a caret where it was stays before it.
  return Math.min(ops.transformPosition(at, back, { stickLeft: true }), ops.targetLength(back));
}

/**
 * Where a presence position lands in our local text, in code points: through the revisions
 * since the sender's, then through our unconfirmed edits. Null when the sender is ahead of
 * us (try again after the next revision); a position whose revisions are forgotten is
 * clamped instead, a best effort.
 * @param {number} position  code points in the sender's text at `rev`
 * @param {number} rev
 * @param {{rev: number, pending: Op}} client
 * @param {RevisionLog} log
 * @returns {number | null}
 */
export function toLocalPosition(position, rev, client, log) {
  if (!Number.isInteger(position) || position < 0) return null;
  if (rev > client.rev) return null;
  let inShadow = log.map(position, rev, client.rev);
  if (inShadow === null) inShadow = position;
  const pending = client.pending;
  inShadow = Math.min(inShadow, ops.baseLength(pending));
  return Math.min(ops.transformPosition(inShadow, pending), ops.targetLength(pending));
}
