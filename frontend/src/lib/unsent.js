/**
 * Unsent edits kept across closed tabs: each document's engine state (SyncClient#saveState),
 * in IndexedDB, while it holds edits the server has not confirmed. Opening the document again
 * restores the engine from it, and the edits are sent as after any reconnect (the server
 * applies each operation id once). Where IndexedDB is missing or refuses (a private window),
 * nothing is kept and the page warns before closing, as before.
 * @module
 */

const DB_NAME = "collab";
const STORE = "unsent";

/** @type {Promise<IDBDatabase | null> | null} */
let opened = null;

/** @returns {Promise<IDBDatabase | null>} */
function database() {
  if (opened === null) {
    opened = new Promise((resolve) => {
      if (typeof indexedDB === "undefined") {
        resolve(null);
        return;
      }
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
  }
  return opened;
}

/**
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T>} work
 * @returns {Promise<T | undefined>}
 */
async function inStore(mode, work) {
  const db = await database();
  if (db === null) return undefined;
  return new Promise((resolve) => {
    try {
      const request = work(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(undefined);
    } catch {
      resolve(undefined);
    }
  });
}

/**
 * The saved engine state of `docId`, if a closed page left one.
 * @param {string} docId
 * @returns {Promise<import("../sync/client.js").SavedClient | null>}
 */
export async function loadUnsent(docId) {
  const found = await inStore("readonly", (store) => store.get(docId));
  return found ?? null;
}

/**
 * @param {string} docId
 * @param {import("../sync/client.js").SavedClient} state
 */
export async function saveUnsent(docId, state) {
  await inStore("readwrite", (store) => store.put(state, docId));
}

/**
 * Whether two saved states are the same, compared without reading the text: the page asks to
 * keep its state after every message from the server, and most (presence, pongs) change
 * nothing of it, while writing it copies the whole text (3 to 5 ms of the page's time for 1 MB
 * in Chromium). The engine replaces its operations and texts rather than changing them, so
 * the same objects mean the same state.
 * @param {import("../sync/client.js").SavedClient} a
 * @param {import("../sync/client.js").SavedClient} b
 */
export function sameSavedState(a, b) {
  return (
    a.version === b.version &&
    a.clientId === b.clientId &&
    a.rev === b.rev &&
    a.seq === b.seq &&
    Object.is(a.buffer, b.buffer) &&
    a.bufferIntent === b.bufferIntent &&
    (a.inflight === b.inflight ||
      (a.inflight !== null &&
        b.inflight !== null &&
        a.inflight.seq === b.inflight.seq &&
        Object.is(a.inflight.op, b.inflight.op) &&
        a.inflight.intent === b.inflight.intent)) &&
    // Last: two different texts of the same revision are rare, and comparing them reads them.
    a.shadow === b.shadow
  );
}

/** @param {string} docId */
export async function clearUnsent(docId) {
  await inStore("readwrite", (store) => store.delete(docId));
}
