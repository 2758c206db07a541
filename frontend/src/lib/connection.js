/**
 * One document's live connection: drives a {@link SyncClient} over the server's WebSocket.
 * The browser twin of sdk/websocket.py.
 *
 * The engine decides what to send; this moves it, and keeps the clocks the engine leaves to
 * its caller: an answer overdue for `resendAfter` ms (or an edit refused as rate-limited) is
 * sent again; a connection that stops answering pings is dropped; a dropped connection is
 * opened again with backoff, and the engine catches up. Local edits made while disconnected
 * wait in the engine and go out, merged, once caught up: nothing typed is lost.
 *
 * No DOM here, and the WebSocket class and the timers are injectable, so that node's test
 * runner can drive it with a fake socket and a fake clock.
 * @module
 */

import { ClientState, RETRYABLE, fromWire } from "../sync/index.js";

/** @typedef {import("../sync/index.js").SyncClient} SyncClient */

/**
 * What the page shows: `connecting` before the first connection is up, `connected` while
 * edits flow, `reconnecting` after a drop, `offline` while the browser has no network (or the
 * page paused the connection), `closed` when the server refused the document for good.
 * @typedef {"connecting" | "connected" | "reconnecting" | "offline" | "closed"} LinkState
 */

/** Close codes after which reconnecting cannot help (docs/protocol.md). */
export const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4404, 4410]);

/** What a person should read for a close code the connection will not recover from. */
export const CLOSE_REASONS = Object.freeze({
  4400: "The server refused this page's messages (a bug: please reload the page).",
  4401: "You are signed out: sign in again to go on editing.",
  4403: "Your access to this document was revoked (or you never had it).",
  4404: "This document does not exist. It may have been deleted, or the link is wrong.",
  4410: "This document was deleted.",
});

/**
 * Exponential backoff with jitter, in milliseconds.
 * @param {number} attempt  0 for the first retry
 * @param {{initial?: number, maximum?: number, jitter?: number, random?: () => number}} [options]
 */
export function backoffDelay(
  attempt,
  { initial = 250, maximum = 8000, jitter = 0.25, random = Math.random } = {},
) {
  const delay = Math.min(maximum, initial * 2 ** Math.min(attempt, 30));
  return Math.round(delay * (1 + (random() * 2 - 1) * jitter));
}

/**
 * @typedef {object} Person
 * @property {string} session
 * @property {string} name
 * @property {string} [color]  theirs on this document: nobody else present has it
 * @property {string} [author]  the name their revisions carry, where it is not `name`
 * @property {number | null} [cursor]
 * @property {number | null} [anchor]
 * @property {number} [rev]
 * @property {boolean} [bot]  a bot following the document over XMPP
 */

/**
 * @typedef {object} ConnectionOptions
 * @property {string} url  the document's WebSocket URL (`ws://host/ws/{id}`)
 * @property {SyncClient} client
 * @property {string} name
 * @property {string | null} [color]  the color asked for (the server gives it if free)
 * @property {boolean} [authorship]  ask to be told who wrote the text with each snapshot
 * @property {boolean} [chat]  ask for the document's chat (its recent lines, then new ones)
 * @property {typeof WebSocket} [WebSocketClass]
 * @property {{now: () => number, setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout,
 *   setInterval: typeof setInterval, clearInterval: typeof clearInterval}} [clock]
 * @property {number} [resendAfter]  ms before an unanswered edit or resync goes again
 * @property {number} [pingEvery]  ms between liveness pings
 * @property {number} [pingTimeout]  ms without a pong before the connection counts as dead
 * @property {(attempt: number) => number} [backoff]
 */

/**
 * @typedef {object} ConnectionEvents
 * @property {(state: LinkState) => void} [stateChanged]
 * @property {(data: any) => void} [joined]  the `joined` message
 * @property {(people: Map<string, Person>) => void} [peopleChanged]
 * @property {(person: Person) => void} [presence]  someone's presence (join or update)
 * @property {(person: Person) => void} [meChanged]  how the others see us changed (the
 *   server gave us another color than the one asked for)
 * @property {(data: {rev: number, runs: [number, number, string | null][]}) => void} [authorship]
 *   who wrote the text of the snapshot at `rev`, as runs in code points
 * @property {(title: string) => void} [renamed]
 * @property {(error: any) => void} [serverError]  an `error` message
 * @property {(status: {bus: string, message?: string}) => void} [busStatus]  a `status`
 *   message: whether this server reaches the other servers (and bots), to show as a banner
 * @property {(message: string) => void} [problem]  something the user should know
 * @property {() => void} [progress]  a message was handled (the engine's state may have moved)
 * @property {(data: any) => void} [chat]  a `chat` or `chat-history` message, or an `error`
 *   about a chat line (`about: "chat"`)
 */

