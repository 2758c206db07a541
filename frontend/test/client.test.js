import assert from "node:assert/strict";
import { test } from "node:test";

import { ClientState, SyncClient } from "../src/sync/client.js";
import { ChecksumMismatch, InvalidText, ProtocolViolation } from "../src/sync/errors.js";
import * as ops from "../src/sync/ops.js";
import { parsePatch } from "../src/sync/patches.js";
import { checksum, codepointLength } from "../src/sync/text.js";
import { TestSequencer, connected } from "../test-support/helpers.js";

/** @typedef {import("../src/sync/protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("../src/sync/protocol.js").ServerMessage} ServerMessage */

/**
 * The server sequences `message`; returns what it broadcasts (or answers).
 * @param {TestSequencer} server
 * @param {ClientMessage} message
 * @returns {ServerMessage}
 */
function submit(server, message) {
  assert.equal(message.type, "edit");
  const { revision, error } = server.submit(/** @type {any} */ (message));
  return /** @type {ServerMessage} */ (revision ?? error);
}

/**
 * Deliver `messages` to the server and its answers back, until nothing is left.
 * @param {SyncClient} client
 * @param {TestSequencer} server
 * @param {ClientMessage[]} messages
 */
function pump(client, server, messages) {
  const queue = [...messages];
  while (queue.length) queue.push(...client.receive(submit(server, queue.shift())));
}

test("a local edit is sent with code point positions and acknowledged", () => {
  const server = new TestSequencer({ text: "😀 world" });
  const client = connected("ann", server);
  client.replace(1, 0, ",");
  const [edit] = client.flush();
  assert.deepEqual(edit, {
    type: "edit",
    base: 0,
    client: "ann",
    seq: 1,
    patch: "@@ -1,7 +1,8 @@\n %F0%9F%98%80\n+,\n  world\n", // as sync/patches.py writes it
    intent: "none", // its first insert: it continues nothing
  });
  assert.ok(client.hasUnconfirmed);
  assert.deepEqual(client.receive(submit(server, edit)), []);
  assert.ok(!client.hasUnconfirmed);
  assert.equal(client.text, "😀, world");
  assert.equal(client.shadow, server.text);
  assert.equal(client.rev, 1);
});

test("each edit says whether it continues the client's previous insert, and which way", () => {
  const server = new TestSequencer({ text: "[]" });
  const ann = connected("ann", server);
  ann.replace(1, 0, "a");
  const [first] = ann.flush();
  assert.equal(/** @type {any} */ (first).intent, "none");
  for (const letter of "ppl") ann.replace(codepointLength(ann.text) - 1, 0, letter);
  // The acknowledgement sends the buffer: one insert, continuing "a" forwards.
  const [second] = ann.receive(submit(server, first));
  assert.equal(/** @type {any} */ (second).intent, "forward");
  assert.deepEqual(ann.receive(submit(server, second)), []);
  ann.replace(1, 0, "z"); // not next to the run
  const [third] = ann.flush();
  assert.equal(/** @type {any} */ (third).intent, "none");
  ann.replace(1, 0, "y"); // before "z": backwards
  const [fourth] = ann.receive(submit(server, third));
  assert.equal(/** @type {any} */ (fourth).intent, "backward");
  pump(ann, server, [fourth]);
  assert.equal(ann.text, "[yzappl]");
});

test("a forward run stays whole when another client's letter lands at its end first", () => {
  const server = new TestSequencer({ text: "[]" });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  ann.replace(1, 0, "a");
  bob.replace(1, 0, "b");
  const [annFirst] = ann.flush();
  const [bobFirst] = bob.flush();
  ann.replace(2, 0, "p"); // buffered behind "a", continuing it
  const annAck = submit(server, annFirst); // "[a]"
  const bobRev = submit(server, bobFirst); // "[ab]"
  const [annSecond] = ann.receive(annAck); // sent on "[a]"
  ann.receive(bobRev);
  assert.equal(ann.text, "[apb]");
  pump(ann, server, [annSecond]);
  bob.receive(annAck);
  bob.receive(bobRev);
  bob.receive(server.history[2].revision);
  assert.equal(server.text, "[apb]");
  assert.equal(bob.text, "[apb]");
});

