// Several JavaScript clients and the test sequencer, on a network that loses, duplicates and
// cuts messages, driven by a seeded schedule: every copy must end equal to the server's.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ClientState,
  SyncClient,
  codepointLength,
  codepointToUtf16,
  fromWire,
} from "../src/sync/index.js";
import { ChangeSet, Text } from "@codemirror/state";

import { caretAssoc, opToChanges } from "../src/lib/changes.js";
import { TestSequencer, hasLoneSurrogate, random, randomText } from "../test-support/helpers.js";

/** @typedef {import("../src/sync/protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("../src/sync/protocol.js").ServerMessage} ServerMessage */

/**
 * @typedef {{client: SyncClient, online: boolean, outbox: ClientMessage[],
 *   inbox: ServerMessage[], editor: string, caret: number}} Peer
 * `editor` is what a page's CodeMirror would hold: local typing goes into it directly, and
 * every change the server makes reaches it only through the engine's observer, applied as
 * CodeMirror applies changes. It must always equal the engine's text.
 */

/** Apply an engine change to an editor's text the way the page does. */
function applyAsEditor(/** @type {string} */ before, /** @type {any} */ op) {
  const changes = ChangeSet.of(opToChanges(before, op), before.length, "\n");
  return changes.apply(Text.of(before.split("\n"))).sliceString(0, undefined, "\n");
}

/** Every message crosses the wire as JSON and is read back strictly. @param {object} message */
const wire = (message) => fromWire(JSON.parse(JSON.stringify(message)));

// In the one-spot sessions each client's letters come from its own block of code points.
const BLOCKS = [0x4e00, 0x0410, 0x05d0, 0x3041];

/**
 * @param {number} seed
 * @param {{clients?: number, steps?: number, historyLimit?: number, loss?: number,
 *   runs?: boolean[], carets?: boolean, assoc?: typeof caretAssoc}} [options]  `runs`:
 *   instead of editing anywhere, client i types a run of its own letters at one spot, forwards
 *   if `runs[i]`, else backwards; with `carets`, where its editor's caret is, as the page has
 *   it: moved by its own typing, and through every remote change as `assoc` says
 */
function simulate(
  seed,
  {
    clients = 3,
    steps = 400,
    historyLimit = 1000,
    loss = 0.05,
    runs = undefined,
    carets = false,
    assoc = caretAssoc,
  } = {},
) {
  const rng = random(seed);
  const start = runs ? "one [] spot" : "start 😀 text";
  const server = new TestSequencer({ text: start, historyLimit });
  /** @type {Peer[]} */
  const peers = Array.from({ length: clients }, (_, i) => {
    /** @type {Peer} */
    const peer = {
      client: new SyncClient(`c${i}`, { text: start }),
      online: false,
      outbox: [],
      inbox: [],
      editor: start,
      caret: start.indexOf("[") + 1,
    };
    peer.client.observer = {
      textChanged(op, before, run) {
        assert.equal(before, peer.editor, `seed ${seed}: the editor fell behind the engine`);
        peer.editor = applyAsEditor(before, op);
        const changes = ChangeSet.of(opToChanges(before, op), before.length, "\n");
        peer.caret = changes.mapPos(peer.caret, assoc(before, peer.caret, run));
      },
    };
    return peer;
  });

  /** @param {Peer} peer */
  const connect = (peer) => {
    peer.online = true;
    peer.outbox.push(...peer.client.connect());
  };
  /** @param {Peer} peer */
  const serve = (peer, faults = true) => {
    const message = /** @type {ClientMessage} */ (
      wire(/** @type {ClientMessage} */ (peer.outbox.shift()))
    );
    if (faults && rng.next() < loss) return;
    if (message.type === "resync") {
      peer.inbox.push(...server.catchUp(message));
      return;
    }
    const { revision, error, duplicate } = server.submit(message);
    if (error) peer.inbox.push(error);
    else if (duplicate) peer.inbox.push(/** @type {ServerMessage} */ (revision));
    else
      for (const other of peers)
        if (other.online) other.inbox.push(/** @type {ServerMessage} */ (revision));
  };
  /** @param {Peer} peer */
  const deliver = (peer, faults = true) => {
    const message = faults && rng.next() < loss ? peer.inbox[0] : peer.inbox.shift();
    if (faults && rng.next() < loss) return;
    const received = /** @type {ServerMessage} */ (wire(/** @type {ServerMessage} */ (message)));
    peer.outbox.push(...peer.client.receive(received));
  };
  /** @type {string[][]} */
  const typed = peers.map(() => []);
  /**
   * The next letter of the peer's run, after (forwards) or before (backwards) its last one.
   * @param {Peer} peer
   */
  const typeRun = (peer) => {
    const index = peers.indexOf(peer);
    const letters = typed[index];
    const { text } = peer.client;
    const last = letters.at(-1);
    const forward = Boolean(runs?.[index]);
    let unit = text.indexOf("[") + 1;
    if (carets) unit = peer.caret;
    else if (last !== undefined) unit = text.indexOf(last) + (forward ? last.length : 0);
    const letter = String.fromCodePoint(BLOCKS[index] + letters.length);
    letters.push(letter);
    peer.client.replaceRange(unit, unit, letter);
    peer.editor = peer.editor.slice(0, unit) + letter + peer.editor.slice(unit);
    if (forward) peer.caret = unit + letter.length;
  };
  /** Type at a random spot through the UTF-16 API, as the browser page does. @param {Peer} peer */
  const type = (peer) => {
    if (runs) {
      typeRun(peer);
      return;
    }
    const { text } = peer.client;
    const length = codepointLength(text);
    const from = rng.pick([0, length, length >> 1, rng.int(0, length)]);
    const to = Math.min(length, from + rng.pick([0, 0, 1, 3]));
    const insert = randomText(rng, rng.int(0, 2));
    const [fromUnit, toUnit] = [codepointToUtf16(text, from), codepointToUtf16(text, to)];
    peer.client.replaceRange(fromUnit, toUnit, insert);
    peer.editor = peer.editor.slice(0, fromUnit) + insert + peer.editor.slice(toUnit);
  };

  for (const peer of peers) connect(peer);
  for (let step = 0; step < steps; step++) {
    const peer = rng.pick(peers);
    const roll = rng.next();
    if (roll < 0.3) type(peer);
    else if (roll < 0.4) peer.outbox.push(...peer.client.flush());
    else if (roll < 0.65 && peer.outbox.length) serve(peer);
    else if (roll < 0.92 && peer.inbox.length) deliver(peer);
    else if (roll < 0.95) peer.outbox.push(...peer.client.resend());
    else if (peer.online) {
      peer.online = false;
      peer.client.disconnect();
      peer.outbox.length = 0;
      peer.inbox.length = 0;
    } else connect(peer);
    assert.equal(peer.editor, peer.client.text, `seed ${seed}, step ${step}: editor ≠ engine`);
  }

  // A perfect network until everyone is caught up, as a reconnecting browser would see it.
  for (const peer of peers) if (!peer.online) connect(peer);
  for (let round = 0; ; round++) {
    assert.ok(round < 10_000, `seed ${seed}: the clients never settled`);
    const busy = peers.find((peer) => peer.outbox.length || peer.inbox.length);
    if (busy) {
      if (busy.outbox.length) serve(busy, false);
      else deliver(busy, false);
      continue;
    }
    const waiting = peers.filter(
      (p) => p.client.state !== ClientState.READY || p.client.hasUnconfirmed,
    );
    if (!waiting.length) break;
    for (const peer of waiting) peer.outbox.push(...peer.client.resend(), ...peer.client.flush());
  }
  return { server, peers, typed };
}

