// The browser's connection driver, against a fake WebSocket and a fake clock, with the test
// sequencer playing the server's part of the protocol.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Connection, backoffDelay } from "../src/lib/connection.js";
import { SyncClient } from "../src/sync/index.js";
import { TestSequencer } from "../test-support/helpers.js";

class FakeClock {
  now = () => this.time;
  time = 1_000;
  /** @type {Map<number, {at: number, every: number | null, run: () => void}>} */
  timers = new Map();
  next = 1;

  setTimeout = (/** @type {() => void} */ run, /** @type {number} */ ms) => {
    this.timers.set(this.next, { at: this.time + ms, every: null, run });
    return this.next++;
  };
  setInterval = (/** @type {() => void} */ run, /** @type {number} */ ms) => {
    this.timers.set(this.next, { at: this.time + ms, every: ms, run });
    return this.next++;
  };
  clearTimeout = (/** @type {number} */ id) => this.timers.delete(id);
  clearInterval = (/** @type {number} */ id) => this.timers.delete(id);

  /** Let `ms` pass, running every timer that comes due, in order. */
  advance(/** @type {number} */ ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      const [id, timer] = due;
      this.time = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.run();
    }
    this.time = end;
  }
}

/** A server for one document: answers joins, edits, resyncs and pings like app/ws.py. */
class FakeServer {
  /** @type {FakeSocket[]} */
  sockets = [];
  sequencer;
  answerPings = true;
  autoAnswer = true;

  constructor(/** @type {string} */ text) {
    this.sequencer = new TestSequencer({ text });
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(/** @type {string} */ url) {
        super(url, server);
        server.sockets.push(this);
      }
    };
  }

  get socket() {
    return this.sockets[this.sockets.length - 1];
  }

  /** @param {FakeSocket} socket @param {any} message */
  handle(socket, message) {
    if (!this.autoAnswer) return;
    const reply = (/** @type {any} */ m) => socket.deliver(m);
    if (message.type === "join") {
      reply({
        type: "joined",
        doc: { id: "d", title: "Doc" },
        session: `s${this.sockets.indexOf(socket)}`,
        person: { session: "me", name: message.name, color: message.color },
        people: [{ session: "other", name: "Bob", color: "#00ff00", cursor: 1, anchor: 1, rev: 0 }],
        limits: { edits_per_second: 50 },
      });
      for (const m of this.sequencer.catchUp({ ...message, type: "resync" })) reply(m);
    } else if (message.type === "resync") {
      for (const m of this.sequencer.catchUp(message)) reply(m);
    } else if (message.type === "edit") {
      const { revision, error } = this.sequencer.submit(message);
      reply(revision ?? error);
    } else if (message.type === "ping" && this.answerPings) {
      reply({ type: "pong", at: message.at });
    }
  }
}

class FakeSocket {
  readyState = 0;
  /** @type {any[]} */
  sent = [];
  /** @type {((e: any) => void) | null} */ onopen = null;
  /** @type {((e: any) => void) | null} */ onmessage = null;
  /** @type {((e: any) => void) | null} */ onclose = null;
  /** @type {((e: any) => void) | null} */ onerror = null;
  /** @type {{code: number, reason: string} | null} */ closedWith = null;

  constructor(/** @type {string} */ url, /** @type {FakeServer} */ server) {
    this.url = url;
    this.server = server;
  }

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  send(/** @type {string} */ data) {
    assert.equal(this.readyState, 1, "sent on a socket that is not open");
    const message = JSON.parse(data);
    this.sent.push(message);
    this.server.handle(this, message);
  }

  deliver(/** @type {any} */ message) {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(message) });
  }

  close(/** @type {number} */ code, /** @type {string} */ reason) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The server or the network ends the connection. */
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOf(/** @type {string} */ type) {
    return this.sent.filter((m) => m.type === type);
  }
}

function setUp({ text = "hello", backoff = () => 500 } = {}) {
  const clock = new FakeClock();
  const server = new FakeServer(text);
  const client = new SyncClient("web-test");
  /** @type {string[]} */
  const states = [];
  /** @type {string[]} */
  const problems = [];
  const connection = new Connection(
    {
      url: "ws://example/ws/d",
      client,
      name: "Ann",
      color: "#123456",
      WebSocketClass: /** @type {any} */ (server.WebSocket),
      clock,
      resendAfter: 3000,
      pingEvery: 15000,
      pingTimeout: 10000,
      backoff,
    },
    { stateChanged: (s) => states.push(s), problem: (p) => problems.push(p) },
  );
  connection.start();
  return { clock, server, client, connection, states, problems };
}