test("replaceRange takes an editor's UTF-16 offsets", () => {
  const client = new SyncClient("ann", { text: "a😀b𝄞c" });
  // CodeMirror reports "b" at UTF-16 offsets 3..4; it is code point 2.
  assert.deepEqual(client.replaceRange(3, 4, "B"), [
    { retain: 2 },
    { delete: "b" },
    { insert: "B" },
    { retain: 2 },
  ]);
  assert.equal(client.text, "a😀B𝄞c");
  assert.throws(() => client.replaceRange(2, 4, ""), /splits the surrogate pair at 1/);
  assert.throws(() => client.replaceRange(4, 3, ""), /ends before it starts/);
  assert.throws(() => client.replace(4, 2, ""), /outside the text \(5\)/);
  assert.equal(client.text, "a😀B𝄞c");
});

test("replace and replaceRange on a text without surrogate pairs, then with, then without", () => {
  // Without a pair, positions are UTF-16 offsets and nothing walks the text; the engine must
  // notice the text changing kind both ways.
  const client = new SyncClient("ann", { text: "héllo" });
  client.replaceRange(5, 5, "!");
  client.replace(0, 1, "H");
  assert.equal(client.text, "Héllo!");
  assert.throws(() => client.replaceRange(6, 7, ""), /UTF-16 index 7 outside 0\.\.6/);
  assert.throws(() => client.replace(2, 5, ""), /outside the text \(6\)/);
  assert.throws(() => client.replace(-1, 0, "x"), /outside the text/);
  assert.throws(() => client.replace(1.5, 0, "x"), /outside the text/);
  client.replaceRange(1, 1, "😀"); // now with a pair: offsets and positions part ways
  assert.equal(client.text, "H😀éllo!");
  client.replaceRange(3, 4, "e"); // "é" is UTF-16 offset 3, code point 2
  client.replace(3, 0, "_");
  assert.equal(client.text, "H😀e_llo!");
  assert.throws(() => client.replaceRange(2, 2, "x"), /splits the surrogate pair at 1/);
  client.replace(1, 1, ""); // and without again
  client.replaceRange(7, 7, "?");
  assert.equal(client.text, "He_llo!?");
  // Every change is in the buffer: applied to the starting text, it gives this one.
  assert.equal(ops.apply("héllo", client.pending), client.text);
});

test("typing here and there in a text with surrogate pairs lands where the editor says", () => {
  // The engine walks from where the last keystroke ended: every direction and distance from
  // it must give what slicing the UTF-16 string gives.
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pieces = ["a", "😀", "b", "𝄞", "\n", "é"];
  let model = "x😀y𝄞z".repeat(20);
  const client = new SyncClient("ann", { text: model });
  /** A UTF-16 offset of `model` that does not split a pair. @param {number} at */
  const boundary = (at) => (at > 0 && model.charCodeAt(at) >= 0xdc00 && model.charCodeAt(at) <= 0xdfff ? at - 1 : at);
  for (let i = 0; i < 400; i++) {
    const from = boundary(Math.floor(next() * (model.length + 1)));
    const to = next() < 0.3 ? boundary(Math.min(model.length, from + Math.floor(next() * 5))) : from;
    const insert = next() < 0.8 ? pieces[Math.floor(next() * pieces.length)] : "";
    client.replaceRange(from, Math.max(from, to), insert);
    model = model.slice(0, from) + insert + model.slice(Math.max(from, to));
    assert.equal(client.text, model, `step ${i}`);
    if (i % 50 === 49) {
      // And again from a place just typed at.
      const here = boundary(Math.min(model.length, from + insert.length));
      client.replaceRange(here, here, "_");
      model = model.slice(0, here) + "_" + model.slice(here);
      assert.equal(client.text, model);
    }
  }
  assert.equal(ops.apply("x😀y𝄞z".repeat(20), client.pending), client.text);
});

