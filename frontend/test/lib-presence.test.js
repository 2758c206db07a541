import assert from "node:assert/strict";
import { test } from "node:test";

import { RevisionLog, toLocalPosition } from "../src/lib/presence.js";
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
