/**
 * Folding a sequenced revision into a copy of the text: exactly, or not at all. The twin of
 * sync/fold.py.
 *
 * A revision's patch was made against the text at `rev - 1`, so it must fit that text exactly;
 * anything else means the copy has drifted, and the caller resyncs instead of guessing.
 * @module
 */

import { ChecksumMismatch, PatchRejected } from "./errors.js";
import { applyPatch, parsePatch } from "./patches.js";
import {
  checksum,
  checksumLength,
  checksumV1,
  checksumVersion,
  codepointLength,
  unitIndexer,
  updateChecksum,
} from "./text.js";

const SURROGATE = /[\ud800-\udfff]/;

/**
 * The text after `revision`, and the revision as an operation on `text`.
 *
 * `known` is the checksum of `text` as its holder computed it, if it has one. The new text's
 * checksum is then updated from it in time proportional to the change (when both are version
 * 2) instead of computed over the whole text, and its length is taken for the text's length in
 * code points instead of counting them, unless it cannot be: a text with no surrogate at all
 * has as many code points as UTF-16 units (a cheap test: the engine stops at the first
 * surrogate, and knows that a one-byte string holds none). A holder keeps `revision.checksum`
 * as the new `known`: it has just been checked to be the new text's.
 * @param {string} text
 * @param {import("./protocol.js").Revision} revision
 * @param {string | null} [known]
 * @returns {{text: string, op: import("./ops.js").Op}}
 */
export function fold(text, revision, known = null) {
  let length = known !== null && checksumVersion(known) !== null ? checksumLength(known) : -1;
  if (length !== text.length && (length < 0 || !SURROGATE.test(text))) {
    known = null; // unknown, or not this text's
    length = codepointLength(text);
  }
  const at = unitIndexer(text, length);
  let result;
  try {
    result = applyPatch(text, parsePatch(revision.patch), length, at);
  } catch (error) {
    if (!(error instanceof PatchRejected)) throw error;
    throw new PatchRejected(
      `revision ${revision.rev} does not fit this copy of revision ${revision.rev - 1}: ` +
        error.message,
      { cause: error },
    );
  }
  let mine;
  if (checksumVersion(revision.checksum) === 1) {
    mine = checksumV1(result.text);
  } else if (known !== null && checksumVersion(known) === 2) {
    mine = updateChecksum(known, text, result.op, result.text, at);
  } else {
    mine = checksum(result.text);
  }
  if (mine !== revision.checksum) {
    throw new ChecksumMismatch(
      `after revision ${revision.rev} this copy has checksum ${mine}, ` +
        `the server has ${revision.checksum}`,
    );
  }
  return result;
}
