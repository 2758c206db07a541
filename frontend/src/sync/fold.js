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
import { checksum } from "./text.js";

/**
 * The text after `revision`, and the revision as an operation on `text`.
 * @param {string} text
 * @param {import("./protocol.js").Revision} revision
 * @returns {{text: string, op: import("./ops.js").Op}}
 */
export function fold(text, revision) {
  let result;
  try {
    result = applyPatch(text, parsePatch(revision.patch));
  } catch (error) {
    if (!(error instanceof PatchRejected)) throw error;
    throw new PatchRejected(
      `revision ${revision.rev} does not fit this copy of revision ${revision.rev - 1}: ` +
        error.message,
      { cause: error },
    );
  }
  const sum = checksum(result.text);
  if (sum !== revision.checksum) {
    throw new ChecksumMismatch(
      `after revision ${revision.rev} this copy has checksum ${sum}, ` +
        `the server has ${revision.checksum}`,
    );
  }
  return result;
}
