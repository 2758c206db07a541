import assert from "node:assert/strict";
import { test } from "node:test";

import { RevisionLog, toLocalPosition, toShadowPosition } from "../src/lib/presence.js";
import { ops } from "../src/sync/index.js";

const insertAt = (/** @type {number} */ length, /** @type {number} */ at, /** @type {string} */ s) =>
  ops.replace(length, at, "", s);

test("a position is mapped through the revisions folded since the sender's", () => {
  const log = new RevisionLog();
  // rev 1: "hello" -> "XXhello"; rev 2: -> "XXhello!!"
  log.add(1, insertAt(5, 0, "XX"));
  log.add(2, insertAt(7, 7, "!!"));
  assert.equal(log.map(3, 0, 2), 5); // "hel|lo" moves right by the two X
  assert.equal(log.map(3, 1, 2), 3); // already after rev 1
  assert.equal(log.map(3, 2, 2), 3);
});

test("unknown revisions cannot be mapped: ahead of us, or forgotten", () => {
  const log = new RevisionLog(2);
  log.add(1, insertAt(0, 0, "a"));
  log.add(2, insertAt(1, 1, "b"));
  log.add(3, insertAt(2, 2, "c"));
  assert.equal(log.map(0, 0, 3), null, "revision 1 was forgotten (keep = 2)");
  assert.equal(log.map(1, 1, 3), 3);
  assert.equal(log.map(0, 4, 3), null, "the sender is ahead");
  log.reset(10);
  assert.equal(log.map(0, 3, 10), null, "a snapshot cut the chain");
  assert.equal(log.map(4, 10, 10), 4);
});

test("a remote cursor lands after our own unconfirmed typing before it", () => {
  const log = new RevisionLog();
  log.add(1, insertAt(0, 0, "abc"));
  // Our shadow is "abc" at rev 1; we typed "ZZ" at 0, unconfirmed.
  const client = { rev: 1, pending: insertAt(3, 0, "ZZ") };
  assert.equal(toLocalPosition(2, 1, client, log), 4);
  assert.equal(toLocalPosition(0, 0, client, log), 5, "at rev 0 the cursor was before 'abc'");
  assert.equal(toLocalPosition(99, 1, client, log), 5, "clamped to our text");
  assert.equal(toLocalPosition(1, 2, client, log), null, "the sender is ahead: wait");
  assert.equal(toLocalPosition(-1, 1, client, log), null);
  assert.equal(toLocalPosition(1.5, 1, client, log), null);
});

test("an attribution is carried through the revisions since, each its author's", async () => {
  const { Attribution } = await import("../src/sync/authorship.js");
  const log = new RevisionLog();
  log.reset(4); // a snapshot "hello" at revision 4
  log.add(5, insertAt(5, 5, " world"), "Bob");
  log.add(6, insertAt(11, 0, ">"), null);
  const attribution = Attribution.fromRuns([[0, 5, "Ann"]]);
  assert.ok(log.carry(attribution, 4, 6));
  assert.deepEqual(attribution.runs(), [[0, 1, null], [1, 5, "Ann"], [6, 6, "Bob"]]);
  assert.ok(!log.carry(Attribution.fromRuns([[0, 5, "Ann"]]), 3, 6), "from before the snapshot");
  assert.ok(!log.carry(Attribution.fromRuns([[0, 4, "Ann"]]), 4, 6), "not that revision's text");
  assert.ok(!log.carry(Attribution.fromRuns([[0, 5, "Ann"]]), 4, 7), "a revision not here yet");
});

test("a caret after unsent typing is sent where the typing goes, and lands after it", () => {
  // Shadow "hello world" at revision 1; the sender typed "XX" after "hello" (unsent), caret
  // after it: local "helloXX| world".
  const pending = insertAt(11, 5, "XX");
  assert.equal(toShadowPosition(7, pending), 5);
  assert.equal(toShadowPosition(6, pending), 5, "inside the unsent typing: where it goes");
  assert.equal(toShadowPosition(9, pending), 7, "after it: as in the shadow");
  assert.equal(toShadowPosition(0, ops.identity(11)), 0);
  // A page that has the typing (revision 2) draws the caret right after it: where it is.
  const log = new RevisionLog();
  log.add(1, insertAt(0, 0, "hello world"));
  log.add(2, pending);
  assert.equal(toLocalPosition(5, 1, { rev: 2, pending: ops.identity(13) }, log), 7);
  // Sending the local position instead (7 at revision 1) would have drawn it 2 too far.
  assert.equal(toLocalPosition(7, 1, { rev: 2, pending: ops.identity(13) }, log), 9);
});

test("a deletion not yet sent: the caret goes before the deleted text", () => {
  // Shadow "hello world"; the sender deleted " world" (unsent): local "hello|".
  const pending = ops.replace(11, 5, " world", "");
  assert.equal(toShadowPosition(5, pending), 5);
  const log = new RevisionLog();
  log.add(1, insertAt(0, 0, "hello world"));
  log.add(2, pending);
  assert.equal(toLocalPosition(5, 1, { rev: 2, pending: ops.identity(5) }, log), 5);
});
