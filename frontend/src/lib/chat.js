/**
 * The chat beside the document: the lines people write in the page and in the document's XMPP
 * room (docs/protocol.md, "Chat"). `ChatLines` keeps them (each id once, in time order, the
 * newest `MAX_LINES`); `ChatPanel` shows them and sends what is typed (Enter sends,
 * Shift+Enter starts a new line). Names and text go in as text nodes, never as HTML.
 * `Unread` counts the lines that came while the reader could not see them: below the part of
 * the log they had scrolled to (a "new messages" button), or while the page was hidden (a
 * count in the tab's title).
 * @module
 */

import { el } from "./dom.js";

/** Characters in one line, as the server counts them (code points). */
export const MAX_CHAT_CHARS = 2000;
/** Lines kept in the page. */
export const MAX_LINES = 200;

/**
 * @typedef {object} ChatLine
 * @property {string} id
 * @property {string} name
 * @property {string} text
 * @property {number} at  milliseconds since the epoch
 * @property {"page" | "xmpp"} source
 * @property {string} [color]
 */

/**
 * A line from the server, if it has the shape one must have.
 * @param {any} value
 * @returns {ChatLine | null}
 */
export function asLine(value) {
  if (value === null || typeof value !== "object") return null;
  const { id, name, text, at, source, color } = value;
  if (typeof id !== "string" || typeof name !== "string" || typeof text !== "string") return null;
  if (typeof at !== "number" || !Number.isFinite(at)) return null;
  return {
    id,
    name,
    text,
    at,
    source: source === "xmpp" ? "xmpp" : "page",
    color: typeof color === "string" && /^#[0-9a-fA-F]{6}$/.test(color) ? color : undefined,
  };
}

/** The lines of one document's chat: each id once, oldest first, at most `limit`. */
export class ChatLines {
  /** @param {number} [limit] */
  constructor(limit = MAX_LINES) {
    this.limit = limit;
    /** @type {ChatLine[]} */
    this.lines = [];
  }

  /**
   * Replace everything (a `chat-history` message).
   * @param {unknown[]} messages
   */
  reset(messages) {
    this.lines = [];
    this.add(messages);
  }

  /**
   * Add lines not seen yet; returns whether anything changed.
   * @param {unknown[]} messages
   */
  add(messages) {
    const known = new Set(this.lines.map((line) => line.id));
    let changed = false;
    for (const message of messages) {
      const line = asLine(message);
      if (line === null || known.has(line.id)) continue;
      known.add(line.id);
      this.lines.push(line);
      changed = true;
    }
    if (changed) {
      this.lines.sort((a, b) => a.at - b.at);
      if (this.lines.length > this.limit) this.lines.splice(0, this.lines.length - this.limit);
    }
    return changed;
  }
}

/** Lines that came while the reader could not see them. */
export class Unread {
  constructor() {
    /** Lines below where the reader has scrolled the log to. */
    this.below = 0;
    /** Lines that came while the page was hidden. */
    this.away = 0;
  }

  /**
   * New lines came.
   * @param {number} count
   * @param {{atEnd: boolean, hidden: boolean}} reader  whether the log showed its newest
   *   line, and whether the page was hidden
   */
  arrived(count, reader) {
    if (!reader.atEnd) this.below += count;
    if (reader.hidden) this.away += count;
  }

  /** The reader has come to the newest line. */
  sawEnd() {
    this.below = 0;
  }

  /** The page is shown again. */
  back() {
    this.away = 0;
  }
}

/** @param {number} count */
function shortCount(count) {
  return count > 99 ? "99+" : String(count);
}

/**
 * The button's words: "1 new message", "3 new messages".
 * @param {number} count
 */
export function unreadLabel(count) {
  return `${shortCount(count)} new message${count === 1 ? "" : "s"}`;
}

/**
 * The tab's title with how many lines came while it was hidden: "(3) Plan · XMPP Collab".
 * @param {string} title
 * @param {number} count
 */
export function titleWithUnread(title, count) {
  return count > 0 ? `(${shortCount(count)}) ${title}` : title;
}

/**
 * "14:05" today, "3 Nov 14:05" on another day (in the reader's time zone).
 * @param {number} at
 * @param {number} [now]
 */
