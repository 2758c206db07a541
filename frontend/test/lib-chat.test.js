import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ChatLines,
  Unread,
  asLine,
  chatErrorText,
  chatTime,
  titleWithUnread,
  unreadLabel,
} from "../src/lib/chat.js";

const line = (/** @type {string} */ id, /** @type {number} */ at, extra = {}) => ({
  id,
  name: "Ann",
  text: "hi",
  at,
  source: "page",
  ...extra,
});

test("lines are kept once each, in time order, the newest only", () => {
  const lines = new ChatLines(3);
  assert.equal(lines.add([line("b", 20), line("a", 10)]), true);
  assert.deepEqual(lines.lines.map((l) => l.id), ["a", "b"]);
  assert.equal(lines.add([line("a", 10)]), false, "an echo of a line already shown");
  lines.add([line("c", 30), line("d", 40)]);
  assert.deepEqual(lines.lines.map((l) => l.id), ["b", "c", "d"]);
  lines.reset([line("z", 1)]);
  assert.deepEqual(lines.lines.map((l) => l.id), ["z"]);
});

test("what does not have a line's shape is left out, and colors are checked", () => {
  assert.equal(asLine(null), null);
  assert.equal(asLine({ id: "x", name: "A", text: 3, at: 1 }), null);
  assert.equal(asLine({ id: "x", name: "A", text: "t", at: Number.NaN }), null);
  const odd = asLine(line("x", 1, { source: "elsewhere", color: "red;background:url(x)" }));
  assert.equal(odd?.source, "page");
  assert.equal(odd?.color, undefined);
  assert.equal(asLine(line("y", 1, { source: "xmpp", color: "#e6194b" }))?.color, "#e6194b");
});

test("times are short today and dated otherwise; refusals read as sentences", () => {
  const now = new Date(2026, 10, 30, 15, 0).getTime();
  assert.doesNotMatch(chatTime(new Date(2026, 10, 30, 14, 5).getTime(), now), /Nov/);
  assert.match(chatTime(new Date(2026, 10, 3, 14, 5).getTime(), now), /3/);
  assert.match(chatErrorText({ code: "chat-too-long" }), /at most 2000 characters/);
  assert.match(chatErrorText({ code: "rate-limited" }), /too fast/);
  assert.match(chatErrorText({ code: "bad-message", message: "'text' must be a string" }), /must be a string/);
});

test("lines count as unread below where the reader scrolled, and while the page was hidden", () => {
  const unread = new Unread();
  unread.arrived(1, { atEnd: true, hidden: false });
  assert.deepEqual([unread.below, unread.away], [0, 0], "seen as it came");
  unread.arrived(1, { atEnd: false, hidden: false });
  unread.arrived(2, { atEnd: false, hidden: true });
  assert.deepEqual([unread.below, unread.away], [3, 2]);
  unread.sawEnd();
  assert.deepEqual([unread.below, unread.away], [0, 2], "scrolling down is not coming back");
  unread.arrived(1, { atEnd: true, hidden: true });
  assert.equal(unread.away, 3);
  unread.back();
  assert.deepEqual([unread.below, unread.away], [0, 0]);
});

test("the unread count in words and in the tab's title", () => {
  assert.equal(unreadLabel(1), "1 new message");
  assert.equal(unreadLabel(3), "3 new messages");
  assert.equal(unreadLabel(250), "99+ new messages");
  assert.equal(titleWithUnread("Plan · XMPP Collab", 0), "Plan · XMPP Collab");
  assert.equal(titleWithUnread("Plan · XMPP Collab", 4), "(4) Plan · XMPP Collab");
  assert.equal(titleWithUnread("Plan", 100), "(99+) Plan");
});
