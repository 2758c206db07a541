/**
 * Linking an XMPP address to your account (`/api/auth/xmpp-link`): the page asks for a code,
 * the person sends `message` to `send_to` from the XMPP account they want to link, and the
 * server links the sender's bare JID. The page watches `GET /api/auth/me` for the change.
 * Here: the three requests, and the logic the account page shows (the words for each refusal,
 * the time left, when to stop watching), free of the DOM so it can be tested.
 * @module
 */

import { ApiError, request } from "./api.js";

/** How often the page asks whether the address is linked yet. */
export const POLL_MS = 2000;

/**
 * What `POST /api/auth/xmpp-link` answers: a code that replaces any earlier one.
 * @typedef {object} LinkCode
 * @property {string} code
 * @property {string} send_to  the bare JID to send the message to
 * @property {string} message  exactly what to send
 * @property {string} expires_at  ISO 8601
 * @property {number} expires_in  seconds
 */

/**
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<LinkCode>}
 */
export const requestLinkCode = (fetcher = undefined) =>
  request("/api/auth/xmpp-link", { method: "POST", json: {} }, fetcher);

/**
 * Forget the linked address; answers with the account (its `xmpp_jid` now "").
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<unknown>}
 */
export const unlinkXmpp = (fetcher = undefined) =>
  request("/api/auth/xmpp-link", { method: "DELETE" }, fetcher);

/**
 * The address linked to the signed-in account now ("" when none).
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<string>}
 */
export const readLinkedJid = (fetcher = undefined) =>
  request("/api/auth/me", {}, fetcher).then((me) => jidOf(me?.account));

/**
 * An account's linked address, from whatever the server sent ("" when none or malformed).
 * @param {unknown} account
 */
export function jidOf(account) {
  if (account === null || typeof account !== "object" || !("xmpp_jid" in account)) return "";
  return typeof account.xmpp_jid === "string" ? account.xmpp_jid : "";
}

/**
 * When the code stops working, in this page's clock: from `expires_in`, counted from when the
 * answer came, so a server clock set differently does not matter; `expires_at` otherwise.
 * @param {Pick<LinkCode, "expires_at" | "expires_in">} code
 * @param {number} now  milliseconds since the epoch, when the answer came
 */
export function deadlineOf(code, now) {
  if (Number.isFinite(code.expires_in) && code.expires_in > 0) return now + code.expires_in * 1000;
  const at = Date.parse(code.expires_at);
  return Number.isFinite(at) ? at : now;
}

/**
 * "10 minutes", "1 minute", "45 seconds": how long a code lasts, for the instructions.
 * @param {number} seconds
 */
export function durationText(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  if (whole >= 60 && whole % 60 === 0) return plural(whole / 60, "minute");
  if (whole >= 60) {
    return `${plural(Math.floor(whole / 60), "minute")} ${plural(whole % 60, "second")}`;
  }
  return plural(whole, "second");
}

/**
 * The countdown: "9:05 left", "0:00 left" once it is over.
 * @param {number} ms  until the deadline (negative once past)
 */
export function remainingText(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} left`;
}

/**
 * @param {number} n
 * @param {string} unit
 */
function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * What to say when asking for a code (or unlinking) failed, in words.
 * @param {unknown} error
 */
export function linkErrorText(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${String(error)}.`;
  switch (error.code) {
    case "xmpp-unavailable":
      return "The server cannot reach XMPP right now; try again later.";
    case "rate-limited":
      return "You have asked for too many codes; wait a few minutes, then ask again.";
    case "forbidden":
      return "This account cannot link an XMPP address: bot accounts cannot, nor can anyone while accounts are off.";
    case "unauthenticated":
      return "You are signed out. Sign in again, then link your address.";
    case "unreachable":
      return "The server cannot be reached; check your connection and try again.";
    default:
      return `The server refused: ${error.message}`;
  }
}

/**
 * Whether the page should go on watching for the link, after one look at `GET /api/auth/me`.
 * `jid` is what it says now (undefined when the look failed, with `error`); `before` what was
 * linked when the code was asked for. A link that came after the deadline still counts: the
 * server decided, not this page's clock. A failed look is tried again (a network blip) unless
 * the session is over.
 * @param {{before: string, jid?: string, error?: unknown, now: number, deadline: number}} look
 * @returns {"linked" | "signed-out" | "expired" | "wait"}
 */
export function pollOutcome({ before, jid, error, now, deadline }) {
  if (jid !== undefined && jid !== "" && jid !== before) return "linked";
  if (error instanceof ApiError && error.status === 401) return "signed-out";
  if (now >= deadline) return "expired";
  return "wait";
}

/**
 * An `xmpp:` URI (RFC 5122, XEP-0147) that opens a chat with `sendTo` with `message` typed in,
 * for people whose XMPP client is on this device.
 * @param {string} sendTo  a bare JID
 * @param {string} message
 */
export function xmppUri(sendTo, message) {
  const jid = sendTo.split("@").map(encodeURIComponent).join("@");
  return `xmpp:${jid}?message;body=${encodeURIComponent(message)}`;
}
