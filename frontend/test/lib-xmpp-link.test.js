import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../src/lib/api.js";
import {
  deadlineOf,
  durationText,
  jidOf,
  linkErrorText,
  pollOutcome,
  readLinkedJid,
  remainingText,
  requestLinkCode,
  unlinkXmpp,
  xmppUri,
} from "../src/lib/xmpp-link.js";

/**
 * A fetch that records its calls and answers with `status` and a JSON `body`.
 * @param {number} status
 * @param {unknown} body
 */
function fakeFetch(status, body) {
  /** @type {{url: string, init: RequestInit}[]} */
  const calls = [];
  /** @type {typeof fetch} */
  const fetcher = async (url, init = {}) => {
    calls.push({ url: String(url), init });
    return new Response(JSON.stringify(body), { status });
  };
  return { fetcher, calls };
}

const CODE = {
  code: "K7Q2M9XDPA",
  send_to: "collab@example.org",
  message: "link K7Q2M9XDPA",
  expires_at: "2026-12-01T10:10:00Z",
  expires_in: 600,
};

test("asking for a code posts an empty JSON object and returns the code", async () => {
  const { fetcher, calls } = fakeFetch(201, CODE);
  assert.deepEqual(await requestLinkCode(fetcher), CODE);
  assert.equal(calls[0].url, "/api/auth/xmpp-link");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.body, "{}");
});

test("unlinking deletes, and the linked address is read from /api/auth/me", async () => {
  const gone = fakeFetch(200, { name: "ann", xmpp_jid: "" });
  assert.equal(jidOf(await unlinkXmpp(gone.fetcher)), "");
  assert.deepEqual([gone.calls[0].url, gone.calls[0].init.method], ["/api/auth/xmpp-link", "DELETE"]);
  const me = fakeFetch(200, { account: { name: "ann", xmpp_jid: "ann@chat.example" }, via: "session" });
  assert.equal(await readLinkedJid(me.fetcher), "ann@chat.example");
  assert.equal(me.calls[0].url, "/api/auth/me");
});

test("a refusal comes back as an ApiError with the server's code", async () => {
  const { fetcher } = fakeFetch(503, { error: { code: "xmpp-unavailable", message: "no XMPP" } });
  await assert.rejects(requestLinkCode(fetcher), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "xmpp-unavailable");
    assert.equal(linkErrorText(error), "The server cannot reach XMPP right now; try again later.");
    return true;
  });
});

test("the linked address is read defensively: missing or malformed is none", () => {
  assert.equal(jidOf({ xmpp_jid: "ann@chat.example" }), "ann@chat.example");
  assert.equal(jidOf({ name: "ann" }), "");
  assert.equal(jidOf({ xmpp_jid: null }), "");
  assert.equal(jidOf(null), "");
  assert.equal(jidOf("ann@chat.example"), "");
});

test("every refusal is said in words", () => {
  const said = (/** @type {number} */ status, /** @type {string} */ code) =>
    linkErrorText(new ApiError(status, code, `server says ${code}`));
  assert.match(said(429, "rate-limited"), /too many codes/);
  assert.match(said(403, "forbidden"), /cannot link an XMPP address/);
  assert.match(said(401, "unauthenticated"), /signed out/);
  assert.match(said(0, "unreachable"), /cannot be reached/);
  assert.equal(said(500, "internal"), "The server refused: server says internal");
  assert.match(linkErrorText(new TypeError("boom")), /Something went wrong: TypeError: boom/);
});

test("the deadline counts expires_in from the answer, whatever the server's clock says", () => {
  const now = Date.parse("2026-12-01T12:00:00Z"); // two hours after expires_at
  assert.equal(deadlineOf(CODE, now), now + 600_000);
  assert.equal(deadlineOf({ ...CODE, expires_in: Number.NaN }, now), Date.parse(CODE.expires_at));
  assert.equal(deadlineOf({ expires_at: "garbage", expires_in: 0 }, now), now);
});

test("how long a code lasts, and the countdown", () => {
  assert.equal(durationText(600), "10 minutes");
  assert.equal(durationText(60), "1 minute");
  assert.equal(durationText(599.6), "10 minutes");
  assert.equal(durationText(90), "1 minute 30 seconds");
  assert.equal(durationText(45), "45 seconds");
  assert.equal(durationText(1), "1 second");
  assert.equal(durationText(-3), "0 seconds");
  assert.equal(remainingText(600_000), "10:00 left");
  assert.equal(remainingText(545_001), "9:06 left", "a second begun is shown whole");
  assert.equal(remainingText(5_000), "0:05 left");
  assert.equal(remainingText(0), "0:00 left");
  assert.equal(remainingText(-2_000), "0:00 left");
});

test("watching stops once the address changes, the code expires or the session ends", () => {
  const look = { before: "", now: 1_000, deadline: 5_000 };
  assert.equal(pollOutcome({ ...look, jid: "" }), "wait");
  assert.equal(pollOutcome({ ...look, jid: "ann@chat.example" }), "linked");
  assert.equal(pollOutcome({ ...look, now: 5_000, jid: "" }), "expired");
  // The server linked it just before the deadline; the page looked just after: linked.
  assert.equal(pollOutcome({ ...look, now: 9_000, jid: "ann@chat.example" }), "linked");
  // Linking another address: only a different one is the new link.
  const relink = { ...look, before: "ann@old.example" };
  assert.equal(pollOutcome({ ...relink, jid: "ann@old.example" }), "wait");
  assert.equal(pollOutcome({ ...relink, jid: "ann@new.example" }), "linked");
  // A failed look is tried again, unless the session is over.
  assert.equal(pollOutcome({ ...look, error: new ApiError(0, "unreachable", "down") }), "wait");
  assert.equal(pollOutcome({ ...look, error: new ApiError(401, "unauthenticated", "no") }), "signed-out");
  assert.equal(pollOutcome({ ...look, now: 6_000, error: new Error("x") }), "expired");
});

test("the xmpp: link opens a chat with the message typed in", () => {
  assert.equal(
    xmppUri("collab@example.org", "link K7Q2M9XDPA"),
    "xmpp:collab@example.org?message;body=link%20K7Q2M9XDPA",
  );
  assert.equal(xmppUri("a?b#c@example.org", "x&y"), "xmpp:a%3Fb%23c@example.org?message;body=x%26y");
});