export class Connection {
  /** @type {WebSocket | null} */
  #socket = null;
  #allowed = true;
  #ended = false;
  #attempt = 0;
  #reachedOnline = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #retryTimer = null;
  /** @type {ReturnType<typeof setInterval> | null} */
  #ticker = null;
  #deadline = 0;
  #lastPingAt = 0;
  #awaitingPongSince = 0;
  #pingToken = 0;
  /** @type {Record<string, unknown>} */
  #presence = {};

  /**
   * @param {ConnectionOptions} options
   * @param {ConnectionEvents} [events]
   */
  constructor(options, events = {}) {
    this.url = options.url;
    this.client = options.client;
    this.name = options.name;
    this.color = options.color;
    this.authorship = options.authorship === true;
    this.chat = options.chat === true;
    this.WebSocketClass = options.WebSocketClass ?? globalThis.WebSocket;
    this.clock = options.clock ?? {
      now: () => Date.now(),
      setTimeout: globalThis.setTimeout.bind(globalThis),
      clearTimeout: globalThis.clearTimeout.bind(globalThis),
      setInterval: globalThis.setInterval.bind(globalThis),
      clearInterval: globalThis.clearInterval.bind(globalThis),
    };
    this.resendAfter = options.resendAfter ?? 3000;
    this.pingEvery = options.pingEvery ?? 15000;
    this.pingTimeout = options.pingTimeout ?? 10000;
    this.backoff = options.backoff ?? ((attempt) => backoffDelay(attempt));
    this.events = events;

    /** @type {LinkState} */
    this.state = "connecting";
    /** This connection's session id, from `joined`. @type {string | null} */
    this.session = null;
    /** How the others see us. @type {Person | null} */
    this.me = null;
    /** Everyone else present, by session. @type {Map<string, Person>} */
    this.people = new Map();
    this.title = "";
    /** @type {Record<string, unknown>} */
    this.limits = {};
    /** Why the server refused the document for good, for the page. */
    this.closedReason = "";
    this.joins = 0;
  }

  /** Open the connection (and keep it open). */
  start() {
    this.#ticker = this.clock.setInterval(() => this.#tick(), 250);
    this.#open();
  }

