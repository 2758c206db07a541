// What a local keystroke costs the JavaScript twin: `SyncClient.replaceRange`, as the page
// calls it for each of CodeMirror's changes, on documents of 1 KB, 100 KB and 1 MB (ASCII,
// and with emoji, where UTF-16 offsets and code points part ways).
//
//     node frontend/bench/keystroke.mjs [--keystrokes N] [--src DIR]
//
// A connected client types N characters one by one in the middle of the document, as a person
// does (each after the last; nothing is sent, so the buffer holds one insert). `--src` points
// at another copy of src/sync (to measure an older version of the engine).
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    keystrokes: { type: "string", default: "3000" },
    src: { type: "string", default: new URL("../src/sync/", import.meta.url).pathname },
  },
});
const sync = await import(new URL("index.js", `file://${values.src.replace(/\/?$/, "/")}`).href);
const { checksum } = await import(new URL("text.js", `file://${values.src.replace(/\/?$/, "/")}`).href);
const KEYSTROKES = Number(values.keystrokes);

/**
 * @param {number} size  about this many UTF-16 units
 * @param {boolean} emoji  one line in ten holds an emoji
 */
function documentOf(size, emoji) {
  const lines = [];
  let length = 0;
  for (let n = 0; length < size; n++) {
    const line = `line ${n} of the document${emoji && n % 10 === 0 ? " 😀" : ""}\n`;
    lines.push(line);
    length += line.length;
  }
  return lines.join("");
}

/** @param {number[]} values */
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

console.log("| document | text | µs per keystroke, p50 | p99 |");
console.log("|---|---|---|---|");
for (const [label, size] of [
  ["1 KB", 1_000],
  ["100 KB", 100_000],
  ["1 MB", 1_000_000],
]) {
  for (const emoji of [false, true]) {
    const text = documentOf(size, emoji);
    const client = new sync.SyncClient("typist");
    client.connect();
    client.receive({ type: "snapshot", rev: 0, text, checksum: checksum(text), last_seq: 0 });
    let at = Math.floor(text.length / 2);
    if (text.charCodeAt(at) >= 0xdc00 && text.charCodeAt(at) <= 0xdfff) at += 1;
    const times = [];
    for (let i = 0; i < KEYSTROKES; i++) {
      const started = process.hrtime.bigint();
      client.replaceRange(at, at, "a");
      times.push(Number(process.hrtime.bigint() - started) / 1000);
      at += 1;
    }
    const p99 = times.sort((a, b) => a - b)[Math.floor(times.length * 0.99)];
    console.log(
      `| ${label} | ${emoji ? "with emoji" : "ASCII"} | ${median(times).toFixed(1)} | ${p99.toFixed(1)} |`,
    );
  }
}
