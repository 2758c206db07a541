// A client process in JavaScript: `node worker.mjs JOB.json`, the twin of bench/peers/worker.py
// (same job files, same lines on stdin and stdout, same results), for `--clients node`.
//
// Why a second one: the Python clients fold every revision in Python, and from about 48
// editors on one document they alone need more of the machine's two cores than there are,
// for every server alike, so that the largest number of editors a server sustains cannot be
// measured. These clients are what browsers run: for ours the page's own engine and
// connection (frontend/src/sync, frontend/src/lib/connection.js, imported from the snapshot
// of ours being measured), for the Yjs servers yjs with y-protocols' sync messages, as
// y-websocket's browser provider sends them. Both over the `ws` package, without
// permessage-deflate.
//
// Environment: BENCH_NODE_DIR, the peers' node environment (bench/peers/.env/node), where
// yjs, y-protocols, lib0 and ws are installed; OURS_SOURCE, the snapshot of ours whose
// frontend/ the clients of ours run.
//
// Random choices (when each editor types, where it inserts) come in the job, drawn by the
// orchestrator with Python's generator: the same as the Python clients would make.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const require = createRequire(path.join(process.env.BENCH_NODE_DIR ?? ".", "package.json"));
const WebSocket = require("ws");
const Y = require("yjs");
const syncProtocol = require("y-protocols/sync");
const encoding = require("lib0/encoding");
const decoding = require("lib0/decoding");

const oursSource = process.env.OURS_SOURCE ?? ".";
const frontend = (file) => pathToFileURL(path.join(oursSource, "frontend", "src", file)).href;
let SyncClient, Connection;
try {
  ({ SyncClient } = await import(frontend("sync/index.js")));
  ({ Connection } = await import(frontend("lib/connection.js")));
} catch (error) {
  // One line, the last of the log: the orchestrator quotes it as the cell's failure.
  process.stderr.write(`cannot load the page's engine from ${oursSource}: ${error.message}\n`);
  process.exit(1);
}

const MARKER = /<(\d+):(\d+)>/g;

/** CLOCK_MONOTONIC in seconds (libuv's clock, the one Python's clock_gettime reads). */
const now = () => Number(process.hrtime.bigint()) / 1e9;

const cpuSelf = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function sleepUntil(t) {
  const delay = t - now();
  if (delay > 0) await sleep(delay * 1000);
}

async function until(condition, deadline, tick = 0.02) {
  while (!condition()) {
    if (now() >= deadline) return false;
    await sleep(tick * 1000);
  }
  return true;
}

function countMarkers(text) {
  let count = 0;
  for (let at = text.indexOf("<"); at >= 0; at = text.indexOf("<", at + 1)) count += 1;
  return count;
}

/** Where a marker starts (or the end), near `fraction` of the text: plan.boundary's twin. */
function boundary(text, fraction) {
  const found = text.indexOf("<", Math.trunc(fraction * text.length));
  return found < 0 ? text.length : found;
}

const say = (word) => process.stdout.write(`${word}\n`);

const lines = createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on("line", (line) => {
  const next = waiting.shift();
  if (next) next(line);
  else queued.push(line);
});
lines.on("close", () => {
  for (const next of waiting.splice(0)) next("");
});
const readLine = () =>
  queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r));

async function readGo() {
  const [word, t0] = (await readLine()).split(/\s+/);
  if (word !== "go") throw new Error(`expected go, got ${word}`);
  return Number(t0);
}

/** A WebSocket as the page's connection opens one, without permessage-deflate. */
class PlainWebSocket extends WebSocket {
  constructor(url) {
    super(url, { perMessageDeflate: false });
  }
}

// -- ours ---------------------------------------------------------------------------------

/** The page's engine, watched as bench/peers/oclient.py watches the Python one. */
class TracingClient extends SyncClient {
  constructor(clientId, track) {
    super(clientId);
    this.track = track;
    this.untagged = []; // markers typed, not yet in an edit
    this.seqOf = new Map();
    this.editsSent = 0;
    this.lastSeq = 0;
    this.arrivals = {}; // author -> [[seq, time]]
    this.snapshots = []; // [time, markers] of snapshots folded in
    this.revisions = 0; // remote revisions folded in
    this.onApplied = null;
  }

