import assert from "node:assert/strict";
import { test } from "node:test";

import {
  PAGE_SIZE,
  clampOffset,
  displayTitle,
  editingNow,
  emptyText,
  joinNames,
  listQueryString,
  newTitle,
  pageInfo,
  readListQuery,
  updatedLabel,
} from "../src/lib/doclist.js";

const ann = { name: "Ann", color: "#d7263d" };
const bob = { name: "Bob", color: "#1b998b" };
const cy = { name: "Cy", color: "#2e86de" };
const di = { name: "Di", color: "#f46036" };

test("pageInfo: first, middle, last and only pages", () => {
  assert.deepEqual(pageInfo({ total: 45, offset: 0, limit: 20 }), {
    page: 1,
    pages: 3,
    hasPrev: false,
    hasNext: true,
    label: "Page 1 of 3 · 45 documents",
  });
  const middle = pageInfo({ total: 45, offset: 20, limit: 20 });
  assert.deepEqual([middle.page, middle.hasPrev, middle.hasNext], [2, true, true]);
  const last = pageInfo({ total: 45, offset: 40, limit: 20 });
  assert.deepEqual([last.page, last.hasPrev, last.hasNext], [3, true, false]);
  const exact = pageInfo({ total: 40, offset: 20, limit: 20 });
  assert.deepEqual([exact.pages, exact.hasNext], [2, false]);
  assert.equal(pageInfo({ total: 0, offset: 0, limit: 20 }).label, "Page 1 of 1 · 0 documents");
  assert.equal(pageInfo({ total: 1, offset: 0, limit: 20 }).label, "Page 1 of 1 · 1 document");
});

test("pageInfo never reports a page past the last", () => {
  const info = pageInfo({ total: 5, offset: 100, limit: 20 });
  assert.equal(info.page, 1);
  assert.equal(info.pages, 1);
});

test("clampOffset goes back to the last page that has items", () => {
  assert.equal(clampOffset(40, 40, 20), 20, "the only item on page 3 was deleted");
  assert.equal(clampOffset(40, 41, 20), 40, "page 3 still has one");
  assert.equal(clampOffset(60, 10, 20), 0);
  assert.equal(clampOffset(20, 0, 20), 0, "nothing left at all");
  assert.equal(clampOffset(25, 100, 20), 20, "aligned to the page size");
});

test("the list's state round-trips through the query string", () => {
  assert.deepEqual(readListQuery(""), { q: "", offset: 0 });
  assert.equal(listQueryString({ q: "", offset: 0 }), "");
  const state = { q: "Q3 plan & co", offset: 40 };
  const text = listQueryString(state);
  assert.match(text, /^\?/);
  assert.deepEqual(readListQuery(text), state);
});

test("readListQuery refuses offsets that are not whole, positive and aligned", () => {
  assert.equal(readListQuery("?offset=-20").offset, 0);
  assert.equal(readListQuery("?offset=abc").offset, 0);
  assert.equal(readListQuery("?offset=1e400").offset, 0);
  assert.equal(readListQuery("?offset=2.5").offset, 0);
  assert.equal(readListQuery("?offset=45").offset, 40);
  assert.equal(readListQuery("?offset=45", 10).offset, 40);
  assert.equal(readListQuery(`?offset=${PAGE_SIZE * 2}`).offset, PAGE_SIZE * 2);
  assert.equal(readListQuery(`?q=${"x".repeat(300)}`).q.length, 200, "at most the API's limit");
});

test("newTitle trims, and leaves a blank one to the server's default", () => {
  assert.equal(newTitle("  Plan  "), "Plan");
  assert.equal(newTitle("   "), undefined);
  assert.equal(newTitle(""), undefined);
  assert.equal(newTitle("<script>"), "<script>");
});

test("displayTitle shows 'Untitled' for a title made of spaces only", () => {
  assert.equal(displayTitle("  "), "Untitled");
  assert.equal(displayTitle(" a "), " a ");
});

test("editingNow names up to three people and counts the rest", () => {
  assert.deepEqual(editingNow({ id: "d", title: "", updated_at: "", editors: 0, people: [] }), {
    people: [],
    more: 0,
    text: "",
  });
  assert.equal(editingNow({ id: "d", title: "", updated_at: "", editors: 1, people: [ann] }).text, "Ann editing now");
  assert.equal(
    editingNow({ id: "d", title: "", updated_at: "", editors: 2, people: [ann, bob] }).text,
    "Ann and Bob editing now",
  );
  const four = editingNow({ id: "d", title: "", updated_at: "", editors: 4, people: [ann, bob, cy, di] });
  assert.equal(four.text, "Ann, Bob, Cy and 1 more editing now");
  assert.deepEqual(four.people, [ann, bob, cy]);
  assert.equal(four.more, 1);
});

test("editingNow copes with a count but no names (an older server)", () => {
  assert.equal(editingNow({ id: "d", title: "", updated_at: "", editors: 2 }).text, "2 people editing now");
  assert.equal(editingNow({ id: "d", title: "", updated_at: "", editors: 1 }).text, "1 person editing now");
  assert.equal(editingNow({ id: "d", title: "", updated_at: "" }).text, "");
});

test("joinNames", () => {
  assert.equal(joinNames([]), "");
  assert.equal(joinNames(["Ann"]), "Ann");
  assert.equal(joinNames(["Ann", "Bob"]), "Ann and Bob");
  assert.equal(joinNames(["Ann", "Bob", "Cy"]), "Ann, Bob and Cy");
});

test("updatedLabel says how long ago, with the exact time for a tooltip", () => {
  const label = updatedLabel(
    { id: "d", title: "", updated_at: "2024-06-15T11:55:00" },
    new Date("2024-06-15T12:00:00Z"),
  );
  assert.match(label.text, /^Edited 5 minutes ago$/);
  assert.match(label.exact, /2024/);
});

test("emptyText tells an empty search from an empty collection", () => {
  assert.equal(emptyText("plan"), "No document title matches “plan”.");
  assert.match(emptyText(""), /^No documents yet/);
});
