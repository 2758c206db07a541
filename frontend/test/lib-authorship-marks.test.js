import assert from "node:assert/strict";
import { test } from "node:test";

import { EditorState, Transaction } from "@codemirror/state";

import {
  ME,
  authorAnnotation,
  authorOf,
  authorshipField,
  renameAuthor,
  setAttribution,
  setPeople,
} from "../src/lib/authorship-marks.js";
import { Attribution } from "../src/sync/authorship.js";

function editor(doc = "") {
  const field = authorshipField("doc-1");
  return { field, state: EditorState.create({ doc, extensions: [field] }) };
}

/** @param {import("@codemirror/state").DecorationSet} set */
function marks(set, length = 1000) {
  /** @type {[number, number, string][]} */
  const found = [];
  set.between(0, length, (from, to, value) => {
    found.push([from, to, value.spec.attributes["data-author"]]);
  });
  return found;
}

test("typing is ours, a remote change is its author's, a merge nobody's", () => {
  let { field, state } = editor("Hello");
  state = state.update({ changes: { from: 5, insert: " world" } }).state;
  state = state.update({
    changes: { from: 0, to: 1, insert: "J" },
    annotations: [Transaction.remote.of(true), authorAnnotation.of("bob")],
  }).state;
  state = state.update({
    changes: { from: 11, insert: "!" },
    annotations: [Transaction.remote.of(true)],
  }).state;
  const value = state.field(field);
  assert.equal(state.doc.toString(), "Jello world!");
  assert.deepEqual(value.attribution.runs(), [[0, 1, "bob"], [1, 4, null], [5, 6, ME], [11, 1, null]]);
  assert.equal(value.known, false);
});

test("the server's name for our typing replaces the placeholder, then and after", () => {
  let { field, state } = editor("");
  state = state.update({ changes: { from: 0, insert: "ab" } }).state;
  state = state.update({ effects: renameAuthor.of({ from: ME, to: "ann" }) }).state;
  state = state.update({ changes: { from: 2, insert: "c" } }).state;
  assert.deepEqual(state.field(field).attribution.runs(), [[0, 3, "ann"]]);
  assert.equal(authorOf(state.update({ changes: { from: 0, insert: "x" } }), "ann"), "ann");
});

test("marks carry each author's name and color; people present get colors too", () => {
  let { field, state } = editor("abcdef");
  state = state.update({
    effects: [
      setAttribution.of(Attribution.fromRuns([[0, 2, "ann"], [2, 2, null], [4, 2, ME]])),
      setPeople.of({ people: ["bob"], me: "cy" }),
    ],
  }).state;
  const value = state.field(field);
  assert.equal(value.known, true);
  assert.deepEqual(marks(value.decorations), [[0, 2, "ann"], [4, 6, "cy"]]);
  assert.deepEqual([...value.colors.keys()].sort(), ["ann", "bob", "cy"]);
  assert.equal(new Set(value.colors.values()).size, 3);
});
