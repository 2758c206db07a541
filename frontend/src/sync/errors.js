/**
 * Errors raised by the sync engine: the twin of sync/errors.py, with the same class names and
 * `code` strings, so that an error can be named the same way on both sides of the wire.
 *
 *     SyncError
 *     ├── InvalidText            text a document may not hold (lone surrogate, XML-forbidden)
 *     ├── MalformedPatch         patch text that does not parse
 *     ├── PatchRejected          a patch that parses but cannot be applied
 *     ├── RevisionError
 *     │   ├── FutureRevision     an edit based on a revision the server has not made yet
 *     │   └── StaleRevision      an edit or resync older than the history still kept
 *     ├── DocumentTooLarge       an edit that would take a document past its size limit
 *     ├── ChecksumMismatch       a copy no longer matches the revision it claims to be at
 *     └── ProtocolViolation      a message that breaks the client/server state machine
 *
 * Where Python raises a built-in ValueError or IndexError (a caller's range is wrong), this
 * side throws RangeError.
 * @module
 */

export class SyncError extends Error {
  static code = "sync-error";

  /**
   * @param {string} message
   * @param {ErrorOptions} [options]  `{cause}` when wrapping a lower-level error
   */
  constructor(message, options) {
    super(message, options);
    // `name` is what a stack trace and the conformance vectors show: the Python class name.
    this.name = new.target.name;
  }

  /** The stable wire code of this error's class. */
  get code() {
    return /** @type {typeof SyncError} */ (this.constructor).code;
  }
}

export class InvalidText extends SyncError {
  static code = "invalid-text";

  /**
   * @param {string} message
   * @param {{position: number, codepoint: number}} where  position in code points
   */
  constructor(message, { position, codepoint }) {
    super(message);
    this.position = position;
    this.codepoint = codepoint;
  }
}

export class MalformedPatch extends SyncError {
  static code = "malformed-patch";
}

export class PatchRejected extends SyncError {
  static code = "patch-rejected";
}

export class RevisionError extends SyncError {
  static code = "revision-error";
}

export class FutureRevision extends RevisionError {
  static code = "future-revision";
}

export class StaleRevision extends RevisionError {
  static code = "stale-revision";
}

export class ChecksumMismatch extends SyncError {
  static code = "checksum-mismatch";
}

export class ProtocolViolation extends SyncError {
  static code = "protocol-violation";
}

export class DocumentTooLarge extends SyncError {
  static code = "document-too-large";
}
