// What folding one revision costs the JavaScript twin, on a 1 KB and a 1 MB document (ASCII,
// and with emoji): the twin of part 3 of bench/engine.py, for the client side.
//
//     node frontend/bench/fold.mjs [--revisions N] [--src DIR]
//
// A reader `SyncClient` with nothing unconfirmed receives N revisions of one-character edits
// at random places (4 in 5 inserts); each `receive` is timed. The revisions are made
// beforehand, untimed, by a small sequencer using the engine's own checksum functions. `--src`
// points at another copy of src/sync (to measure an older version of the engine).
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    revisions: { type: "string", default: "2000" },
    src: { type: "string", default: new URL("../src/sync/", import.meta.url).pathname },
  },
});
const sync = await import(new URL("index.js", `file://${values.src.replace(/\/?$/, "/")}`).href);
const REVISIONS = Number(values.revisions);

/** A seeded random source (mulberry32). @param {number} seed */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ["the", "sync", "engine", "keeps", "a", "shadow", "of", "server", "and"];

/**
 * About `size` code points of word-like lines; with `emoji`, some lines hold one.
 * @param {number} size
 * @param {boolean} emoji
 * @param {() => number} next
 */
function documentText(size, emoji, next) {
  const lines = [];
  let length = 0;
  while (length < size) {
    const words = Array.from({ length: 4 + Math.floor(next() * 10) }, () =>
      WORDS[Math.floor(next() * WORDS.length)],
    );
    if (emoji && next() < 0.15) words.splice(Math.floor(next() * words.length), 0, "😀");
    const line = words.join(" ");
    lines.push(line);
    length += sync.codepointLength(line) + 1;
  }
  return lines.join("\n");
}

/**
 * `count` revisions of one-character edits on `text`, as a sequencer would send them.
 * @param {string} text
 * @param {number} count
 * @param {boolean} emoji
 * @param {() => number} next
 */
function revisions(text, count, emoji, next) {
  const out = [];
  let length = sync.codepointLength(text);
  let sum = sync.checksum(text);
  for (let rev = 1; rev <= count; rev++) {
    const position = 4 + Math.floor(next() * (length - 9));
    const insert = next() < 0.8;
    const typed = emoji && rev % 3 === 0 ? "😀" : "abcdefgh "[Math.floor(next() * 9)];
    const at = sync.codepointToUtf16(text, position);
    const from = sync.codepointToUtf16(text, position - 4);
    const to = sync.codepointToUtf16(text, position + (insert ? 4 : 5));
    const before = text.slice(from, at);
    const gone = insert ? "" : text.slice(at, sync.codepointToUtf16(text, position + 1));
    const after = text.slice(at + gone.length, to);
    const diffs = [[0, before], insert ? [1, typed] : [-1, gone], [0, after]];
    const hunk = {
      start1: position - 4,
      start2: position - 4,
      length1: insert ? 8 : 9,
      length2: insert ? 9 : 8,
      diffs,
    };
    const op = insert
      ? sync.ops.replace(length, position, "", typed)
      : sync.ops.replace(length, position, gone, "");
    const newText = text.slice(0, at) + (insert ? typed : "") + text.slice(at + gone.length);
    // (An engine without updateChecksum writes version 1, computed in full.)
    sum = sync.updateChecksum
      ? sync.updateChecksum(sum, text, op, newText)
      : sync.checksum(newText);
    out.push({
      type: "revision",
      rev,
      base: rev - 1,
      author: "writer",
      client: "writer",
      seq: rev,
      patch: sync.formatPatch([hunk]),
      checksum: sum,
    });
    text = newText;
    length += insert ? 1 : -1;
  }
  return { revisions: out, text };
}

/** @param {number[]} samples  nanoseconds */
function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (/** @type {number} */ q) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1000;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length / 1000;
  return { p50: at(0.5), p99: at(0.99), mean };
}

/** @param {number} us */
const show = (us) =>
  us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(us < 10 ? 1 : 0)} µs`;

console.log(`node ${process.version}, engine from ${values.src}`);
console.log("per revision folded (SyncClient.receive): p50 / p99 / mean");
for (const emoji of [false, true]) {
  for (const size of [1_000, 1_000_000]) {
    const next = random(2);
    const start = documentText(size, emoji, next);
    const { revisions: list, text: end } = revisions(start, REVISIONS + 5, emoji, next);
    const reader = new sync.SyncClient("reader", { text: start });
    reader.connect();
    reader.receive({ type: "synced", rev: 0 });
    const samples = [];
    list.forEach((revision, index) => {
      const t0 = process.hrtime.bigint();
      reader.receive(revision);
      const t1 = process.hrtime.bigint();
      if (index >= 5) samples.push(Number(t1 - t0));
    });
    if (reader.text !== end || reader.rev !== list.length) throw new Error("the reader drifted");
    const s = stats(samples);
    const label = `${size >= 1e6 ? "1 MB" : "1 KB"} ${emoji ? "with emoji" : "ASCII"}`;
    console.log(`  ${label.padEnd(16)} ${show(s.p50)} / ${show(s.p99)} / ${show(s.mean)}`);
  }
}
