// Shared by the unit tests in test/ (kept outside test/, where `node --test` would run it as
// a test file): a seeded random source, random texts and operations, and a tiny sequencer
// that plays the server's part.
import {
  ClientState,
  SyncClient,
  ops,
  parsePatch,
  opFromPatch,
  patchText,
  checksum,
  codepointLength,
  updateChecksum,
  laterGoesFirst,
} from "../src/sync/index.js";

/**
 * A seeded random source (mulberry32), so a failing randomized test replays from its seed.
 * @param {number} seed
 */
export function random(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** An integer in lo..hi, both included. @param {number} lo @param {number} hi */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    /** @template T @param {readonly T[]} items @returns {T} */
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/** @typedef {ReturnType<typeof random>} Random */

// The same mix as tests/conformance/generate.py: astral, CJK, combining, RTL, CR LF.
export const PIECES = [
  "a",
  "b",
  "c",
  " ",
  "\n",
  "é",
  "e\u0301",
  "字",
  "中文",
  "😀",
  "𝄞",
  "👍🏽",
  "שלום",
  "مرحبا",
  "\r\n",
  "\ue000",
  "x😀y",
];

/**
 * @param {Random} rng
 * @param {number} pieces
 */
export const randomText = (rng, pieces) =>
  Array.from({ length: pieces }, () => rng.pick(PIECES)).join("");

/**
 * An operation on `base` with up to `edits` changes, often at the same few spots.
 * @param {Random} rng
 * @param {string} base
 * @param {number} [edits]
 */
export function randomOp(rng, base, edits = 2) {
  const chars = Array.from(base);
  const length = chars.length;
  const spots = new Set();
  const count = rng.int(1, edits);
  for (let i = 0; i < count; i++) spots.add(rng.pick([0, length, length >> 1, rng.int(0, length)]));
  const builder = new ops.OpBuilder();
  let done = 0;
  for (const spot of [...spots].sort((a, b) => a - b)) {
    builder.retain(Math.max(0, spot - done));
    done = Math.max(done, spot);
    const deleted = Math.min(rng.pick([0, 0, 1, 2, 5]), length - done);
    builder.delete(chars.slice(done, done + deleted).join(""));
    done += deleted;
    if (deleted === 0 || rng.next() < 0.6) builder.insert(randomText(rng, rng.int(1, 3)));
  }
  builder.retain(length - done);
  return builder.build();
}

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** @param {string} text */
export const hasLoneSurrogate = (text) => LONE.test(text);

/**
 * The server's part, for tests only: a mirror of the exact path of sync/server.py's
 * Sequencer. An edit on an older revision is turned into an operation on that revision's
 * text and transformed over every later revision in order, the two intents deciding at equal
 * positions (sync/intent.py); an edit older than the kept history is refused as stale; a
 * duplicate gets its earlier revision again.
 */
export class TestSequencer {
  /** @param {{text?: string, historyLimit?: number}} [options] */
  constructor({ text = "", historyLimit = 1000 } = {}) {
    this.text = text;
    this.checksum = checksum(text);
    this.rev = 0;
    this.historyLimit = historyLimit;
    /** @type {{revision: import("../src/sync/protocol.js").Revision, op: ops.Op}[]} */
    this.history = [];
    /** @type {Map<string, {seq: number, rev: number}>} */
    this.clients = new Map();
  }

  get oldestBase() {
    return this.rev - this.history.length;
  }

  /**
   * @param {import("../src/sync/protocol.js").Edit} edit
   * @returns {{revision?: import("../src/sync/protocol.js").Revision,
   *   error?: import("../src/sync/protocol.js").EditError, duplicate?: boolean}}
   */
  submit(edit) {
    const { client, seq } = edit;
    const error = (/** @type {string} */ code) => ({
      error: /** @type {const} */ ({ type: "error", code, message: code, client, seq }),
    });
    const last = this.clients.get(client) ?? { seq: 0, rev: 0 };
    if (seq <= last.seq) {
      const found = this.history.find(({ revision: r }) => r.client === client && r.seq === seq);
      return found ? { revision: found.revision, duplicate: true } : error("stale-revision");
    }
    if (edit.base < this.oldestBase) return error("stale-revision");
    const later = this.history.slice(edit.base - this.oldestBase);
    const baseLength = later.length ? ops.baseLength(later[0].op) : codepointLength(this.text);
    let { op } = opFromPatch(parsePatch(edit.patch), baseLength);
    const intent = edit.intent ?? "legacy";
    for (const { revision, op: other } of later) {
      const first = laterGoesFirst(revision.intent ?? "none", intent);
      op = ops.transform(op, other, { otherFirst: !first });
    }
    const text = ops.apply(this.text, op);
    this.rev += 1;
    /** @type {import("../src/sync/protocol.js").Revision} */
    const revision = {
      type: "revision",
      rev: this.rev,
      base: edit.base,
      author: client,
      client,
      seq,
      patch: patchText(this.text, op),
      checksum: updateChecksum(this.checksum, this.text, op, text),
    };
    if (intent === "forward" || intent === "backward") revision.intent = intent;
    this.text = text;
    this.checksum = revision.checksum;
    this.history.push({ revision, op });
    if (this.history.length > this.historyLimit) this.history.shift();
    this.clients.set(client, { seq, rev: this.rev });
    return { revision };
  }

  /**
   * What a client at `since` needs: the revisions after it and `synced`, or a snapshot.
   * @param {import("../src/sync/protocol.js").Resync} resync
   * @returns {import("../src/sync/protocol.js").ServerMessage[]}
   */
  catchUp({ client, since, full }) {
    if (full || since < this.oldestBase) {
      const lastSeq = this.clients.get(client)?.seq ?? 0;
      const snapshot = { text: this.text, checksum: this.checksum, last_seq: lastSeq };
      return [{ type: "snapshot", rev: this.rev, ...snapshot }];
    }
    const revisions = this.history.slice(since - this.oldestBase).map((h) => h.revision);
    return [...revisions, { type: "synced", rev: this.rev }];
  }
}

/**
 * A client connected to `server` and caught up (throws if the engine did not get there).
 * @param {string} id
 * @param {TestSequencer} server
 */
export function connected(id, server) {
  const client = new SyncClient(id, { text: server.text, rev: server.rev });
  const [request] = client.connect();
  if (client.state !== ClientState.SYNCING) throw new Error(`connecting left ${client.state}`);
  for (const message of server.catchUp(/** @type {any} */ (request))) client.receive(message);
  if (client.state !== ClientState.READY) throw new Error(`catching up left ${client.state}`);
  return client;
}