test("joining asks for a snapshot at first, and the page is connected once caught up", () => {
  const { server, client, connection } = setUp();
  assert.equal(connection.state, "connecting");
  server.socket.open();
  const [join] = server.socket.sent;
  assert.deepEqual(join, {
    type: "join",
    client: "web-test",
    name: "Ann",
    color: "#123456",
    since: 0,
    full: true,
  });
  assert.equal(connection.state, "connected");
  assert.equal(client.text, "hello");
  assert.equal(connection.title, "Doc");
  assert.deepEqual([...connection.people.keys()], ["other"]);
  assert.ok(connection.synced);
});

test("a local edit is sent, acknowledged, and the connection is synced again", () => {
  const { server, client, connection } = setUp();
  server.socket.open();
  client.replace(5, 0, " world");
  assert.ok(!connection.synced);
  connection.flush();
  const [edit] = server.socket.sentOf("edit");
  assert.equal(edit.base, 0);
  assert.equal(server.sequencer.text, "hello world");
  assert.ok(connection.synced);
});

test("an unanswered edit goes again after resendAfter, with the same operation id", () => {
  const { clock, server, client, connection } = setUp();
  server.socket.open();
  server.autoAnswer = false;
  client.replace(0, 0, "¡");
  connection.flush();
  clock.advance(2000);
  assert.equal(server.socket.sentOf("edit").length, 1);
  clock.advance(1500);
  const edits = server.socket.sentOf("edit");
  assert.equal(edits.length, 2);
  assert.equal(edits[1].seq, edits[0].seq);
  assert.equal(edits[1].patch, edits[0].patch);
});

test("after a drop it reconnects with backoff, catches up from its revision, and resends", () => {
  const { clock, server, client, connection, states } = setUp();
  server.socket.open();
  client.replace(5, 0, "!");
  connection.flush(); // acknowledged at revision 1
  server.autoAnswer = false;
  client.replace(0, 0, "¿");
  connection.flush(); // lost with the connection
  server.socket.drop(1006);
  assert.equal(connection.state, "reconnecting");
  client.replace(0, 0, ">"); // typing goes on while disconnected
  assert.equal(server.sockets.length, 1);
  clock.advance(499);
  assert.equal(server.sockets.length, 1, "waits for the backoff");
  clock.advance(1);
  assert.equal(server.sockets.length, 2);
  server.autoAnswer = true;
  server.socket.open();
  const [join] = server.socket.sent;
  assert.equal(join.since, 1);
  assert.equal(join.full, false);
  assert.equal(server.sequencer.text, ">¿hello!");
  assert.equal(client.text, ">¿hello!");
  assert.ok(connection.synced);
  assert.deepEqual(states, ["connected", "reconnecting", "connected"]);
});

test("offline: no connection attempts until resumed, and the typing is sent then", () => {
  const { clock, server, client, connection } = setUp();
  server.socket.open();
  const first = server.socket;
  connection.pause();
  assert.equal(connection.state, "offline");
  assert.deepEqual(first.closedWith, { code: 4000, reason: "offline" });
  first.drop(4000); // the browser's close event arrives later: ignored
  client.replace(0, 0, "typed offline ");
  clock.advance(60_000);
  assert.equal(server.sockets.length, 1, "no attempts while offline");
  assert.equal(connection.state, "offline");
  connection.resume();
  assert.equal(server.sockets.length, 2, "reconnects at once");
  assert.equal(connection.state, "reconnecting");
  server.socket.open();
  assert.equal(server.sequencer.text, "typed offline hello");
  assert.ok(connection.synced);
});

test("a deleted or unknown document ends the connection for good, with a reason", () => {
  const { clock, server, connection, problems } = setUp();
  server.socket.open();
  server.socket.drop(4410, "deleted");
  assert.equal(connection.state, "closed");
  assert.match(problems[0], /deleted/);
  clock.advance(60_000);
  assert.equal(server.sockets.length, 1);
});

test("a connection that stops answering pings is dropped and opened again", () => {
  const { clock, server, connection } = setUp();
  server.socket.open();
  server.answerPings = false;
  clock.advance(15_000);
  assert.equal(server.socket.sentOf("ping").length, 1);
  assert.equal(connection.state, "connected");
  clock.advance(10_500);
  assert.equal(connection.state, "reconnecting");
  assert.ok(server.sockets[0].closedWith !== null);
  clock.advance(500);
  assert.equal(server.sockets.length, 2);
});

test("answered pings keep the connection", () => {
  const { clock, server, connection } = setUp();
  server.socket.open();
  clock.advance(120_000);
  assert.ok(server.socket.sentOf("ping").length >= 7);
  assert.equal(connection.state, "connected");
  assert.equal(server.sockets.length, 1);
});

