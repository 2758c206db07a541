import assert from "node:assert/strict";
import { test } from "node:test";

import {
  canRestore,
  diffRange,
  moveIndex,
  revFromQuery,
  revisionEntry,
  revisionLabel,
  revisionPage,
} from "../src/lib/revisions.js";

const CREATED = "2024-06-15T10:00:00";

/** @param {number} rev */
function summary(rev) {
  return { rev, author: `A${rev}`, created_at: "2024-06-15T11:00:00", inserted: rev, deleted: 0 };
}

test("a page short of the end does not get revision 0", () => {
  const { entries, nextOffset, done } = revisionPage(
    { items: [summary(5), summary(4)], total: 5, offset: 0 },
    CREATED,
  );
  assert.deepEqual(
    entries.map((e) => e.rev),
    [5, 4],
  );
  assert.equal(nextOffset, 2);
  assert.equal(done, false);
  assert.deepEqual(entries[0], { rev: 5, author: "A5", created_at: "2024-06-15T11:00:00", inserted: 5, deleted: 0 });
});

test("the page that reaches revision 1 ends with revision 0, the creation", () => {
  const { entries, nextOffset, done } = revisionPage(
    { items: [summary(3), summary(2), summary(1)], total: 5, offset: 2 },
    CREATED,
  );
  assert.deepEqual(
    entries.map((e) => e.rev),
    [3, 2, 1, 0],
  );
  assert.deepEqual(entries[3], { rev: 0, author: "", created_at: CREATED, inserted: null, deleted: null });
  assert.equal(nextOffset, 5);
  assert.equal(done, true);
});

test("a document never edited has only revision 0", () => {
  const { entries, done } = revisionPage({ items: [], total: 0, offset: 0 }, CREATED);
  assert.deepEqual(
    entries.map((e) => e.rev),
    [0],
  );
  assert.equal(done, true);
});

test("an empty page past a shrunk total ends the list instead of asking forever", () => {
  const { entries, done } = revisionPage({ items: [], total: 80, offset: 50 }, CREATED);
  assert.equal(done, true);
  assert.deepEqual(
    entries.map((e) => e.rev),
    [0],
  );
});

test("revisionLabel: number, author (or 'Created'), relative and exact time", () => {
  const now = new Date("2024-06-15T12:00:00Z");
  const label = revisionLabel({ rev: 7, author: "Zoë <b>", created_at: "2024-06-15T11:00:00", inserted: 1, deleted: 0 }, now);
  assert.equal(label.number, "Revision 7");
  assert.equal(label.who, "Zoë <b>");
  assert.equal(label.when, "1 hour ago");
  assert.match(label.exact, /2024/);
  const created = revisionLabel({ rev: 0, author: "", created_at: CREATED, inserted: null, deleted: null }, now);
  assert.deepEqual([created.number, created.who, created.when], ["Revision 0", "Created", "2 hours ago"]);
  assert.equal(revisionLabel({ rev: 2, author: "", created_at: CREATED, inserted: 0, deleted: 0 }, now).who, "Unknown");
});

test("diffRange compares a revision with the one before; revision 0 has none", () => {
  assert.deepEqual(diffRange(1), { from: 0, to: 1 });
  assert.deepEqual(diffRange(42), { from: 41, to: 42 });
  assert.equal(diffRange(0), null);
});

test("canRestore: any revision but the head", () => {
  assert.equal(canRestore(4, 5), true);
  assert.equal(canRestore(0, 5), true);
  assert.equal(canRestore(5, 5), false);
  assert.equal(canRestore(6, 5), false);
  assert.equal(canRestore(0, 0), false, "a new document has nothing to restore");
  assert.equal(canRestore(null, 5), false);
  assert.equal(canRestore(1.5, 5), false);
});

test("moveIndex: arrows stop at the ends, Home and End jump, other keys do not move", () => {
  assert.equal(moveIndex("ArrowDown", 0, 3), 1);
  assert.equal(moveIndex("ArrowDown", 2, 3), 2);
  assert.equal(moveIndex("ArrowUp", 1, 3), 0);
  assert.equal(moveIndex("ArrowUp", 0, 3), 0);
  assert.equal(moveIndex("Home", 2, 3), 0);
  assert.equal(moveIndex("End", 0, 3), 2);
  assert.equal(moveIndex("Enter", 1, 3), null);
  assert.equal(moveIndex("ArrowLeft", 1, 3), null);
  assert.equal(moveIndex("ArrowDown", 0, 0), null);
});

test("revFromQuery accepts whole revisions in range only", () => {
  assert.equal(revFromQuery("?rev=12"), 12);
  assert.equal(revFromQuery("?rev=0"), 0);
  assert.equal(revFromQuery(""), null);
  assert.equal(revFromQuery("?rev="), null);
  assert.equal(revFromQuery("?rev=-1"), null);
  assert.equal(revFromQuery("?rev=1.5"), null);
  assert.equal(revFromQuery("?rev=1e3"), null);
  assert.equal(revFromQuery("?rev=2147483647"), 2147483647);
  assert.equal(revFromQuery("?rev=2147483648"), null);
});

test("revisionEntry keeps what a row needs; unknown sizes are null, not 0", () => {
  assert.deepEqual(revisionEntry({ rev: 3, author: "Ann", created_at: CREATED }), {
    rev: 3,
    author: "Ann",
    created_at: CREATED,
    inserted: null,
    deleted: null,
  });
  assert.deepEqual(revisionEntry({ ...summary(2), deleted: 0 }).deleted, 0);
});
