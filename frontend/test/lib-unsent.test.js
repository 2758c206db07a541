import assert from "node:assert/strict";
import { test } from "node:test";

import { sameSavedState } from "../src/lib/unsent.js";
import { SyncClient } from "../src/sync/client.js";
import { TestSequencer, connected } from "../test-support/helpers.js";

/**
 * @param {TestSequencer} server
 * @param {any} edit
 */
const sequenced = (server, edit) => {
  const { revision } = server.submit(edit);
  assert.ok(revision);
  return revision;
};

test("a state is the same as itself until the engine changes, whatever changes", () => {
  const server = new TestSequencer({ text: "hello" });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  ann.replace(5, 0, "!");
  const [inFlight] = ann.flush();
  let kept = ann.saveState();
  // Nothing happened: the page's call after a presence or a pong.
  assert.ok(sameSavedState(kept, ann.saveState()));

  /** @type {Record<string, () => void>} */
  const steps = {
    "typing into the buffer": () => ann.replace(0, 0, ">"),
    "someone else's revision": () => {
      bob.replace(0, 0, "B");
      ann.receive(sequenced(server, bob.flush()[0]));
    },
    // (which also sends the buffer as the next edit in flight)
    "the acknowledgement": () => {
      ann.receive(sequenced(server, inFlight));
    },
    "typing after it": () => ann.replace(0, 0, "<"),
  };
  for (const [what, step] of Object.entries(steps)) {
    step();
    const now = ann.saveState();
    assert.ok(!sameSavedState(kept, now), `${what} changes the state`);
    assert.ok(sameSavedState(now, ann.saveState()), `and then it is stable (${what})`);
    kept = now;
  }
});

test("states of equal content are the same only with the same operations, and texts", () => {
  const a = new SyncClient("ann", { text: "same" }).saveState();
  const b = new SyncClient("ann", { text: "same" }).saveState();
  assert.ok(!sameSavedState(a, b), "other operation objects: not known to be the same");
  assert.ok(sameSavedState(b, { ...b, shadow: ["sa", "me"].join("") }));
  assert.ok(!sameSavedState(b, { ...b, shadow: "else" }));
  assert.ok(!sameSavedState(b, { ...b, clientId: "bob" }));
});