  flush() {
    const messages = super.flush();
    for (const message of messages) {
      if (message.type === "edit" && message.seq > this.lastSeq) {
        this.lastSeq = message.seq;
        this.editsSent += 1;
        for (const name of this.untagged) this.seqOf.set(name, message.seq);
        this.untagged.length = 0;
      }
    }
    return messages;
  }

  receive(message) {
    const before = this.rev;
    const replies = super.receive(message);
    if (this.rev !== before) {
      if (message.type === "revision" && message.client !== this.clientId) {
        this.revisions += 1;
        if (this.track) (this.arrivals[message.client] ??= []).push([message.seq, now()]);
      } else if (message.type === "snapshot" && this.track && message.text) {
        this.snapshots.push([now(), [...message.text.matchAll(MARKER)].map((m) => m[0])]);
      }
      this.onApplied?.();
    }
    return replies;
  }
}

class OursPeer {
  constructor(url, doc, clientId, track) {
    this.client = new TracingClient(clientId, track);
    this.errors = [];
    this.connection = new Connection(
      {
        url: `${url.replace(/\/$/, "")}/ws/${encodeURIComponent(doc)}`,
        client: this.client,
        name: clientId,
        WebSocketClass: PlainWebSocket,
      },
      { serverError: (error) => this.errors.push(error) },
    );
  }

  get author() {
    return this.client.clientId;
  }

  get text() {
    return this.client.text;
  }

  get synced() {
    return this.connection.synced;
  }

  async connect(timeout) {
    this.connection.start();
    if (!(await until(() => this.synced, now() + timeout))) {
      throw new Error(`${this.author}: not synced within ${timeout} s`);
    }
  }

  insert(position, name) {
    this.client.untagged.push(name);
    this.client.replace(position, 0, name);
    this.connection.flush();
  }

  splice(position, deleted, inserted, send = true) {
    this.client.replace(position, deleted, inserted);
    if (send) this.connection.flush();
  }

  sendBuffered() {
    this.connection.flush();
  }

  close() {
    this.connection.stop();
  }

  report() {
    return {
      author: this.author,
      arrivals: this.client.arrivals,
      snapshots: this.client.snapshots,
      errors: this.errors,
      joins: this.connection.joins,
      edits_sent: this.client.editsSent,
    };
  }
}

// -- yjs ----------------------------------------------------------------------------------

const SYNC = 0;

/** One client of one room, as bench/peers/yclient.py: SyncStep1/SyncStep2, then one Update
 *  message per local transaction; an arrival is when a marker appears in the text. */
class YPeer {
  constructor(url, clientId, track) {
    this.url = url;
    this.clientId = clientId;
    this.doc = new Y.Doc();
    this.doc.clientID = clientId;
    this.ytext = this.doc.getText("text");
    this.arrivals = {};
    this.received = 0;
    this.sent = 0;
    this.outgoing = [];
    this.synced = false;
    this.onApplied = null;
    this.socket = null;
    this.closing = false;
    this.errors = []; // the server closing the connection (y-websocket has no error messages)
    this.doc.on("update", (update, origin) => {
      if (origin !== this) this.outgoing.push(update);
    });
    if (track) {
      this.ytext.observe((event, transaction) => {
        if (transaction.origin !== this) return; // our own edit
        const stamp = now();
        for (const change of event.delta) {
          if (typeof change.insert !== "string") continue;
          for (const found of change.insert.matchAll(MARKER)) this.arrivals[found[0]] ??= stamp;
        }
      });
    }
  }

  get author() {
    return String(this.clientId);
  }

  get text() {
    return this.ytext.toString();
  }

