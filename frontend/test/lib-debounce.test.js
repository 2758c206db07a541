import assert from "node:assert/strict";
import { test } from "node:test";

import { Latest, debounce } from "../src/lib/debounce.js";

/** Timers driven by hand: `advance(ms)` runs what is due. */
function fakeTimers() {
  let now = 0;
  let nextHandle = 1;
  /** @type {Map<number, {at: number, fn: () => void}>} */
  const pending = new Map();
  return {
    pending,
    setTimeout(/** @type {() => void} */ fn, /** @type {number} */ ms) {
      const handle = nextHandle++;
      pending.set(handle, { at: now + ms, fn });
      return handle;
    },
    clearTimeout(/** @type {number} */ handle) {
      pending.delete(handle);
    },
    advance(/** @type {number} */ ms) {
      now += ms;
      for (const [handle, timer] of [...pending]) {
        if (timer.at <= now) {
          pending.delete(handle);
          timer.fn();
        }
      }
    },
  };
}

test("debounce calls once, after the quiet period, with the last arguments", () => {
  const timers = fakeTimers();
  /** @type {string[]} */
  const calls = [];
  const search = debounce((/** @type {string} */ q) => calls.push(q), 250, timers);
  search("p");
  timers.advance(100);
  search("pl");
  timers.advance(200);
  search("pla");
  timers.advance(249);
  assert.deepEqual(calls, []);
  timers.advance(1);
  assert.deepEqual(calls, ["pla"]);
  assert.equal(timers.pending.size, 0);
  timers.advance(1000);
  assert.deepEqual(calls, ["pla"], "nothing more without another call");
});

test("flush runs a pending call now, once; cancel drops it", () => {
  const timers = fakeTimers();
  /** @type {number[]} */
  const calls = [];
  const fn = debounce((/** @type {number} */ n) => calls.push(n), 250, timers);
  fn(1);
  fn.flush();
  assert.deepEqual(calls, [1]);
  timers.advance(500);
  assert.deepEqual(calls, [1], "the flushed call does not run again");
  fn.flush();
  assert.deepEqual(calls, [1], "flush with nothing pending does nothing");
  fn(2);
  fn.cancel();
  timers.advance(500);
  assert.deepEqual(calls, [1]);
  fn(3);
  timers.advance(250);
  assert.deepEqual(calls, [1, 3], "still usable after cancel");
});

test("Latest: only the newest ticket is current", () => {
  const latest = new Latest();
  const first = latest.take();
  assert.ok(latest.isCurrent(first));
  const second = latest.take();
  assert.ok(!latest.isCurrent(first));
  assert.ok(latest.isCurrent(second));
  assert.notEqual(first, second);
  assert.ok(!new Latest().isCurrent(first), "each Latest has its own tickets");
});
