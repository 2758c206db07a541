/**
 * Typing intent: which way an edit's inserted text is attached, so runs never interleave. The
 * twin of sync/intent.py.
 *
 * Every edit says how its insert relates to its author's own previous insert: `forward` (it
 * continues that insert to its right: typing forwards), `backward` (to its left: typing
 * backwards), `none` (neither: a first letter, a paste, a change in several places), or
 * `legacy` (the edit came without an intent, from an older client; never on the wire, and a
 * revision made from such an edit carries `none`).
 *
 * At a position where two edits insert, {@link laterGoesFirst} decides from their intents
 * alone: forward text stays against its left side, backward text against its right side, and
 * otherwise the revision sequenced first goes first. The sequencer and both client twins call
 * it with the same pair wherever the same two edits meet, so they decide alike
 * (docs/protocol.md, "Typing at the same spot").
 * @module
 */

import { ProtocolViolation } from "./errors.js";
import { isInsert, isRetain, transformPosition } from "./ops.js";
import { codepointLength } from "./text.js";

/** @typedef {import("./ops.js").Op} Op */
/** @typedef {"none" | "forward" | "backward" | "legacy"} Intent */
/** @typedef {"none" | "forward" | "backward"} WireIntent */
/** Where a client's own latest insert is in its local text: [start, end), or null. */
/** @typedef {readonly [number, number] | null} Run */

export const Intent = Object.freeze({
  NONE: /** @type {"none"} */ ("none"),
  FORWARD: /** @type {"forward"} */ ("forward"),
  BACKWARD: /** @type {"backward"} */ ("backward"),
  LEGACY: /** @type {"legacy"} */ ("legacy"),
});

/** Lower goes first at a tie: forward text hugs its left side, backward text its right. */
const RANK = { forward: 0, none: 1, legacy: 1, backward: 2 };
const WIRE_VALUES = new Set(["forward", "backward", "none"]);

/**
 * At a position where both insert, does the later-sequenced edit's text go first?
 *
 * `earlier` is the intent of the edit the server sequenced first (a revision), `later` that of
 * the one sequenced after it. An edit without intent (`legacy`) always goes second, which is
 * what its client, which knows nothing of intents, assumes.
 * @param {Intent} earlier
 * @param {Intent} later
 * @returns {boolean}
 */
export function laterGoesFirst(earlier, later) {
  if (later === Intent.LEGACY) return false;
  return RANK[later] < RANK[earlier];
}

/**
 * The intent a message's `intent` field names (`fallback` when it is absent).
 * @template {Intent} T
 * @param {unknown} value
 * @param {T} fallback
 * @returns {WireIntent | T}
 */
export function parseIntent(value, fallback) {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "string" && WIRE_VALUES.has(value)) {
    return /** @type {WireIntent} */ (value);
  }
  throw new ProtocolViolation("'intent' must be 'forward', 'backward' or 'none'");
}

/**
 * `run` (a range of the text `op` applies to) in `op`'s result: text inserted at its start
 * goes before it, text inserted at its end after it.
 * @param {Run} run
 * @param {Op} op
 * @returns {Run}
 */
export function mapRun(run, op) {
  if (run === null) return null;
  const [start, end] = run;
  if (start === end) {
    const point = transformPosition(start, op, { stickLeft: true });
    return [point, point];
  }
  const newStart = transformPosition(start, op);
  const newEnd = transformPosition(end, op, { stickLeft: true });
  return [newStart, Math.max(newStart, newEnd)];
}

/**
 * The intent of a local change `op` made after the client's previous insert `run`, and the
 * client's run after it. `intent` is null when `op` inserts nothing.
 * @param {Run} run
 * @param {Op} op
 * @returns {{intent: Intent | null, run: Run}}
 */
export function typed(run, op) {
  const moved = mapRun(run, op);
  /** @type {[number, number][]} */
  const inserts = []; // [position in the result, length]
  let position = 0;
  for (const c of op) {
    if (isRetain(c)) {
      position += c.retain;
    } else if (isInsert(c)) {
      const length = codepointLength(c.insert);
      inserts.push([position, length]);
      position += length;
    }
  }
  const last = inserts.at(-1);
  if (last === undefined) return { intent: null, run: moved };
  const [at, length] = last;
  /** @type {Intent} */
  let intent = Intent.NONE;
  if (inserts.length === 1 && moved !== null) {
    if (at === moved[1]) intent = Intent.FORWARD;
    else if (at + length === moved[0]) intent = Intent.BACKWARD;
  }
  return { intent, run: [at, at + length] };
}
