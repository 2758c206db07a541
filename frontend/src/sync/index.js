/**
 * The browser's sync engine in one import:
 * `import { SyncClient, fromWire } from "./sync/index.js"`.
 * @module
 */

export * from "./errors.js";
export * from "./text.js";
export * as ops from "./ops.js";
export * from "./patches.js";
export * from "./protocol.js";
export { Intent, laterGoesFirst, mapRun, typed } from "./intent.js";
export { fold } from "./fold.js";
export { changesBetween, mergeOnto, rebaseOnto } from "./merge.js";
export { ClientState, RETRYABLE, SyncClient } from "./client.js";