test("codepointOf and unitOf convert an editor's offsets in the local text, both kinds", () => {
  for (const text of ["plain text", "a😀b𝄞c😀"]) {
    const client = new SyncClient("ann", { text });
    client.replace(2, 0, "é"); // a known place in the middle
    const local = client.text;
    for (let position = 0, unit = 0; position <= codepointLength(local); position++) {
      assert.equal(client.unitOf(position), unit, `${text}: unitOf(${position})`);
      assert.equal(client.codepointOf(unit), position, `${text}: codepointOf(${unit})`);
      unit += unit < local.length && local.codePointAt(unit) > 0xffff ? 2 : 1;
    }
    assert.throws(() => client.unitOf(codepointLength(local) + 1), /outside 0\.\./);
    assert.throws(() => client.unitOf(-1), RangeError);
    assert.throws(() => client.codepointOf(local.length + 1), /outside 0\.\./);
  }
  const client = new SyncClient("ann", { text: "a😀b" });
  assert.throws(() => client.codepointOf(2), /splits the surrogate pair at 1/);
});

test("only one edit is in flight; later typing waits in the buffer", () => {
  const server = new TestSequencer();
  const client = connected("ann", server);
  client.replace(0, 0, "a");
  const [first] = client.flush();
  client.replace(1, 0, "b");
  client.replace(2, 0, "c");
  assert.deepEqual(client.flush(), []);
  assert.equal(client.unconfirmedCount, 2);
  const [second] = client.receive(submit(server, first));
  assert.deepEqual(
    [second.type, /** @type {any} */ (second).seq, /** @type {any} */ (second).base],
    ["edit", 2, 1],
  );
  client.receive(submit(server, second));
  assert.equal(client.text, "abc");
  assert.equal(server.text, "abc");
});

test("a remote revision is folded in and local edits are moved over it", () => {
  const server = new TestSequencer({ text: "hello world" });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  ann.replace(0, 0, "A");
  const [annEdit] = ann.flush();
  bob.replace(11, 0, "!");
  bob.replace(5, 0, ",");
  const [bobEdit] = bob.flush();
  const annRevision = submit(server, annEdit);
  const bobRevision = submit(server, bobEdit);
  ann.receive(annRevision);
  ann.receive(bobRevision);
  bob.receive(annRevision);
  bob.receive(bobRevision);
  assert.equal(server.text, "Ahello, world!");
  assert.equal(ann.text, server.text);
  assert.equal(bob.text, server.text);
  assert.ok(!ann.hasUnconfirmed && !bob.hasUnconfirmed);
});

test("a gap asks for a catch-up; a revision already folded in is ignored", () => {
  const server = new TestSequencer();
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  bob.replace(0, 0, "1");
  const first = submit(server, bob.flush()[0]);
  bob.receive(first);
  bob.replace(1, 0, "2");
  const second = submit(server, bob.flush()[0]);
  assert.deepEqual(ann.receive(second), [{ type: "resync", client: "ann", since: 0, full: false }]);
  assert.equal(ann.state, ClientState.SYNCING);
  for (const message of server.catchUp({ type: "resync", client: "ann", since: 0, full: false })) {
    ann.receive(message);
  }
  assert.equal(ann.text, "12");
  assert.deepEqual(ann.receive(first), []);
  assert.equal(ann.rev, 2);
});

test("offline, messages are stragglers and edits accumulate until reconnected", () => {
  const server = new TestSequencer({ text: "x" });
  const ann = connected("ann", server);
  ann.disconnect();
  ann.replace(1, 0, "y");
  assert.deepEqual(ann.flush(), []);
  assert.deepEqual(ann.receive({ type: "synced", rev: 0 }), []);
  const [request] = ann.connect();
  /** @type {ClientMessage[]} */
  let outgoing = [];
  for (const message of server.catchUp(/** @type {any} */ (request)))
    outgoing = ann.receive(message);
  assert.equal(outgoing.length, 1);
  assert.equal(outgoing[0].type, "edit");
});

test("a refused edit is taken out of the text; later typing stays", () => {
  const server = new TestSequencer({ text: "abc" });
  const ann = connected("ann", server);
  ann.replace(0, 0, "X");
  const [edit] = ann.flush();
  ann.replace(4, 0, "Y");
  const refusal = /** @type {const} */ ({
    type: "error",
    code: "document-too-large",
    message: "the edit would make the document 4 characters long; the limit is 3",
    client: "ann",
    seq: /** @type {any} */ (edit).seq,
  });
  const [next] = ann.receive(refusal);
  assert.deepEqual(ann.rejected, [refusal]);
  assert.equal(ann.text, "abcY");
  assert.equal(/** @type {any} */ (next).seq, 2);
});