  /** Close for good. Unconfirmed edits stay in the engine. */
  stop() {
    this.#ended = true;
    this.#clearRetry();
    if (this.#ticker !== null) this.clock.clearInterval(this.#ticker);
    this.#ticker = null;
    this.#drop(1000, "bye");
    this.#setState("closed");
  }

  /** Go offline (the browser lost its network): drop the socket, keep typing locally. */
  pause() {
    this.#allowed = false;
    this.#clearRetry();
    this.#drop(4000, "offline");
    this.#setState("offline");
  }

  /** The network is back: connect again now, without waiting for the backoff. */
  resume() {
    if (this.#ended) return;
    this.#allowed = true;
    this.#attempt = 0;
    if (this.#socket === null) {
      this.#clearRetry();
      this.#setState(this.joins > 0 ? "reconnecting" : "connecting");
      this.#open();
    }
  }

  /** True when connected, caught up, and every local edit is confirmed. */
  get synced() {
    return (
      this.state === "connected" &&
      this.client.state === ClientState.READY &&
      !this.client.hasUnconfirmed
    );
  }

  /**
   * Say `text` in the document's chat; false if not connected (nothing was sent).
   * @param {string} text
   */
  sendChat(text) {
    if (this.session === null) return false;
    return this.#post({ type: "chat", text });
  }

  /** Send whatever the engine has to send now (after a local edit). */
  flush() {
    this.#send(this.client.flush());
  }

  /**
   * Tell the others our cursor, anchor, name or color; remembered and sent again after every
   * reconnect.
   * @param {Record<string, unknown>} fields
   */
  setPresence(fields) {
    Object.assign(this.#presence, fields);
    if (typeof fields.name === "string") this.name = fields.name;
    if (typeof fields.color === "string") this.color = fields.color;
    if (this.session !== null) this.#post({ type: "presence", ...fields });
  }

  // -- the socket ----------------------------------------------------------------------

  #open() {
    if (this.#ended || !this.#allowed || this.#socket !== null) return;
    let socket;
    try {
      socket = new this.WebSocketClass(this.url);
    } catch (error) {
      this.events.problem?.(`Cannot open a connection: ${String(error)}`);
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => this.#onOpen(socket);
    socket.onmessage = (event) => {
      if (socket === this.#socket && typeof event.data === "string") this.#onText(event.data);
    };
    socket.onclose = (event) => this.#onClose(socket, event.code, event.reason);
    socket.onerror = () => {
      // A close event follows; that is where we react.
    };
  }

  /** @param {WebSocket} socket */
  #onOpen(socket) {
    if (socket !== this.#socket) return;
    const [resync] = this.client.connect();
    if (resync.type !== "resync") throw new Error(`the engine asked for ${resync.type}`);
    /** @type {Record<string, unknown>} */
    const join = {
      type: "join",
      client: this.client.clientId,
      name: this.name,
      since: resync.since,
      // A copy at revision 0 may not know the document's initial text: take a snapshot.
      full: resync.full || resync.since === 0,
    };
    if (this.color) join.color = this.color;
    if (this.authorship) join.authorship = true;
    if (this.chat) join.chat = true;
    socket.send(JSON.stringify(join));
    this.#deadline = this.clock.now() + this.resendAfter;
    this.#lastPingAt = this.clock.now();
    this.#awaitingPongSince = 0;
  }

  /**
   * @param {WebSocket} socket
   * @param {number} code
   * @param {string} reason
   */
  #onClose(socket, code, reason) {
    if (socket !== this.#socket) return; // one we dropped ourselves
    this.#forget();
    this.#afterClose(code, reason);
  }

  /** The socket is gone: clear what belonged to it. */
  #forget() {
    this.#socket = null;
    this.session = null;
    this.me = null;
    this.client.disconnect();
    if (this.people.size > 0) {
      this.people = new Map();
      this.events.peopleChanged?.(this.people);
    }
  }

  /**
   * Decide what comes after a closed connection: stop, wait for the network, or retry.
   * @param {number} code
   * @param {string} reason
   */
  #afterClose(code, reason) {
    if (this.#ended) return;
    if (FATAL_CLOSE_CODES.has(code)) {
      this.#ended = true;
      this.closedReason =
        CLOSE_REASONS[/** @type {4400 | 4404 | 4410} */ (code)] ?? (reason || "Refused.");
      this.#setState("closed");
      this.events.problem?.(this.closedReason);
      return;
    }
    if (!this.#allowed) {
      this.#setState("offline");
      return;
    }
    if (this.#reachedOnline) this.#attempt = 0; // it worked for a while: start over
    this.#reachedOnline = false;
    this.#setState(this.joins > 0 ? "reconnecting" : "connecting");
    this.#scheduleRetry();
  }

  /** Drop the connection as lost (no answer, or a copy to rebuild) and reconnect. */
  #lose() {
    this.#drop(4000, "lost");
    this.#afterClose(1006, "lost");
  }

  #scheduleRetry() {
    this.#clearRetry();
    const delay = this.backoff(this.#attempt);
    this.#attempt += 1;
    this.#retryTimer = this.clock.setTimeout(() => {
      this.#retryTimer = null;
      this.#open();
    }, delay);
  }

  #clearRetry() {
    if (this.#retryTimer !== null) this.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /**
   * Close the socket ourselves; its close event, whenever it comes, is then ignored.
   * @param {number} code
   * @param {string} reason
   */
  #drop(code, reason) {
    const socket = this.#socket;
    if (socket === null) return;
    this.#forget();
    try {
      socket.close(code, reason);
    } catch {
      // already closing
    }
  }

  /** Timers: resend overdue answers, ping, and notice a dead connection. */
  #tick() {
    if (this.#socket === null || this.session === null) return;
    const now = this.clock.now();
    const waiting = this.client.state === ClientState.SYNCING || this.client.hasUnconfirmed;
    if (waiting && now >= this.#deadline) {
      this.#deadline = now + this.resendAfter;
      this.#send(this.client.resend());
    }
    if (this.#awaitingPongSince !== 0 && now - this.#awaitingPongSince > this.pingTimeout) {
      // No answer for a long time: the connection is dead even if the browser hasn't noticed.
      this.#lose();
      return;
    }
    if (this.#awaitingPongSince === 0 && now - this.#lastPingAt >= this.pingEvery) {
      this.#lastPingAt = now;
      this.#awaitingPongSince = now;
      this.#pingToken += 1;
      this.#post({ type: "ping", at: this.#pingToken });
    }
  }

  // -- messages ------------------------------------------------------------------------

  /** @param {string} raw */
  #onText(raw) {
    let data;
    try {
      data = JSON.parse(raw);
    } catch {
      return;
    }
    if (data === null || typeof data !== "object") return;
    switch (data.type) {
      case "joined":
        this.#onJoined(data);
        break;
      case "presence":
        this.#onPresence(data);
        break;
      case "pong":
        this.#awaitingPongSince = 0;
        break;
      case "renamed":
        if (typeof data.title === "string") {
          this.title = data.title;
          this.events.renamed?.(data.title);
        }
        break;
      case "chat":
      case "chat-history":
        this.events.chat?.(data);
        break;
      case "error":
        if (data.about === "chat") {
          this.events.chat?.(data);
          break;
        }
        this.events.serverError?.(data);
        if ("client" in data && "seq" in data) {
          if (RETRYABLE.has(data.code)) {
            this.#deadline = this.clock.now() + this.#retryDelay();
          }
          this.#feed(data);
        }
        break;
      case "revision":
      case "snapshot":
      case "synced":
        this.#feed(data);
        break;
      case "authorship":
        if (Number.isInteger(data.rev) && Array.isArray(data.runs)) this.events.authorship?.(data);
        break;
      case "status":
        if (typeof data.bus === "string") this.events.busStatus?.(data);
        break;
      default:
        break;
    }
    if (
      this.session !== null &&
      this.state !== "connected" &&
      this.client.state === ClientState.READY
    ) {
      this.#reachedOnline = true;
      this.#setState("connected");
    }
    this.events.progress?.();
  }

  /** @param {any} data */
  #feed(data) {
    let replies;
    try {
      replies = this.client.receive(fromWire(data));
    } catch (error) {
      // A copy that cannot be repaired in place: start over with a fresh connection.
      this.events.problem?.(`Resynchronising after an error: ${String(error)}`);
      this.#lose();
      return;
    }
    this.#send(replies);
  }

