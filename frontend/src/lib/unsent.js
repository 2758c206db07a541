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

/** @param {string} docId */
export async function clearUnsent(docId) {
  await inStore("readwrite", (store) => store.delete(docId));
}
