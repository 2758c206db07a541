import assert from "node:assert/strict";
import { test } from "node:test";

import { ProtocolViolation } from "../src/sync/errors.js";
import { edit, fromWire, resync, validateClientId } from "../src/sync/protocol.js";

test("messages are their wire form and survive JSON", () => {
  const message = edit(3, "ann", 4, "@@ -1 +1 @@\n-a\n+b\n");
  assert.deepEqual(message, { type: "edit", base: 3, client: "ann", seq: 4, patch: message.patch });
  assert.deepEqual(fromWire(JSON.parse(JSON.stringify(message))), message);
  assert.deepEqual(resync("ann", 2), { type: "resync", client: "ann", since: 2, full: false });
});

test("fromWire keeps only the known fields and fills in defaults", () => {
  const parsed = fromWire({ type: "resync", client: "c", since: 1, extra: [1, 2] });
  assert.deepEqual(parsed, { type: "resync", client: "c", since: 1, full: false });
});

test("fromWire names the field that is wrong", () => {
  assert.throws(() => fromWire({ type: "synced" }), {
    name: "ProtocolViolation",
    message: "'synced' message lacks 'rev'",
  });
  assert.throws(
    () => fromWire({ type: "synced", rev: -1 }),
    /'rev' must be a non-negative integer/,
  );
  assert.throws(() => fromWire({ type: "snapshot", rev: 1, text: 5 }), /'text' must be a string/);
  assert.throws(() => fromWire({ type: "nope" }), /unknown message type "nope"/);
  assert.throws(() => fromWire("edit"), /must be a JSON object/);
});

test("fromWire refuses integers JavaScript cannot hold exactly", () => {
  assert.throws(() => fromWire({ type: "synced", rev: 2 ** 53 }), ProtocolViolation);
});

test("fromWire does not mistake inherited properties for fields", () => {
  assert.throws(() => fromWire({ type: "synced", __proto__: { rev: 1 } }), /lacks 'rev'/);
});

test("client ids are 1 to 64 URL-safe characters", () => {
  assert.equal(validateClientId("a-Z_0.~"), "a-Z_0.~");
  for (const bad of ["", "x".repeat(65), "a b", "é", 7]) {
    assert.throws(() => validateClientId(bad), ProtocolViolation);
  }
});
