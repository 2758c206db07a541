/**
 * The client state machine: a shadow of the server, plus local changes in flight. The twin of
 * sync/client.py, with the same states, methods and semantics.
 *
 * A client holds three things (the model of Jupiter, Google Wave and ShareDB):
 *
 * - the *shadow*: the text at `rev`, the newest server revision it has folded in;
 * - at most one *in-flight* edit, sent and not yet acknowledged, as an operation on the shadow;
 * - a *buffer* of later local changes, as one operation on shadow + in-flight.
 *
 * The local text is always shadow + in-flight + buffer. A remote revision is folded into the
 * shadow exactly, and in-flight and buffer are transformed over it the way the server will
 * transform them, so the invariant holds and every copy ends equal to the server's.
 *
 * Each edit carries its *intent* (./intent.js): whether its insert continues this client's
 * previous insert forwards or backwards. The client finds it from the range of its latest
 * insert (its run), and uses it, with the remote revision's, wherever its pending changes and a
 * remote revision insert at one position, exactly as the server will.
 *
 * It does no I/O: {@link SyncClient#receive} takes a server message (as returned by
 * `fromWire`) and returns the messages to send, and the caller moves them. Positions are code
 * points, except in {@link SyncClient#replaceRange}, which takes an editor's UTF-16 offsets.
 * @module
 */

import { ChecksumMismatch, PatchRejected, ProtocolViolation, StaleRevision } from "./errors.js";
import { fold } from "./fold.js";
import { Intent, laterGoesFirst, mapRun, typed } from "./intent.js";
import { changesBetween, rebaseOnto } from "./merge.js";
import * as ops from "./ops.js";
import { patchText } from "./patches.js";
import { edit, resync, validateClientId } from "./protocol.js";
import {
  checksumMatches,
  codepointLength,
  unitIndexer,
  utf16ToCodepoint,
  validateText,
} from "./text.js";

/** @typedef {import("./protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("./protocol.js").ServerMessage} ServerMessage */
/** @typedef {import("./protocol.js").EditError} EditError */
/** @typedef {import("./protocol.js").Revision} Revision */
/** @typedef {import("./protocol.js").Snapshot} Snapshot */

export const ClientState = Object.freeze({
  OFFLINE: "offline", // no connection; local edits accumulate in the buffer
  SYNCING: "syncing", // asked for a catch-up and waiting for its end
  READY: "ready", // caught up; edits flow
});
/** @typedef {(typeof ClientState)[keyof typeof ClientState]} ClientStateValue */

/** Error codes that mean "not now" rather than "never": the edit is kept and sent again. */
export const RETRYABLE = new Set(["rate-limited", "busy"]);

/** @typedef {import("./intent.js").Intent} IntentValue */
/** @typedef {import("./intent.js").Run} Run */
/**
 * `op` is on the current shadow
 * @typedef {{seq: number, op: ops.Op, sent: boolean, intent: IntentValue}} InFlight
 */

/**
 * A client's state as JSON, to survive a closed page.
 * @typedef {{version: 1, clientId: string, rev: number, shadow: string, seq: number,
 *   inflight: {seq: number, op: ops.Op, intent: IntentValue} | null,
 *   buffer: ops.Op, bufferIntent: IntentValue}} SavedClient
 */

/**
 * What a page needs to hear about besides the messages to send: the editor must apply every
 * change the server makes to the local text, and remote cursors are mapped through revisions.
 * (A JavaScript-only addition: sync/client.py's callers diff or poll instead.)
 * @typedef {object} ClientObserver
 * @property {(op: ops.Op, before: string, run: Run) => void} [textChanged]  the local text
 *   changed because of the server (a remote edit, a snapshot, a refused edit); `op` applies to
 *   `before`, and `run` is where this client's own latest insert is in `before` (code points;
 *   null if none), for keeping a caret beside it (`caretAssoc` in lib/changes.js)
 * @property {(rev: number, op: ops.Op) => void} [revisionFolded]  revision `rev` (the patch
 *   `op` from `rev - 1`) is now in the shadow
 * @property {(rev: number) => void} [shadowReset]  a snapshot replaced the shadow at `rev`:
 *   revisions before it can no longer be mapped one by one
 */