  connect(timeout) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.author}: no SyncStep2`)), timeout * 1000);
      const socket = new WebSocket(this.url, { perMessageDeflate: false });
      this.socket = socket;
      socket.binaryType = "nodebuffer";
      socket.on("open", () => {
        const encoder = encoding.createEncoder();
        encoding.writeVarUint(encoder, SYNC);
        syncProtocol.writeSyncStep1(encoder, this.doc);
        socket.send(encoding.toUint8Array(encoder));
      });
      socket.on("message", (data, isBinary) => {
        if (!isBinary || data[0] !== SYNC) return; // awareness: not used here
        const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.length));
        decoding.readVarUint(decoder);
        const encoder = encoding.createEncoder();
        encoding.writeVarUint(encoder, SYNC);
        const kind = syncProtocol.readSyncMessage(decoder, encoder, this.doc, this);
        if (encoding.length(encoder) > 1) socket.send(encoding.toUint8Array(encoder));
        if (kind === syncProtocol.messageYjsSyncStep1) return;
        if (kind === syncProtocol.messageYjsUpdate) this.received += 1;
        if (kind === syncProtocol.messageYjsSyncStep2 && !this.synced) {
          this.synced = true;
          clearTimeout(timer);
          resolve();
        }
        this.onApplied?.();
      });
      socket.on("error", (error) => reject(error));
      socket.on("close", (code) => {
        // y-websocket's server closes a connection whose pong is 30 s late: a client process
        // that cannot keep up. Nothing reconnects, so that client misses what follows.
        if (!this.closing) this.errors.push({ code: `closed by the server (${code})` });
      });
    });
  }

  insert(position, name) {
    this.ytext.insert(position, name);
    this.flush();
  }

  splice(position, deleted, inserted) {
    if (deleted) this.ytext.delete(position, deleted);
    if (inserted) this.ytext.insert(position, inserted);
  }

  /** Every local transaction since the last flush, one Update message each. */
  flush() {
    const outgoing = this.outgoing;
    this.outgoing = [];
    for (const update of outgoing) {
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, SYNC);
      syncProtocol.writeUpdate(encoder, update);
      this.socket.send(encoding.toUint8Array(encoder));
      this.sent += 1;
    }
  }

  close() {
    this.closing = true;
    this.socket?.close();
  }

  report() {
    const { author, arrivals, errors, sent } = this;
    return { author, arrivals, snapshots: [], errors, joins: 1, edits_sent: sent };
  }
}

function makePeer(job, index, track) {
  if (job.server === "yjs") return new YPeer(`${job.url}/${job.doc}`, 1000 + index, track);
  return new OursPeer(job.url, job.doc, `c${index}`, track);
}

/** Connect every peer, 20 at a time; the process told to `open` connects one alone first. */
async function connectAll(job, peers) {
  const timeout = job.connect_timeout ?? 60;
  let rest = peers;
  if (job.open && peers.length > 0) {
    await peers[0].connect(timeout);
    say("opened");
    rest = peers.slice(1);
  }
  const concurrency = job.connect_concurrency ?? 20;
  let next = 0;
  const lane = async () => {
    while (next < rest.length) await rest[next++].connect(timeout);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rest.length) }, lane));
}

// -- markers: S1 and S3 -------------------------------------------------------------------

async function runMarkers(job, peers) {
  const participants = job.participants;
  for (const p of participants) peers.push(makePeer(job, p.index, true));
  await connectAll(job, peers);
  say("ready");
  const t0 = await readGo();
  const cpu0 = cpuSelf();
  const made = peers.map(() => []);

  const edit = async (slot) => {
    const { index, schedule, positions } = participants[slot];
    const peer = peers[slot];
    for (let number = 0; number < schedule.length; number += 1) {
      const planned = t0 + schedule[number];
      await sleepUntil(planned);
      const name = `<${index}:${number}>`;
      const position = boundary(peer.text, positions[number]);
      const stamp = now();
      peer.insert(position, name);
      made[slot].push([name, stamp, planned, null]);
    }
  };
  await Promise.all(peers.map((_, slot) => edit(slot)));
  const typed = now();
  const expected = job.expected_markers;
  const deadline = t0 + job.seconds + job.drain_timeout;
  let drained = await until(() => peers.every((p) => countMarkers(p.text) >= expected), deadline);
  if (drained) {
    // Ours: our own last edits acknowledged too.
    drained = await until(() => peers.every((p) => !(p instanceof OursPeer) || p.synced), deadline);
  }
  const done = now();
  const cpu = cpuSelf() - cpu0;
  const out = peers.map((peer, slot) => {
    if (peer instanceof OursPeer) {
      for (const entry of made[slot]) entry[3] = peer.client.seqOf.get(entry[0]) ?? null;
    }
    const text = peer.text;
    return {
      index: participants[slot].index,
      made: made[slot],
      sha1: createHash("sha1").update(text, "utf8").digest("hex"),
      length: [...text].length,
      markers: countMarkers(text),
      ...peer.report(),
    };
  });
  return {
    peers: out,
    text: peers.length > 0 ? peers[0].text : "",
    drained,
    typed,
    done,
    cpu,
    lags: made.flatMap((log) => log.map((entry) => entry[1] - entry[2])),
  };
}

// -- trace: S2 ----------------------------------------------------------------------------

async function runTrace(job, peers) {
  const { keystrokes, end: target } = JSON.parse(readFileSync(job.keystrokes, "utf8"));
  const writer = job.role === "writer";
  const peer = makePeer(job, writer ? 0 : 1, false);
  peers.push(peer);
  let reached = 0;
  let changed = now();
  if (!writer) {
    const check = () => {
      changed = now();
      if (!reached && peer.text.length === target.length && peer.text === target) reached = changed;
    };
    if (peer instanceof YPeer) peer.onApplied = check;
    else peer.client.onApplied = check;
  }
  await connectAll(job, peers);
  say("ready");
  const t0 = await readGo();
  await sleepUntil(t0);
  const cpu0 = cpuSelf();
  const result = {};
  if (writer) {
    await typeTrace(peer, keystrokes, job.frame_ms / 1000);
    result.typed = now();
    if (peer instanceof OursPeer) {
      if (!(await until(() => peer.synced, now() + job.timeout))) throw new Error("not synced");
    }
    result.synced = now();
    result.messages = peer instanceof YPeer ? peer.sent : peer.client.editsSent;
    result.equal = peer.text === target;
  } else {
    await until(() => reached > 0 || now() - changed > job.stall_timeout, t0 + job.timeout, 0.05);
    result.reached = reached || null;
    result.length = [...peer.text].length;
    result.target_length = [...target].length;
    result.messages = peer instanceof YPeer ? peer.received : peer.client.revisions;
  }
  result.cpu = cpuSelf() - cpu0;
  result.done = now();
  return result;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function typeTrace(peer, keystrokes, frame) {
  if (frame <= 0) {
    // One keystroke, one message (ours: whenever no edit is in flight).
    for (const [position, deleted, inserted] of keystrokes) {
      peer.splice(position, deleted, inserted);
      if (peer instanceof YPeer) peer.flush();
      await turn();
    }
    return;
  }
  let at = 0;
  while (at < keystrokes.length) {
    const end = now() + frame;
    if (peer instanceof YPeer) {
      peer.doc.transact(() => {
        at = typeFrame(peer, keystrokes, at, end);
      });
      peer.flush();
    } else {
      at = typeFrame(peer, keystrokes, at, end);
      peer.sendBuffered();
    }
    await turn();
  }
}

function typeFrame(peer, keystrokes, at, end) {
  while (at < keystrokes.length) {
    const [position, deleted, inserted] = keystrokes[at];
    if (peer instanceof YPeer) peer.splice(position, deleted, inserted);
    else peer.splice(position, deleted, inserted, false);
    at += 1;
    if (now() >= end) break;
  }
  return at;
}

async function main(jobPath) {
  const job = JSON.parse(readFileSync(jobPath, "utf8"));
  const peers = [];
  const result = await (job.kind === "markers" ? runMarkers : runTrace)(job, peers);
  result.client_code = path.resolve(oursSource);
  writeFileSync(job.result, JSON.stringify(result));
  say("done");
  // Connected until every process is done: y-websocket has no acknowledgements, so a
  // writer leaving early could take updates the server has not read yet with it.
  await readLine();
  for (const peer of peers) peer.close();
  await sleep(200);
  process.exit(0);
}

await main(process.argv[2]);