test("a retryable refusal keeps the edit, and resend sends it again", () => {
  const server = new TestSequencer();
  const ann = connected("ann", server);
  ann.replace(0, 0, "x");
  const [edit] = ann.flush();
  const busy = { type: "error", code: "busy", message: "try again", client: "ann", seq: 1 };
  assert.deepEqual(ann.receive(/** @type {any} */ (busy)), []);
  assert.deepEqual(ann.rejected, []);
  assert.deepEqual(ann.resend(), [edit]);
});

test("a stale edit is caught up by snapshot and merged, counting what the server has", () => {
  const server = new TestSequencer({ text: "one two three", historyLimit: 1 });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  ann.replace(0, 3, "ONE");
  const [stale] = ann.flush();
  for (const word of ["X", "Y"]) {
    bob.replace(Array.from(bob.text).length, 0, word);
    bob.receive(submit(server, bob.flush()[0]));
  }
  const refusal = submit(server, stale);
  assert.equal(/** @type {any} */ (refusal).code, "stale-revision");
  const [request] = ann.receive(refusal);
  const [snapshot] = server.catchUp(/** @type {any} */ (request));
  assert.equal(snapshot.type, "snapshot");
  const [resent] = ann.receive(snapshot);
  assert.equal(ann.text, "ONE two threeXY");
  // The unconfirmed edit keeps its id: if the first copy still arrives, it lands once.
  assert.deepEqual([resent.type, /** @type {any} */ (resent).seq], ["edit", 1]);
  pump(ann, server, [resent]);
  assert.equal(server.text, ann.text);
  assert.ok(!ann.hasUnconfirmed);
});

/**
 * ann sends `first` and types `later` while it is in flight; the connection breaks, bob
 * makes `others`, and the catch-up is a snapshot. Then the first copy, delayed in the
 * network, reaches the server before the second. Returns ann, the server and the first copy's
 * revision and the second copy's in-flight op.
 * @param {string} text
 * @param {[number, number, string]} first
 * @param {[number, number, string]} later
 * @param {[number, number, string][]} others
 */
function lateFirstCopy(text, first, later, others) {
  const server = new TestSequencer({ text });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  ann.replace(...first);
  const [sent] = ann.flush();
  ann.replace(...later);
  ann.disconnect();
  for (const edit of others) {
    bob.replace(...edit);
    bob.receive(submit(server, bob.flush()[0]));
  }
  const [request] = ann.connect();
  const [snapshot] = server.catchUp({ .../** @type {any} */ (request), full: true });
  const [again] = ann.receive(snapshot);
  assert.equal(/** @type {any} */ (again).seq, /** @type {any} */ (sent).seq); // the same id
  const late = submit(server, sent);
  assert.deepEqual(submit(server, again), late); // the second copy is a duplicate
  pump(ann, server, ann.receive(late));
  assert.equal(ann.text, server.text);
  assert.ok(!ann.hasUnconfirmed);
  return { ann, server };
}

test("a late first copy after a snapshot lands once, and later typing is kept", () => {
  const { server } = lateFirstCopy("base\n", [0, 0, "mine "], [0, 0, "later "], [
    [5, 0, "other\n"],
    [0, 0, "top\n"],
  ]);
  assert.equal(server.text, "top\nlater mine base\nother\n");
});

test("an acknowledgement unlike the in-flight edit keeps the user's text", () => {
  // The merge puts "TWO" after "one ", the server (transforming the first copy over the
  // deletion) before the space: the client keeps what its user sees and sends the difference.
  const { server } = lateFirstCopy("one two three", [4, 3, "TWO"], [0, 0, "> "], [[3, 5, " "]]);
  assert.equal(server.text, "> one TWOthree");
});

test("unasked or old snapshots are ignored", () => {
  const server = new TestSequencer({ text: "abc" });
  const ann = connected("ann", server);
  ann.replace(0, 0, "x");
  const [edit] = ann.flush();
  const [snapshot] = server.catchUp({ type: "resync", client: "ann", since: 0, full: true });
  assert.deepEqual(ann.receive(snapshot), []); // ready: nobody asked
  assert.equal(ann.text, "xabc");
  assert.equal(ann.unconfirmedCount, 1);
  ann.receive(submit(server, edit));
  ann.disconnect();
  ann.connect();
  assert.deepEqual(ann.receive(snapshot), []); // older than what the client holds
  assert.equal(ann.state, ClientState.SYNCING);
});