export class SyncClient {
  /** @type {InFlight | null} */
  #inflight = null;
  /** @type {ops.Op} */
  #buffer;
  #seq;
  /** The pending catch-up must be a snapshot (our copy failed a check). */
  #wantFull = false;
  /**
   * The shadow's checksum, once known (from a revision or snapshot folded in): each
   * revision's is then updated from it, not computed over the whole text.
   * @type {string | null}
   */
  #shadowChecksum = null;
  /** Where our latest insert is in the local text. @type {Run} */
  #run = null;
  /**
   * Where the last local change ended, in code points and UTF-16 units, and the text it
   * made: see `#known`.
   * @type {{text: string, cp: number, unit: number} | null}
   */
  #place = null;
  /** Whether that insert is in the buffer (not yet sent). */
  #runInBuffer = false;
  /** The intent the buffer will be sent with. @type {IntentValue} */
  #bufferIntent = Intent.NONE;

  /**
   * @param {string} clientId
   * @param {{text?: string, rev?: number, seq?: number, observer?: ClientObserver}} [options]
   *   where a client starts: the text at `rev`, and the last operation sequence number it
   *   used; `observer` hears about changes the server makes
   */
  constructor(clientId, { text = "", rev = 0, seq = 0, observer = {} } = {}) {
    validateClientId(clientId);
    validateText(text);
    this.clientId = clientId;
    /** The text at `rev`, as the server has it. */
    this.shadow = text;
    this.rev = rev;
    /** The local text: the shadow plus every unconfirmed local change. */
    this.text = text;
    /** @type {ClientStateValue} */
    this.state = ClientState.OFFLINE;
    /** Edits the server refused, for the page to tell its user about. @type {EditError[]} */
    this.rejected = [];
    this.#seq = seq;
    this.#buffer = ops.identity(codepointLength(text));
    /** @type {ClientObserver} */
    this.observer = observer;
  }

  /**
   * What it takes to carry this client's unconfirmed edits across a closed page: plain JSON
   * (the page keeps it in IndexedDB, lib/unsent.js). A client made from it with
   * {@link SyncClient.restore} sends the in-flight edit again under the same operation id, so
   * the server applies it once whether or not it arrived before the page closed.
   * @returns {SavedClient}
   */
  saveState() {
    const inflight = this.#inflight;
    return {
      version: 1,
      clientId: this.clientId,
      rev: this.rev,
      shadow: this.shadow,
      seq: this.#seq,
      inflight:
        inflight === null ? null : { seq: inflight.seq, op: inflight.op, intent: inflight.intent },
      buffer: this.#buffer,
      bufferIntent: this.#bufferIntent,
    };
  }

  /**
   * A client as {@link SyncClient#saveState} left it, offline; `connect()` then catches up
   * and sends its edits as after any reconnect. Throws on a state that does not hold together.
   * @param {SavedClient} state
   * @param {ClientObserver} [observer]
   */
  static restore(state, observer = {}) {
    if (state === null || typeof state !== "object" || state.version !== 1) {
      throw new ProtocolViolation("not a saved client state");
    }
    const client = new SyncClient(state.clientId, {
      text: state.shadow,
      rev: state.rev,
      seq: state.seq,
      observer,
    });
    let text = state.shadow;
    if (state.inflight !== null) {
      if (state.inflight.seq !== state.seq) {
        throw new ProtocolViolation("the saved in-flight edit is not the last one numbered");
      }
      text = ops.apply(text, state.inflight.op);
      client.#inflight = { ...state.inflight, sent: false };
    }
    const local = ops.apply(text, state.buffer);
    validateText(local);
    client.#buffer = state.buffer;
    client.#bufferIntent = state.bufferIntent;
    client.text = local;
    return client;
  }

  /**
   * Every unconfirmed local change as one operation on the shadow (`shadow` → `text`), for
   * mapping positions from the server's text into the local one.
   * @returns {ops.Op}
   */
  get pending() {
    return this.#inflight === null ? this.#buffer : ops.compose(this.#inflight.op, this.#buffer);
  }

