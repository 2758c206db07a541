import assert from "node:assert/strict";
import { test } from "node:test";

import { exactTime, parseServerTime, plural, relativeTime } from "../src/lib/format.js";

const NOW = new Date("2024-06-15T12:00:00Z");
const ago = (/** @type {number} */ seconds) => new Date(NOW.getTime() - seconds * 1000);

test("relativeTime: under 45 seconds either way is 'just now'", () => {
  assert.equal(relativeTime(NOW, NOW, "en"), "just now");
  assert.equal(relativeTime(ago(44), NOW, "en"), "just now");
  assert.equal(relativeTime(ago(-44), NOW, "en"), "just now");
});

test("relativeTime picks the largest whole unit", () => {
  assert.equal(relativeTime(ago(45), NOW, "en"), "1 minute ago");
  assert.equal(relativeTime(ago(5 * 60), NOW, "en"), "5 minutes ago");
  assert.equal(relativeTime(ago(3 * 3600), NOW, "en"), "3 hours ago");
  assert.equal(relativeTime(ago(24 * 3600), NOW, "en"), "yesterday");
  assert.equal(relativeTime(ago(3 * 24 * 3600), NOW, "en"), "3 days ago");
  assert.equal(relativeTime(ago(14 * 24 * 3600), NOW, "en"), "2 weeks ago");
  assert.equal(relativeTime(ago(400 * 24 * 3600), NOW, "en"), "last year");
  assert.equal(relativeTime(ago(-2 * 3600), NOW, "en"), "in 2 hours");
});

test("relativeTime reads server strings as UTC, zone suffix or not", () => {
  assert.equal(relativeTime("2024-06-15T11:00:00", NOW, "en"), "1 hour ago");
  assert.equal(relativeTime("2024-06-15T11:00:00Z", NOW, "en"), "1 hour ago");
  assert.equal(relativeTime("2024-06-15T13:00:00+02:00", NOW, "en"), "1 hour ago");
});

test("parseServerTime adds Z only when there is no zone", () => {
  assert.equal(parseServerTime("2024-01-02T03:04:05").toISOString(), "2024-01-02T03:04:05.000Z");
  assert.equal(parseServerTime("2024-01-02T03:04:05.250").toISOString(), "2024-01-02T03:04:05.250Z");
  assert.equal(parseServerTime("2024-01-02T03:04:05Z").toISOString(), "2024-01-02T03:04:05.000Z");
  assert.equal(parseServerTime("2024-01-02T03:04:05-0130").toISOString(), "2024-01-02T04:34:05.000Z");
  assert.equal(parseServerTime("2024-01-02T03:04:05+01:00").toISOString(), "2024-01-02T02:04:05.000Z");
});

test("exactTime gives the full date and time, from a string or a Date", () => {
  const text = exactTime("2024-06-15T12:00:00", "en-US");
  assert.match(text, /Jun 1[45], 2024/);
  assert.match(text, /\d{1,2}:\d\d:\d\d/);
  assert.equal(exactTime(new Date("2024-06-15T12:00:00Z"), "en-US"), text);
});

test("plural", () => {
  assert.equal(plural(0, "document"), "0 documents");
  assert.equal(plural(1, "document"), "1 document");
  assert.equal(plural(2, "document"), "2 documents");
  assert.equal(plural(1, "person", "people"), "1 person");
  assert.equal(plural(3, "person", "people"), "3 people");
});