test("presence is sent once joined, and again after every reconnect", () => {
  const { clock, server, connection } = setUp();
  connection.setPresence({ cursor: 2, anchor: 2, rev: 0 });
  server.socket.open();
  assert.deepEqual(server.socket.sentOf("presence"), [
    { type: "presence", cursor: 2, anchor: 2, rev: 0 },
  ]);
  connection.setPresence({ name: "Ann B." });
  assert.equal(connection.name, "Ann B.");
  server.socket.drop();
  clock.advance(500);
  server.socket.open();
  assert.equal(server.socket.sent[0].name, "Ann B.", "the new name is used to join");
  assert.deepEqual(server.socket.sentOf("presence"), [
    { type: "presence", cursor: 2, anchor: 2, rev: 0, name: "Ann B." },
  ]);
});

test("people join, move and leave; our own presence is not one of them", () => {
  const { server, connection } = setUp();
  /** @type {any[]} */
  const seen = [];
  connection.events.presence = (p) => seen.push(p);
  server.socket.open();
  const person = { session: "p2", name: "Cy", color: "#abcdef", cursor: 0, anchor: 0, rev: 0 };
  server.socket.deliver({ type: "presence", event: "join", person });
  server.socket.deliver({ type: "presence", event: "update", person: { ...person, cursor: 3 } });
  server.socket.deliver({
    type: "presence",
    event: "update",
    person: { session: "s0", name: "Ann" },
  });
  assert.deepEqual(
    seen.map((p) => [p.session, p.cursor]),
    [["other", 1], ["p2", 0], ["p2", 3]], // those present at join come first
  );
  assert.deepEqual([...connection.people.keys()].sort(), ["other", "p2"]);
  server.socket.deliver({ type: "presence", event: "leave", person });
  assert.deepEqual([...connection.people.keys()], ["other"]);
});

test("a rate-limited edit waits for the server's pace, then goes again", () => {
  const { clock, server, client, connection } = setUp();
  server.socket.open();
  server.autoAnswer = false;
  client.replace(0, 0, "x");
  connection.flush();
  const [edit] = server.socket.sentOf("edit");
  server.socket.deliver({
    type: "error",
    code: "rate-limited",
    message: "slow down",
    client: edit.client,
    seq: edit.seq,
  });
  server.autoAnswer = true;
  clock.advance(10);
  assert.equal(server.socket.sentOf("edit").length, 1, "not at once");
  clock.advance(300);
  assert.equal(server.socket.sentOf("edit").length, 2);
  assert.equal(server.sequencer.text, "xhello");
  assert.ok(connection.synced);
});

test("backoff grows exponentially to a cap, with bounded jitter", () => {
  const fixed = { random: () => 0.5 };
  assert.equal(backoffDelay(0, fixed), 250);
  assert.equal(backoffDelay(1, fixed), 500);
  assert.equal(backoffDelay(3, fixed), 2000);
  assert.equal(backoffDelay(50, fixed), 8000);
  for (let i = 0; i < 100; i++) {
    const delay = backoffDelay(2);
    assert.ok(delay >= 750 && delay <= 1250, String(delay));
  }
});

test("a page that asks is told who wrote the snapshot; the server's color for us is kept", () => {
  const clock = new FakeClock();
  const server = new FakeServer("hello");
  const client = new SyncClient("web-test");
  /** @type {any[]} */
  const told = [];
  /** @type {any[]} */
  const mine = [];
  const connection = new Connection(
    {
      url: "ws://example/ws/d",
      client,
      name: "Ann",
      color: null,
      authorship: true,
      WebSocketClass: /** @type {any} */ (server.WebSocket),
      clock,
    },
    { authorship: (data) => told.push(data), meChanged: (person) => mine.push(person) },
  );
  connection.start();
  server.socket.open();
  const [join] = server.socket.sent;
  assert.equal(join.authorship, true);
  assert.ok(!("color" in join), "no color asked for: the server gives one");
  server.socket.deliver({ type: "authorship", rev: 0, runs: [[0, 5, null]] });
  server.socket.deliver({ type: "authorship", rev: "0", runs: [] }); // not of the shape: ignored
  assert.deepEqual(told, [{ type: "authorship", rev: 0, runs: [[0, 5, null]] }]);
  // Our own presence, from the server: how the others see us now.
  const me = { session: "s0", name: "Ann", color: "#2e86de" };
  server.socket.deliver({ type: "presence", event: "update", person: me });
  assert.deepEqual(mine, [me]);
  assert.deepEqual(connection.me, me);
  assert.ok(!connection.people.has("s0"));
});
