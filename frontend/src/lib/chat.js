/**
 * The chat beside the document: the lines people write in the page and in the document's XMPP
 * room (docs/protocol.md, "Chat"). `ChatLines` keeps them (each id once, in time order, the
 * newest `MAX_LINES`); `ChatPanel` shows them and sends what is typed (Enter sends,
 * Shift+Enter starts a new line). Names and text go in as text nodes, never as HTML.
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
 */

export class ChatPanel {
  /**
   * @param {ChatElements} elements
   * @param {(text: string) => boolean} send  false if it could not be sent (not connected)
   */
  constructor(elements, send) {
    this.elements = elements;
    this.send = send;
    this.lines = new ChatLines();
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
      this.#render();
    } else if (data.type === "error") {
      this.#note(chatErrorText(data), "error");
    }
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
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
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