  /** @param {any} data */
  #onJoined(data) {
    this.joins += 1;
    this.session = typeof data.session === "string" ? data.session : null;
    this.me = data.person ?? null;
    if (typeof data.doc?.title === "string") this.title = data.doc.title;
    this.limits = data.limits ?? {};
    this.people = new Map();
    for (const person of data.people ?? []) {
      if (person && typeof person.session === "string") this.people.set(person.session, person);
    }
    this.events.joined?.(data);
    this.events.peopleChanged?.(this.people);
    for (const person of this.people.values()) this.events.presence?.(person);
    if (Object.keys(this.#presence).length > 0) {
      this.#post({ type: "presence", ...this.#presence });
    }
  }

  /** @param {any} data */
  #onPresence(data) {
    const person = data.person;
    if (!person || typeof person.session !== "string") return;
    if (person.session === this.session) {
      if (data.event !== "leave") {
        this.me = person;
        this.events.meChanged?.(person);
      }
      return;
    }
    if (data.event === "leave") this.people.delete(person.session);
    else {
      this.people.set(person.session, person);
      this.events.presence?.(person);
    }
    this.events.peopleChanged?.(this.people);
  }

  // -- sending -------------------------------------------------------------------------

  /** @param {import("../sync/index.js").ClientMessage[]} messages */
  #send(messages) {
    for (const message of messages) {
      if (this.#post(message)) this.#deadline = this.clock.now() + this.resendAfter;
    }
  }

  /**
   * @param {object} message
   * @returns {boolean}  false if there is no open connection
   */
  #post(message) {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== 1 /* OPEN */) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  #retryDelay() {
    const rate = this.limits.edits_per_second;
    if (typeof rate === "number" && rate > 0) {
      return Math.min(this.resendAfter, Math.max(20, 1000 / rate));
    }
    return Math.min(this.resendAfter, 200);
  }

  /** @param {LinkState} state */
  #setState(state) {
    if (this.state === "closed" || this.state === state) return;
    this.state = state;
    this.events.stateChanged?.(state);
  }
}
