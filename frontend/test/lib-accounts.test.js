import assert from "node:assert/strict";
import { test } from "node:test";

import { nextPath } from "../src/lib/accounts.js";
import { csrfToken, request } from "../src/lib/api.js";

test("after signing in, only a path on this site is followed", () => {
  assert.equal(nextPath("?next=%2Fd%2Fq3-plan"), "/d/q3-plan");
  assert.equal(nextPath(""), "/");
  for (const elsewhere of ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]) {
    assert.equal(nextPath(`?next=${encodeURIComponent(elsewhere)}`), "/", elsewhere);
  }
});

test("the CSRF token is read from its cookie, and only from its own", () => {
  assert.equal(csrfToken("a=1; collab_csrf=tok%3Den; b=2"), "tok=en");
  assert.equal(csrfToken("xcollab_csrf=no; other=1"), "");
  assert.equal(csrfToken(""), "");
});

test("a change sends the CSRF token; a read does not need it", async () => {
  /** @type {{path: string, init: RequestInit}[]} */
  const calls = [];
  /** @type {typeof fetch} */
  const fetcher = async (path, init = {}) => {
    calls.push({ path: String(path), init });
    return new Response(null, { status: 204 });
  };
  const saved = Object.getOwnPropertyDescriptor(globalThis, "document");
  Object.defineProperty(globalThis, "document", { value: { cookie: "collab_csrf=abc" }, configurable: true });
  try {
    await request("/api/x", { method: "POST" }, fetcher);
    await request("/api/x", {}, fetcher);
  } finally {
    if (saved) Object.defineProperty(globalThis, "document", saved);
    else delete (/** @type {any} */ (globalThis)).document;
  }
  const sent = calls.map((c) => /** @type {Record<string, string>} */ (c.init.headers)["X-CSRF-Token"]);
  assert.deepEqual(sent, ["abc", undefined]);
});
