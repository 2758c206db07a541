import assert from "node:assert/strict";
import { test } from "node:test";

import { statusText } from "../src/lib/status.js";

test("the indicator names the state and counts unsent edits", () => {
  assert.equal(statusText("connected", 0, true), "Connected · all changes saved");
  assert.equal(statusText("connected", 2, true), "Connected · saving…");
  assert.equal(statusText("connected", 0, false), "Connected · catching up…");
  assert.equal(statusText("offline", 1, true), "Offline · 1 unsent edit");
  assert.equal(statusText("offline", 3, true), "Offline · 3 unsent edits");
  assert.match(statusText("offline", 0, true), /^Offline · your edits will be sent/);
  assert.equal(statusText("reconnecting", 4, true), "Reconnecting… · 4 unsent edits");
  assert.equal(statusText("connecting", 0, false), "Connecting…");
  assert.equal(statusText("closed", 2, true), "Disconnected · 2 unsent edits");
});