export function chatTime(at, now = Date.now()) {
  const date = new Date(at);
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (new Date(now).toDateString() === date.toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${time}`;
}

/**
 * What to tell the person about a refused line, from the server's `error`.
 * @param {{code?: string, message?: string}} error
 */
export function chatErrorText(error) {
  switch (error.code) {
    case "chat-too-long":
      return `That message is too long (at most ${MAX_CHAT_CHARS} characters); it was not sent.`;
    case "rate-limited":
      return "You are sending messages too fast; wait a moment and send it again.";
    case "invalid-text":
      return "That message has a character a chat cannot carry; it was not sent.";
    default:
      return `The message was not sent: ${error.message ?? "the server refused it"}.`;
  }
}

/**
 * @typedef {object} ChatElements
 * @property {HTMLElement} log  the list of lines (an `<ol>`)
 * @property {HTMLFormElement} form
 * @property {HTMLTextAreaElement} input
 * @property {HTMLElement} note  where refusals and "not connected" are said
 * @property {HTMLButtonElement} [more]  "3 new messages": shown while lines wait below
 */

/**
 * @typedef {object} ChatOptions
 * @property {() => boolean} [hidden]  whether the page is hidden (default: document.hidden)
 * @property {(count: number) => void} [onAway]  how many lines came while it was hidden,
 *   each time that changes (0 once it is shown again: call `back()`)
 */

export class ChatPanel {
  /**
   * @param {ChatElements} elements
   * @param {(text: string) => boolean} send  false if it could not be sent (not connected)
   * @param {ChatOptions} [options]
   */
  constructor(elements, send, options = {}) {
    this.elements = elements;
    this.send = send;
    this.lines = new ChatLines();
    this.unread = new Unread();
    this.hidden = options.hidden ?? (() => document.hidden);
    this.onAway = options.onAway ?? (() => {});
    elements.log.addEventListener("scroll", () => {
      if (this.unread.below > 0 && this.#atEnd()) {
        this.unread.sawEnd();
        this.#showUnread();
      }
    });
    elements.more?.addEventListener("click", () => {
      elements.log.scrollTop = elements.log.scrollHeight;
      this.unread.sawEnd();
      this.#showUnread();
      elements.log.focus();
    });
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    elements.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#submit();
      }
    });
  }

  /**
   * A `chat`, `chat-history` or chat `error` message from the server.
   * @param {any} data
   */
  receive(data) {
    if (data.type === "chat-history" && Array.isArray(data.messages)) {
      this.lines.reset(data.messages);
      this.#render();
    } else if (data.type === "chat" && this.lines.add([data.message])) {
      const atEnd = this.#atEnd();
      this.#render();
      const away = this.unread.away;
      this.unread.arrived(1, { atEnd, hidden: this.hidden() });
      this.#showUnread();
      if (this.unread.away !== away) this.onAway(this.unread.away);
    } else if (data.type === "error") {
      this.#note(chatErrorText(data), "error");
    }
  }

  /** The page is shown again: what came while it was hidden counts as seen. */
  back() {
    if (this.unread.away === 0) return;
    this.unread.back();
    this.onAway(0);
  }

  #submit() {
    const { input } = this.elements;
    const text = input.value;
    if (text.trim() === "") return;
    if (!this.send(text)) {
      this.#note("Not connected: the message was not sent. Send it again once connected.", "error");
      return;
    }
    input.value = "";
    this.#note("", "info");
    // Whoever writes wants to see their line, and the ones before it.
    const { log } = this.elements;
    log.scrollTop = log.scrollHeight;
    this.unread.sawEnd();
    this.#showUnread();
  }

  #atEnd() {
    const { log } = this.elements;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  #showUnread() {
    const { more } = this.elements;
    if (more === undefined) return;
    more.hidden = this.unread.below === 0;
    more.textContent = `${unreadLabel(this.unread.below)} ↓`;
  }

  /**
   * @param {string} text
   * @param {"info" | "error"} kind
   */
  #note(text, kind) {
    this.elements.note.textContent = text;
    this.elements.note.dataset.kind = kind;
  }

  #render() {
    const { log } = this.elements;
    // Follow the newest line unless the reader has scrolled up to read older ones.
    const atEnd = this.#atEnd();
    log.replaceChildren(...this.lines.lines.map((line) => lineElement(line)));
    if (atEnd) log.scrollTop = log.scrollHeight;
  }
}

/** @param {ChatLine} line */
function lineElement(line) {
  const when = new Date(line.at);
  return el(
    "li",
    { class: "chat-line", dataset: { source: line.source } },
    el(
      "div",
      { class: "chat-meta" },
      el("span", { class: "swatch", style: { "--person-color": line.color ?? "#888888" }, "aria-hidden": "true" }),
      el("span", { class: "chat-name" }, line.name),
      line.source === "xmpp" ? el("span", { class: "chat-via", title: "Said in the document's XMPP chat room" }, "XMPP") : null,
      el("time", { datetime: when.toISOString() }, chatTime(line.at)),
    ),
    el("p", { class: "chat-text" }, line.text),
  );
}