test("a snapshot that already holds the in-flight edit does not apply it twice", () => {
  const server = new TestSequencer({ text: "abc" });
  const ann = connected("ann", server);
  ann.replace(3, 0, "d");
  submit(server, ann.flush()[0]); // applied, but the acknowledgement is lost
  ann.disconnect();
  const [request] = ann.connect();
  const snapshot = { ...server.catchUp({ .../** @type {any} */ (request), full: true })[0] };
  assert.deepEqual(ann.receive(/** @type {any} */ (snapshot)), []);
  assert.equal(ann.text, "abcd");
  assert.ok(!ann.hasUnconfirmed);
});

test("a revision that does not fit asks for a snapshot; a corrupt snapshot throws", () => {
  const server = new TestSequencer({ text: "abc" });
  const ann = connected("ann", server);
  const bob = connected("bob", server);
  bob.replace(0, 1, "A");
  const revision = /** @type {any} */ (submit(server, bob.flush()[0]));
  const corrupt = { ...revision, checksum: "3:00000000" };
  assert.deepEqual(ann.receive(corrupt), [{ type: "resync", client: "ann", since: 0, full: true }]);
  const bad = { type: "snapshot", rev: 1, text: "Abc", checksum: checksum("abc"), last_seq: 0 };
  assert.throws(() => ann.receive(/** @type {any} */ (bad)), ChecksumMismatch);
  assert.deepEqual(parsePatch(revision.patch)[0].diffs.length > 0, true);
});

const LONG =
  "Pack my box with five dozen liquor jugs. " + "Jackdaws love my big sphinx of quartz. ".repeat(3);

test("a corrupted shadow is caught on the next revision, and repaired from a snapshot", () => {
  const at = LONG.indexOf("liquor");
  const corruptions = [
    LONG.slice(0, at - 10) + "E" + LONG.slice(at - 9), // inside the next change's windows
    LONG.slice(0, -1), // one character shorter, far from it
    LONG.slice(0, 5) + LONG.slice(6), // shorter, before it
  ];
  for (const corruption of corruptions) {
    const server = new TestSequencer({ text: LONG });
    const ann = connected("ann", server);
    const bob = connected("bob", server);
    bob.replace(0, 0, "x");
    ann.receive(submit(server, bob.flush()[0])); // ann's first fold: now she knows a checksum
    bob.receive(server.history[0].revision);
    const corrupt = "x" + corruption;
    ann.shadow = corrupt;
    bob.replace(at + 1, 6, "wine");
    const full = { type: "resync", client: "ann", since: 1, full: true };
    assert.deepEqual(ann.receive(submit(server, bob.flush()[0])), [full], corrupt);
    if (codepointLength(corrupt) !== codepointLength(LONG) + 1) continue;
    ann.text = corrupt;
    assert.deepEqual(ann.receive(server.catchUp(/** @type {any} */ (full))[0]), []);
    assert.equal(ann.shadow, server.text);
    assert.equal(ann.text, server.text);
  }
});

test("a copy that folded a revision the server took back is caught, however far away", () => {
  // One server broadcast revision 1 and lost it (a failed write); the other, restored from
  // before it, gave the number to another edit, then sequenced one far from both.
  const lost = new TestSequencer({ text: LONG });
  const kept = new TestSequencer({ text: LONG });
  const ann = connected("ann", kept);
  const bob = connected("bob", lost);
  bob.replace(0, 0, "A");
  ann.receive(submit(lost, bob.flush()[0]));
  const cat = connected("cat", kept);
  cat.replace(0, 0, "B");
  const replaced = submit(kept, cat.flush()[0]);
  assert.deepEqual(ann.receive(replaced), []); // revision 1 again: already folded in
  cat.receive(replaced);
  cat.replace(codepointLength(cat.text), 0, "!");
  const full = { type: "resync", client: "ann", since: 1, full: true };
  assert.deepEqual(ann.receive(submit(kept, cat.flush()[0])), [full]);
  ann.receive(kept.catchUp(/** @type {any} */ (full))[0]);
  assert.equal(ann.text, "B" + LONG + "!");
});

