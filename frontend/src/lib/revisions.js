/**
 * The history page's logic without a DOM: the list of revisions (with revision 0, the
 * document's creation, after the oldest edit), labels, and keyboard moves through the list.
 * @module
 */

import { exactTime, relativeTime } from "./format.js";

export const REVISIONS_PAGE = 50;

/**
 * @typedef {object} RevisionSummary  one item of GET …/revisions
 * @property {number} rev
 * @property {string} author
 * @property {string} created_at
 * @property {number} [inserted]
 * @property {number} [deleted]
 *
 * @typedef {object} RevisionEntry  one row of the page's list
 * @property {number} rev
 * @property {string} author  "" for the creation
 * @property {string} created_at
 * @property {number | null} inserted  null when unknown (the creation)
 * @property {number | null} deleted
 */

/**
 * The rows for one page of revisions (newest first), and whether older ones remain. The API
 * lists edits (revisions 1 to head, `total` of them); the page that reaches the oldest one
 * also gets revision 0, dated with the document's creation.
 * @param {{items: RevisionSummary[], total: number, offset: number}} page
 * @param {string} createdAt  the document's created_at
 * @returns {{entries: RevisionEntry[], nextOffset: number, done: boolean}}
 */
export function revisionPage({ items, total, offset }, createdAt) {
  const entries = items.map(revisionEntry);
  const nextOffset = offset + items.length;
  // An empty page past the end also ends the list: never ask for it again.
  const done = nextOffset >= total || items.length === 0;
  if (done) entries.push({ rev: 0, author: "", created_at: createdAt, inserted: null, deleted: null });
  return { entries, nextOffset, done };
}

/**
 * @param {RevisionSummary} summary
 * @returns {RevisionEntry}
 */
export function revisionEntry(summary) {
  return {
    rev: summary.rev,
    author: summary.author,
    created_at: summary.created_at,
    inserted: summary.inserted ?? null,
    deleted: summary.deleted ?? null,
  };
}

/**
 * What a revision's button says.
 * @param {RevisionEntry} entry
 * @param {Date} [now]
 */
export function revisionLabel(entry, now = new Date()) {
  return {
    number: entry.rev === 0 ? "Revision 0" : `Revision ${entry.rev}`,
    who: entry.rev === 0 ? "Created" : entry.author || "Unknown",
    when: relativeTime(entry.created_at, now),
    exact: exactTime(entry.created_at),
  };
}

/**
 * The diff that shows what a revision changed, or null for revision 0 (shown as its text).
 * @param {number} rev
 * @returns {{from: number, to: number} | null}
 */
export function diffRange(rev) {
  return rev > 0 ? { from: rev - 1, to: rev } : null;
}

/**
 * Whether restoring `rev` means anything: not for the head, whose text is already current.
 * @param {number | null} rev
 * @param {number} head
 */
export function canRestore(rev, head) {
  return rev !== null && Number.isInteger(rev) && rev >= 0 && rev < head;
}

/**
 * Which button a key moves to in a list of `length` (ArrowUp/Down, Home, End), or null when
 * the key does not move (it is left to the browser).
 * @param {string} key
 * @param {number} index  the focused button's position
 * @param {number} length
 * @returns {number | null}
 */
export function moveIndex(key, index, length) {
  if (length === 0) return null;
  switch (key) {
    case "ArrowUp":
      return Math.max(0, index - 1);
    case "ArrowDown":
      return Math.min(length - 1, index + 1);
    case "Home":
      return 0;
    case "End":
      return length - 1;
    default:
      return null;
  }
}

/**
 * The revision asked for in the page's query string (`?rev=12`), or null.
 * @param {string} search  location.search
 */
export function revFromQuery(search) {
  const raw = new URLSearchParams(search).get("rev");
  if (raw === null || !/^\d{1,10}$/.test(raw)) return null;
  const rev = Number(raw);
  return rev <= 2 ** 31 - 1 ? rev : null;
}