test("clients converge on a lossy network", () => {
  for (let seed = 1; seed <= 25; seed++) {
    const { server, peers } = simulate(seed);
    for (const { client, editor } of peers) {
      assert.equal(client.text, server.text, `seed ${seed}: ${client.clientId}`);
      assert.equal(editor, server.text, `seed ${seed}: ${client.clientId}'s editor`);
      assert.equal(client.rev, server.rev, `seed ${seed}: ${client.clientId}`);
    }
    assert.ok(!hasLoneSurrogate(server.text), `seed ${seed}`);
  }
});

test("clients converge when a short history forces snapshots and merges", () => {
  for (let seed = 100; seed <= 125; seed++) {
    const { server, peers } = simulate(seed, { clients: 4, historyLimit: 2, loss: 0.1 });
    for (const { client, editor } of peers) {
      assert.equal(client.text, server.text, `seed ${seed}: ${client.clientId}`);
      assert.equal(editor, server.text, `seed ${seed}: ${client.clientId}'s editor`);
      assert.equal(client.shadow, server.text, `seed ${seed}: ${client.clientId}`);
    }
  }
});

/**
 * Every copy equals the server's, and each client's run is in one piece, in typing order.
 * @param {number} seed
 * @param {boolean[]} runs
 * @param {{loss?: number, steps?: number, carets?: boolean, assoc?: typeof caretAssoc}} options
 */
function checkRuns(seed, runs, options) {
  const { server, peers, typed } = simulate(seed, { clients: runs.length, runs, ...options });
  for (const { client } of peers) {
    assert.equal(client.text, server.text, `seed ${seed}: ${client.clientId}`);
  }
  typed.forEach((letters, i) => {
    const run = (runs[i] ? letters : [...letters].reverse()).join("");
    const way = runs[i] ? "forwards" : "backwards";
    assert.ok(server.text.includes(run), `seed ${seed}: c${i} typed ${run} ${way}: ${server.text}`);
  });
  return typed.reduce((total, letters) => total + letters.length, 0);
}

test("two or three people typing at one spot keep their runs whole, forwards and backwards", () => {
  // Every direction for two and three typists, many seeded schedules each: any order of
  // keystrokes, sends, deliveries, losses, duplicates and reconnects.
  /** @type {boolean[][]} */
  const directions = [];
  for (const count of [2, 3]) {
    for (let mask = 0; mask < 1 << count; mask++) {
      directions.push(Array.from({ length: count }, (_, i) => Boolean(mask & (1 << i))));
    }
  }
  let letters = 0;
  for (const runs of directions) {
    for (let seed = 1; seed <= 40; seed++) {
      letters += checkRuns(seed, runs, { loss: seed % 2 ? 0.1 : 0, steps: 150 });
    }
  }
  assert.ok(letters > 10_000, `only ${letters} letters typed`);
});

test("an editor's caret kept beside its own text types whole runs, forwards and backwards", () => {
  // As the page types: at its caret, which remote changes move. A caret typing backwards
  // must keep to the right of text inserted exactly at it (caretAssoc), else its next letter
  // lands before someone else's.
  for (const runs of [[true, true], [false, false], [false, true, false]]) {
    for (let seed = 1; seed <= 40; seed++) {
      checkRuns(seed, runs, { loss: seed % 2 ? 0.1 : 0, steps: 150, carets: true });
    }
  }
  const always = () => /** @type {const} */ (-1); // CodeMirror's default, whatever the run
  assert.throws(() => {
    for (let seed = 1; seed <= 40; seed++) {
      checkRuns(seed, [false, false], { steps: 150, carets: true, assoc: always });
    }
  }, /typed .* backwards/);
});