test("while a snapshot is awaited, resend asks for it again and an older synced is ignored", () => {
  const server = new TestSequencer({ text: "one two three" });
  const ann = new SyncClient("ann", { text: server.text });
  const [request] = ann.connect();
  const bob = connected("bob", server);
  bob.replace(4, 4, "");
  bob.receive(submit(server, bob.flush()[0]));
  const [revision, synced] = server.catchUp(/** @type {any} */ (request));
  ann.replace(4, 4, ""); // the same word, while catching up
  const full = { type: "resync", client: "ann", since: 0, full: true };
  assert.deepEqual(ann.receive({ ...revision, checksum: "9:00000000" }), [full]);
  assert.deepEqual(ann.receive(synced), []); // it ends the older request, not this one
  assert.equal(ann.state, ClientState.SYNCING);
  assert.deepEqual(ann.resend(), [full]);
  const [snapshot] = server.catchUp(/** @type {any} */ (full));
  assert.deepEqual(ann.receive(snapshot), []); // nothing left to send: bob deleted it too
  assert.equal(ann.state, ClientState.READY);
  assert.equal(ann.text, "one three");
  assert.ok(!ann.hasUnconfirmed);
  // Once caught up, a synced ahead of us asks for the revisions again, not for a snapshot.
  assert.deepEqual(ann.receive({ type: "synced", rev: 2 }), [
    { type: "resync", client: "ann", since: 1, full: false },
  ]);
  assert.deepEqual(ann.resend(), [{ type: "resync", client: "ann", since: 1, full: false }]);
});

test("a client refuses client messages, bad ids and forbidden text", () => {
  const ann = new SyncClient("ann");
  ann.connect();
  assert.throws(() => ann.receive(/** @type {any} */ ({ type: "edit" })), ProtocolViolation);
  assert.throws(() => new SyncClient("a b"), ProtocolViolation);
  assert.throws(() => new SyncClient("ann", { text: "\x00" }), InvalidText);
  assert.throws(() => ann.replace(0, 0, "\ud800"), InvalidText);
  assert.throws(() => ann.setText("\ufffe"), InvalidText);
  assert.equal(ann.text, "");
});

test("a saved client comes back with its unsent edits, and each is applied once", () => {
  const server = new TestSequencer({ text: "hello" });
  const ann = connected("ann", server);
  ann.replace(5, 0, " world");
  const [edit] = ann.flush();
  submit(server, edit); // applied, but the page closed before the answer came
  ann.replace(11, 0, "!"); // typed after it: still in the buffer
  const bob = connected("bob", server);
  bob.replace(0, 0, ">");
  pump(bob, server, bob.flush());

  const saved = JSON.parse(JSON.stringify(ann.saveState())); // through IndexedDB, as JSON
  const again = SyncClient.restore(saved);
  assert.equal(again.clientId, "ann");
  assert.equal(again.text, "hello world!");
  assert.equal(again.state, ClientState.OFFLINE);
  assert.equal(again.unconfirmedCount, 2);

  const [request] = again.connect();
  /** @type {ClientMessage[]} */
  const outgoing = [];
  for (const message of server.catchUp(/** @type {any} */ (request))) {
    outgoing.push(...again.receive(message));
  }
  pump(again, server, outgoing);
  assert.equal(server.text, ">hello world!"); // " world" once, though it was sent twice
  assert.equal(again.text, server.text);
  assert.ok(!again.hasUnconfirmed);
});

test("a saved state that does not hold together is refused", () => {
  const server = new TestSequencer({ text: "abc" });
  const ann = connected("ann", server);
  ann.replace(3, 0, "d");
  ann.flush();
  const good = JSON.parse(JSON.stringify(ann.saveState()));
  assert.throws(() => SyncClient.restore({ ...good, version: 2 }), ProtocolViolation);
  assert.throws(() => SyncClient.restore({ ...good, seq: good.seq + 1 }), ProtocolViolation);
  assert.throws(() => SyncClient.restore({ ...good, shadow: "a much longer text" }));
  assert.equal(SyncClient.restore(good).text, "abcd");
});
