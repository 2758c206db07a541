/**
 * The messages of the sync model, in their JSON form on every wire. The twin of
 * sync/protocol.py: a message here *is* the object Python's `to_wire()` returns, so it can be
 * passed to `JSON.stringify` as it is.
 *
 * {@link fromWire} is strict: a message of the wrong shape throws {@link ProtocolViolation}
 * naming the field. It returns a fresh object holding only the known fields.
 * @module
 */

import { ProtocolViolation } from "./errors.js";
import { Intent, parseIntent } from "./intent.js";

/** @typedef {import("./intent.js").WireIntent} WireIntent */
/**
 * `intent` (./intent.js) is absent from an edit of a client older than intents.
 * @typedef {{type: "edit", base: number, client: string, seq: number, patch: string,
 *   intent?: WireIntent}} Edit
 */
/**
 * `intent` is left out when it is "none".
 * @typedef {{type: "revision", rev: number, base: number, author: string, client: string,
 *   seq: number, patch: string, checksum: string, intent?: "forward" | "backward"}} Revision
 */
/**
 * @typedef {{type: "snapshot", rev: number, text: string, checksum: string,
 *   last_seq: number}} Snapshot
 */
/** @typedef {{type: "resync", client: string, since: number, full: boolean}} Resync */
/** @typedef {{type: "synced", rev: number}} Synced */
/**
 * @typedef {{type: "error", code: string, message: string, client: string,
 *   seq: number}} EditError
 */
/** @typedef {Revision | Snapshot | Synced | EditError} ServerMessage */
/** @typedef {Edit | Resync} ClientMessage */

const CLIENT_ID = /^[A-Za-z0-9_.~-]{1,64}$/;

/**
 * @param {unknown} value
 * @returns {string}
 */
export function validateClientId(value) {
  if (typeof value !== "string" || !CLIENT_ID.test(value)) {
    throw new ProtocolViolation("client id must be 1 to 64 characters from A-Z a-z 0-9 _ . ~ -");
  }
  return value;
}

/**
 * A client's change: a patch against the text at revision `base`, identified by
 * (`client`, `seq`), where `seq` grows with every edit the client sends, with the intent of
 * its insert (`legacy`: no `intent` field, as an older client sends it).
 * @param {number} base
 * @param {string} client
 * @param {number} seq
 * @param {string} patch
 * @param {import("./intent.js").Intent} [intent]
 * @returns {Edit}
 */
export function edit(base, client, seq, patch, intent = Intent.LEGACY) {
  /** @type {Edit} */
  const message = { type: "edit", base, client, seq, patch };
  if (intent !== Intent.LEGACY) message.intent = intent;
  return message;
}

/**
 * A client asks for everything after `since` (on connect and after a gap), or with `full` for
 * a snapshot (after its copy failed a checksum).
 * @param {string} client
 * @param {number} since
 * @param {boolean} [full]
 * @returns {Resync}
 */
export const resync = (client, since, full = false) => ({ type: "resync", client, since, full });

/**
 * @typedef {Object} Fields
 * @property {(name: string) => number} int
 * @property {(name: string) => string} str
 */

/**
 * Typed access to the fields of one incoming message.
 * @param {Record<string, unknown>} data
 * @returns {Fields}
 */
function fields(data) {
  /** @param {string} name */
  const get = (name) => {
    if (!Object.hasOwn(data, name)) {
      throw new ProtocolViolation(`'${data.type ?? "message"}' message lacks '${name}'`);
    }
    return data[name];
  };
  return {
    int(name) {
      const value = get(name);
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw new ProtocolViolation(`'${name}' must be a non-negative integer`);
      }
      return value;
    },
    str(name) {
      const value = get(name);
      if (typeof value !== "string") throw new ProtocolViolation(`'${name}' must be a string`);
      return value;
    },
  };
}

/**
 * Check a parsed JSON message and return it in its normal form.
 * @param {unknown} data
 * @returns {ClientMessage | ServerMessage}
 */
export function fromWire(data) {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ProtocolViolation("a message must be a JSON object");
  }
  const record = /** @type {Record<string, unknown>} */ (data);
  const f = fields(record);
  const kind = record.type;
  const opId = () => ({ client: validateClientId(f.str("client")), seq: f.int("seq") });
  switch (kind) {
    case "edit": {
      const base = f.int("base");
      const { client, seq } = opId();
      return edit(base, client, seq, f.str("patch"), parseIntent(record.intent, Intent.LEGACY));
    }
    case "resync": {
      const full = Object.hasOwn(record, "full") ? record.full : false;
      if (typeof full !== "boolean") throw new ProtocolViolation("'full' must be true or false");
      return resync(validateClientId(f.str("client")), f.int("since"), full);
    }
    case "revision": {
      const rev = f.int("rev");
      const base = f.int("base");
      const author = f.str("author");
      const { client, seq } = opId();
      const patch = f.str("patch");
      /** @type {Revision} */
      const revision = {
        type: "revision",
        rev,
        base,
        author,
        client,
        seq,
        patch,
        checksum: f.str("checksum"),
      };
      const intent = parseIntent(record.intent, Intent.NONE);
      if (intent !== Intent.NONE) revision.intent = intent;
      return revision;
    }
    case "snapshot": {
      const rev = f.int("rev");
      const text = f.str("text");
      const checksum = f.str("checksum");
      return { type: "snapshot", rev, text, checksum, last_seq: f.int("last_seq") };
    }
    case "synced":
      return { type: "synced", rev: f.int("rev") };
    case "error": {
      const { client, seq } = opId();
      return { type: "error", code: f.str("code"), message: f.str("message"), client, seq };
    }
    default:
      throw new ProtocolViolation(`unknown message type ${JSON.stringify(kind) ?? "undefined"}`);
  }
}
