/**
 * The documents page's logic without a DOM: paging, the list's place in the URL, and what a
 * row says about a document. The page (pages/documents.js) only turns these into elements.
 * @module
 */

import { exactTime, plural, relativeTime } from "./format.js";

export const PAGE_SIZE = 20;

/**
 * @typedef {object} Person  someone editing a document (the API's `people`)
 * @property {string} name
 * @property {string} color
 *
 * @typedef {object} DocumentSummary  one item of GET /api/documents
 * @property {string} id
 * @property {string} title
 * @property {string} updated_at
 * @property {number} [editors]
 * @property {Person[]} [people]
 *
 * @typedef {object} ListQuery
 * @property {string} q
 * @property {number} offset
 */

/**
 * Where a page of `total` items starting at `offset` sits.
 * @param {{total: number, offset: number, limit: number}} page
 */
export function pageInfo({ total, offset, limit }) {
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.min(pages, Math.floor(offset / limit) + 1);
  return {
    page,
    pages,
    hasPrev: offset > 0,
    hasNext: offset + limit < total,
    label: `Page ${page} of ${pages} · ${plural(total, "document")}`,
  };
}

/**
 * The offset to show after the list shrank to `total` (a deletion emptied the last page):
 * the last page that still has items, aligned to `limit`.
 * @param {number} offset
 * @param {number} total
 * @param {number} limit
 */
export function clampOffset(offset, total, limit) {
  if (offset < total) return offset - (offset % limit);
  return Math.max(0, Math.ceil(total / limit) - 1) * limit;
}

/**
 * The list's search and offset from the page's query string (`?q=plan&offset=20`); anything
 * unreadable falls back to the first page of everything.
 * @param {string} search  location.search
 * @param {number} [limit]
 * @returns {ListQuery}
 */
export function readListQuery(search, limit = PAGE_SIZE) {
  const params = new URLSearchParams(search);
  const q = (params.get("q") ?? "").slice(0, 200);
  const raw = Number(params.get("offset") ?? "0");
  const offset = Number.isSafeInteger(raw) && raw > 0 ? raw - (raw % limit) : 0;
  return { q, offset };
}

/**
 * The query string for a list state ("" for the first page of everything).
 * @param {ListQuery} query
 */
export function listQueryString({ q, offset }) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (offset > 0) params.set("offset", String(offset));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * A new document's title from the form: trimmed, or undefined for the server's default.
 * @param {string} raw
 * @returns {string | undefined}
 */
export function newTitle(raw) {
  const title = raw.trim();
  return title || undefined;
}

/**
 * Who is editing, for a row: the first few people and how many more.
 * `editors` may exceed the names listed (an older server sends only the count).
 * @param {DocumentSummary} doc
 * @param {number} [shown]
 * @returns {{people: Person[], more: number, text: string}}
 */
export function editingNow(doc, shown = 3) {
  const everyone = Array.isArray(doc.people) ? doc.people : [];
  const count = Math.max(doc.editors ?? 0, everyone.length);
  if (count === 0) return { people: [], more: 0, text: "" };
  const people = everyone.slice(0, shown);
  const more = count - people.length;
  const names = people.map((p) => p.name);
  if (more > 0) names.push(people.length ? `${more} more` : plural(more, "person", "people"));
  return { people, more, text: `${joinNames(names)} editing now` };
}

/**
 * "Ann", "Ann and Bob", "Ann, Bob and 2 more".
 * @param {string[]} names
 */
export function joinNames(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * What a row shows about when the document last changed.
 * @param {DocumentSummary} doc
 * @param {Date} [now]
 */
export function updatedLabel(doc, now = new Date()) {
  return {
    text: `Edited ${relativeTime(doc.updated_at, now)}`,
    exact: exactTime(doc.updated_at),
  };
}

/**
 * The status line for a search with no results, or an empty collection.
 * @param {string} q
 */
export function emptyText(q) {
  return q
    ? `No document title matches “${q}”.`
    : "No documents yet. Create one above, or import a text file.";
}

/**
 * A title as a row shows it: one made only of spaces would leave an invisible link.
 * @param {string} title
 */
export function displayTitle(title) {
  return title.trim() ? title : "Untitled";
}