  /**
   * Replace the local text with `text`, telling the observer what changed.
   * @param {string} text
   * @param {ops.Op | null} op  the change from the old local text, if known (else found by diffing)
   * @param {Run} run  our latest insert in the old local text
   */
  #changeText(text, op, run = null) {
    const before = this.text;
    this.text = text;
    if (this.observer.textChanged === undefined || before === text) return;
    this.observer.textChanged(op ?? changesBetween(before, text), before, run);
  }

  // -- local side --------------------------------------------------------------------------

  /** True while some local change is not yet acknowledged by the server. */
  get hasUnconfirmed() {
    return this.#inflight !== null || !ops.isNoop(this.#buffer);
  }

  get unconfirmedCount() {
    return Number(this.#inflight !== null) + Number(!ops.isNoop(this.#buffer));
  }

  /**
   * Apply a local change, an operation on the current local text.
   * @param {ops.Op} op
   */
  edit(op) {
    this.#edit(op, this.#length());
  }

  /**
   * The local text's length in code points, without walking it: the buffer ends at the
   * local text (every change to either keeps it so), and knows its length.
   */
  #length() {
    return ops.targetLength(this.#buffer);
  }

  /**
   * {@link SyncClient.edit}, given the local text's length and, if the caller has one, a
   * `unitIndexer` of it: a keystroke then costs in proportion to the change, not the text.
   * @param {ops.Op} op
   * @param {number} length
   * @param {(cp: number) => number} [at]
   */
  #edit(op, length, at = unitIndexer(this.text, length)) {
    for (const component of op) {
      if (ops.isInsert(component)) validateText(component.insert, { what: "inserted text" });
    }
    const newText = ops.apply(this.text, op, length, at);
    const { intent, run } = typed(this.#run, op);
    this.#run = run;
    if (intent !== null) {
      if (!this.#buffer.some(ops.isInsert)) {
        this.#bufferIntent = intent;
      } else if (!(this.#runInBuffer && intent !== Intent.NONE)) {
        // Inserts in more than one place: no one intent describes them all.
        this.#bufferIntent = Intent.NONE;
      }
      this.#runInBuffer = true;
    }
    this.text = newText;
    this.#buffer = ops.compose(this.#buffer, op);
  }

  /**
   * Replace `deleteCount` characters at `position` with `insert` (code points).
   * @param {number} position
   * @param {number} deleteCount
   * @param {string} insert
   * @returns {ops.Op}
   */
  replace(position, deleteCount, insert) {
    return this.#replace(position, deleteCount, insert, this.#known());
  }

  /**
   * A place in the local text whose code point and UTF-16 indexes are both known: where the
   * last local change ended, while the text is the one it made (else the start). Typing
   * goes on near it, so that in a text with surrogate pairs the walk between the two kinds
   * of index is short.
   * @returns {[number, number]}
   */
  #known() {
    const place = this.#place;
    return place !== null && place.text === this.text ? [place.cp, place.unit] : [0, 0];
  }

  /**
   * @param {number} position
   * @param {number} deleteCount
   * @param {string} insert
   * @param {[number, number]} known  see `#known`
   * @returns {ops.Op}
   */
  #replace(position, deleteCount, insert, known) {
    const length = this.#length();
    // Without a surrogate pair in the text (its UTF-16 length is its length in code
    // points) this is index arithmetic; else a walk from the nearest known place.
    const at = unitIndexer(this.text, length, known);
    const start = Number.isInteger(position) && position >= 0 ? at(position) : -1;
    const end =
      start >= 0 && Number.isInteger(deleteCount) && deleteCount >= 0
        ? at(position + deleteCount)
        : -1;
    if (end < 0) {
      throw new RangeError(`range ${position}+${deleteCount} outside the text (${length})`);
    }
    const op = ops.replace(length, position, this.text.slice(start, end), insert);
    this.#edit(op, length, at);
    const cp = position + codepointLength(insert);
    this.#place = { text: this.text, cp, unit: start + insert.length };
    return op;
  }

  /**
   * Replace the UTF-16 range `from..to` with `insert`: what an editor such as CodeMirror
   * reports. Throws RangeError for an offset that splits a surrogate pair.
   * @param {number} from
   * @param {number} to
   * @param {string} insert
   * @returns {ops.Op}
   */
  replaceRange(from, to, insert) {
    if (to < from) throw new RangeError(`range ${from}..${to} ends before it starts`);
    const start = this.codepointOf(from);
    const end = utf16ToCodepoint(this.text, to, [start, from]);
    return this.#replace(start, end - start, insert, [start, from]);
  }

  /**
   * The code point position of UTF-16 offset `unit` in the local text (an editor's caret,
   * say), without walking the text when it has no surrogate pair, and else from where the
   * last local change ended. Throws RangeError as `utf16ToCodepoint` does.
   * @param {number} unit
   * @returns {number}
   */
  codepointOf(unit) {
    const known = this.#length() === this.text.length ? [unit, unit] : this.#known();
    return utf16ToCodepoint(this.text, unit, /** @type {[number, number]} */ (known));
  }

  /**
   * The UTF-16 offset of code point position `position` in the local text: the inverse of
   * {@link SyncClient#codepointOf}, as cheap. Throws RangeError outside the text.
   * @param {number} position
   * @returns {number}
   */
  unitOf(position) {
    const length = this.#length();
    const unit = Number.isInteger(position)
      ? unitIndexer(this.text, length, this.#known())(position)
      : -1;
    if (unit < 0) throw new RangeError(`code point index ${position} outside 0..${length}`);
    return unit;
  }

  /**
   * Make the local text `newText`, finding the change by diffing.
   * @param {string} newText
   * @returns {ops.Op}
   */
  setText(newText) {
    validateText(newText);
    const op = changesBetween(this.text, newText);
    this.edit(op);
    return op;
  }

  // -- network side ------------------------------------------------------------------------

  /**
   * A connection is open: ask for what was missed.
   * @returns {ClientMessage[]}
   */
  connect() {
    return this.#requestCatchUp();
  }

  disconnect() {
    this.state = ClientState.OFFLINE;
  }

  /**
   * What to send again when an answer is overdue (the caller keeps the clock).
   * @returns {ClientMessage[]}
   */
  resend() {
    if (this.state === ClientState.SYNCING) {
      return [resync(this.clientId, this.rev, this.#wantFull)];
    }
    if (this.state === ClientState.READY && this.#inflight !== null) {
      this.#inflight.sent = false;
      return this.flush();
    }
    return [];
  }

  /**
   * Send the in-flight edit if it is unsent, else start one from the buffer.
   * @returns {ClientMessage[]}
   */
  flush() {
    if (this.state !== ClientState.READY) return [];
    if (this.#inflight === null) {
      if (ops.isNoop(this.#buffer)) return [];
      this.#seq += 1;
      const intent = this.#bufferIntent;
      this.#inflight = { seq: this.#seq, op: this.#buffer, sent: false, intent };
      this.#buffer = ops.identity(ops.targetLength(this.#buffer));
      this.#bufferIntent = Intent.NONE;
      this.#runInBuffer = false;
    }
    const inflight = this.#inflight;
    if (inflight.sent) return [];
    inflight.sent = true;
    const patch = patchText(this.shadow, inflight.op);
    return [edit(this.rev, this.clientId, inflight.seq, patch, inflight.intent)];
  }

  /**
   * Handle one message from the server; returns what to send in reply. A client's own kind
   * of message (`edit`, `resync`) is refused with {@link ProtocolViolation}.
   * @param {ServerMessage | ClientMessage} message  as returned by `fromWire`
   * @returns {ClientMessage[]}
   */
  receive(message) {
    if (this.state === ClientState.OFFLINE) return []; // a straggler from a closed connection
    switch (message.type) {
      case "revision":
        return this.#onRevision(message);
      case "synced":
        // While a snapshot is awaited, this answers an older request: keep waiting.
        if (this.#wantFull) return [];
        if (message.rev > this.rev) return this.#requestCatchUp();
        if (message.rev === this.rev && this.state === ClientState.SYNCING) {
          this.state = ClientState.READY;
        }
        return this.flush();
      case "snapshot":
        return this.#onSnapshot(message);
      case "error":
        return this.#onError(message);
      default:
        throw new ProtocolViolation(`a client cannot handle '${message.type}' messages`);
    }
  }

  /**
   * @param {{full?: boolean}} [options]
   * @returns {ClientMessage[]}
   */
  #requestCatchUp({ full = false } = {}) {
    this.state = ClientState.SYNCING;
    this.#wantFull = full;
    // Send it again once caught up; the server acknowledges a duplicate again.
    if (this.#inflight !== null) this.#inflight.sent = false;
    return [resync(this.clientId, this.rev, full)];
  }

  /**
   * @param {Revision} revision
   * @returns {ClientMessage[]}
   */
  #onRevision(revision) {
    if (revision.rev <= this.rev) return []; // already folded in (a duplicate, or an old ack)
    if (revision.rev > this.rev + 1) return this.#requestCatchUp(); // a gap: never skip one
    let folded;
    try {
      folded = fold(this.shadow, revision, this.#shadowChecksum);
    } catch (error) {
      // Our shadow has drifted from the server's: replaying cannot repair it. Ask for a
      // snapshot; merging onto it keeps our unconfirmed edits.
      if (error instanceof PatchRejected || error instanceof ChecksumMismatch) {
        return this.#requestCatchUp({ full: true });
      }
      throw error;
    }
    this.#shadowChecksum = revision.checksum;
    const inflight = this.#inflight;
    if (inflight !== null && revision.client === this.clientId && revision.seq === inflight.seq) {
      this.#onAck(folded.op, folded.text, revision.rev);
    } else {
      this.#onRemote(folded.op, folded.text, revision.rev, revision.intent ?? Intent.NONE);
    }
    this.observer.revisionFolded?.(revision.rev, folded.op);
    return this.flush();
  }

  /**
   * @param {ops.Op} serverOp
   * @param {string} newShadow
   * @param {number} rev
   */
  #onAck(serverOp, newShadow, rev) {
    const inflight = /** @type {InFlight} */ (this.#inflight);
    this.#inflight = null;
    this.shadow = newShadow;
    this.rev = rev;
    if (ops.equals(serverOp, inflight.op)) return;
    // The server applied something else under this id: an earlier copy of an edit we later
    // merged more into (after a snapshot), or a fuzzy placement. Keep the text the user sees
    // and send whatever still differs: nothing typed is lost or doubled.
    this.#buffer = changesBetween(this.shadow, this.text);
    this.#bufferIntent = Intent.NONE;
    this.#runInBuffer = false;
  }

  /**
   * @param {ops.Op} remote
   * @param {string} newShadow
   * @param {number} rev
   * @param {IntentValue} intent  the remote revision's
   */
  #onRemote(remote, newShadow, rev, intent) {
    this.shadow = newShadow;
    this.rev = rev;
    if (this.#inflight === null && ops.isNoop(this.#buffer)) {
      // Nothing of ours is unconfirmed: the local text is the shadow.
      this.#buffer = ops.identity(ops.targetLength(remote));
      const run = this.#run;
      this.#run = mapRun(run, remote);
      if (!ops.isNoop(remote)) this.#changeText(newShadow, remote, run);
      return;
    }
    // The server sequenced `remote` before anything of ours. Where both insert at one
    // position the intents decide which text goes first, as the server decides when it
    // rebases our edit over `remote`: the same in our rebased edits and in its own rebased
    // form.
    let rebased = remote;
    if (this.#inflight !== null) {
      const inflightOp = this.#inflight.op;
      const first = laterGoesFirst(intent, this.#inflight.intent);
      this.#inflight.op = ops.transform(inflightOp, rebased, { otherFirst: !first });
      rebased = ops.transform(rebased, inflightOp, { otherFirst: first });
    }
    const buffer = this.#buffer;
    const first = laterGoesFirst(intent, this.#bufferIntent);
    this.#buffer = ops.transform(buffer, rebased, { otherFirst: !first });
    rebased = ops.transform(rebased, buffer, { otherFirst: first });
    const run = this.#run;
    this.#run = mapRun(run, rebased);
    if (!ops.isNoop(rebased)) {
      // The buffer ends at the local text, so it knows the text's length in code points.
      this.#changeText(ops.apply(this.text, rebased, ops.targetLength(buffer)), rebased, run);
    }
  }

  /**
   * @param {Snapshot} snapshot
   * @returns {ClientMessage[]}
   */
  #onSnapshot(snapshot) {
    if (this.state !== ClientState.SYNCING || snapshot.rev < this.rev) {
      // Unasked for, or older than what we hold: a duplicate or a straggler. Merging it
      // would send our unconfirmed changes a second time.
      return [];
    }
    if (!checksumMatches(snapshot.text, snapshot.checksum)) {
      throw new ChecksumMismatch(`snapshot at revision ${snapshot.rev} fails its checksum`);
    }
    // What the server has not seen of ours: the buffer, plus the in-flight edit unless the
    // snapshot already contains it.
    let base = this.shadow;
    let changes = this.#buffer;
    let inflight = this.#inflight;
    if (inflight !== null && inflight.seq <= snapshot.last_seq) {
      base = ops.apply(this.shadow, inflight.op);
      inflight = null;
    } else if (inflight !== null) {
      changes = ops.compose(inflight.op, this.#buffer);
    }
    this.#wantFull = false;
    // A three-way merge: `changes` transformed over the diff from `base` to the snapshot.
    const merged = rebaseOnto(base, changes, snapshot.text);
    this.#seq = Math.max(this.#seq, snapshot.last_seq);
    if (inflight !== null) {
      // The in-flight edit may still reach the server after this snapshot was made, so it
      // goes again under its own id (the server applies one copy at most) and with its own
      // content: the buffer stays apart, so that if the first copy is the one applied,
      // nothing of the buffer is taken for sent.
      // The buffer is found by diffing, not as compose(invert(alone), merged): that form
      // can hold a delete-and-reinsert of unchanged text, which would resurrect the text if
      // someone else replaced it meanwhile.
      const alone = rebaseOnto(base, inflight.op, snapshot.text);
      this.#inflight = { seq: inflight.seq, op: alone, sent: false, intent: inflight.intent };
      this.#changeText(ops.apply(snapshot.text, merged), null);
      this.#buffer = changesBetween(ops.apply(snapshot.text, alone), this.text);
    } else {
      this.#inflight = null;
      this.#buffer = merged;
      this.#changeText(ops.apply(snapshot.text, merged), null);
    }
    this.shadow = snapshot.text;
    this.rev = snapshot.rev;
    this.#shadowChecksum = snapshot.checksum;
    // A merge moves text in ways no run follows: start afresh.
    this.#run = null;
    this.#runInBuffer = false;
    this.#bufferIntent = Intent.NONE;
    this.observer.shadowReset?.(snapshot.rev);
    this.state = ClientState.READY;
    return this.flush();
  }

  /**
   * @param {EditError} error
   * @returns {ClientMessage[]}
   */
  #onError(error) {
    const inflight = this.#inflight;
    if (inflight === null || error.client !== this.clientId || error.seq !== inflight.seq) {
      return []; // about an edit already settled
    }
    if (error.code === StaleRevision.code) {
      // Not refused, just too old to rebase: catch up (a snapshot) and merge it.
      return this.#requestCatchUp();
    }
    if (RETRYABLE.has(error.code)) {
      // Not refused either: the caller's timer sends it again (see resend()).
      inflight.sent = false;
      return [];
    }
    this.rejected.push(error);
    this.#inflight = null;
    // Take the refused edit out of the local text; later typing stays.
    this.#buffer = ops.transform(this.#buffer, ops.invert(inflight.op));
    this.#run = null;
    this.#runInBuffer = false;
    this.#bufferIntent = Intent.NONE;
    this.#changeText(ops.apply(this.shadow, this.#buffer), null);
    return this.flush();
  }
}
