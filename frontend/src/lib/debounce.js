/**
 * Timing helpers for pages: a debounce for typing, and a guard against answers that arrive
 * out of order.
 * @module
 */

/**
 * @typedef {object} Timers
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * Call `fn` once `ms` have passed without another call, with the last call's arguments.
 * `flush()` runs a pending call now; `cancel()` drops it.
 * @template {unknown[]} A
 * @param {(...args: A) => void} fn
 * @param {number} ms
 * @param {Timers} [timers]  for tests
 */
export function debounce(fn, ms, timers = globalThis) {
  /** @type {unknown} */
  let handle = null;
  /** @type {A | null} */
  let pending = null;
  const run = () => {
    handle = null;
    const args = pending;
    pending = null;
    if (args) fn(...args);
  };
  const debounced = (/** @type {A} */ ...args) => {
    pending = args;
    if (handle !== null) timers.clearTimeout(handle);
    handle = timers.setTimeout(run, ms);
  };
  debounced.flush = () => {
    if (handle !== null) timers.clearTimeout(handle);
    run();
  };
  debounced.cancel = () => {
    if (handle !== null) timers.clearTimeout(handle);
    handle = null;
    pending = null;
  };
  return debounced;
}

/**
 * Hands out tickets; only the newest is current. A page takes a ticket before a request and
 * drops the answer if a newer request started meanwhile (typing fast, clicking through a list).
 */
export class Latest {
  #issued = 0;

  /** @returns {number} */
  take() {
    this.#issued += 1;
    return this.#issued;
  }

  /** @param {number} ticket */
  isCurrent(ticket) {
    return ticket === this.#issued;
  }
}
