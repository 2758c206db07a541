import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ApiError,
  createDocument,
  deleteDocument,
  diffRevisions,
  docIdFromPath,
  editorUrl,
  exportUrl,
  historyUrl,
  importDocument,
  listDocuments,
  listRevisions,
  readDocument,
  readText,
  renameDocument,
  request,
  restoreRevision,
} from "../src/lib/api.js";

/**
 * A fetch that records its calls and answers with `status` and `body` (JSON unless a string).
 * @param {number} status
 * @param {unknown} [body]
 */
function fakeFetch(status, body = undefined) {
  /** @type {{url: string, init: RequestInit}[]} */
  const calls = [];
  /** @type {typeof fetch} */
  const fetcher = async (url, init = {}) => {
    calls.push({ url: String(url), init });
    const payload = body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body);
    return new Response(payload, { status });
  };
  return { fetcher, calls };
}

/** @param {{init: RequestInit}} call */
function headers(call) {
  return /** @type {Record<string, string>} */ (call.init.headers);
}

test("request asks for JSON and returns the parsed body", async () => {
  const { fetcher, calls } = fakeFetch(200, { ok: 1 });
  assert.deepEqual(await request("/api/x", {}, fetcher), { ok: 1 });
  assert.equal(calls[0].url, "/api/x");
  assert.equal(headers(calls[0]).Accept, "application/json");
  assert.equal(calls[0].init.body, undefined);
  assert.equal(headers(calls[0])["Content-Type"], undefined);
});

test("request sends json as a JSON body with its content type, keeping other headers", async () => {
  const { fetcher, calls } = fakeFetch(201, { id: "a" });
  await request("/api/x", { method: "POST", json: { t: "é" }, headers: { "X-Test": "1" } }, fetcher);
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.body, '{"t":"é"}');
  assert.equal(headers(calls[0])["Content-Type"], "application/json");
  assert.equal(headers(calls[0])["X-Test"], "1");
  assert.equal(headers(calls[0]).Accept, "application/json");
  assert.equal(/** @type {any} */ (calls[0].init).json, undefined, "json is not passed to fetch");
});

test("a 204 answer is null", async () => {
  const { fetcher } = fakeFetch(204);
  assert.equal(await request("/api/x", {}, fetcher), null);
});

test("an error answer becomes an ApiError with the server's code and message", async () => {
  const { fetcher } = fakeFetch(404, {
    error: { code: "document-not-found", message: "document 'nope' not found" },
  });
  await assert.rejects(request("/api/documents/nope", {}, fetcher), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.name, "ApiError");
    assert.equal(error.status, 404);
    assert.equal(error.code, "document-not-found");
    assert.equal(error.message, "document 'nope' not found");
    return true;
  });
});

test("an error answer without the error shape still says the status", async () => {
  const { fetcher } = fakeFetch(502, "<html>Bad gateway</html>");
  await assert.rejects(request("/api/x", {}, fetcher), {
    name: "ApiError",
    status: 502,
    code: "http-502",
    message: "The server answered 502.",
  });
  const odd = fakeFetch(500, { error: { code: 7, message: null } });
  await assert.rejects(request("/api/x", {}, odd.fetcher), { code: "http-500", message: "The server answered 500." });
});

test("a fetch that throws becomes an 'unreachable' ApiError with status 0", async () => {
  /** @type {typeof fetch} */
  const failing = async () => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(request("/api/x", {}, failing), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 0);
    assert.equal(error.code, "unreachable");
    assert.match(error.message, /cannot be reached.*Failed to fetch/);
    return true;
  });
});

test("listDocuments pages and searches only when asked", async () => {
  const { fetcher, calls } = fakeFetch(200, { items: [], total: 0 });
  await listDocuments({}, fetcher);
  await listDocuments({ q: "Q3 plan & co", offset: 40, limit: 20 }, fetcher);
  assert.equal(calls[0].url, "/api/documents?offset=0&limit=50");
  const url = new URL(calls[1].url, "http://x");
  assert.equal(url.pathname, "/api/documents");
  assert.equal(url.searchParams.get("q"), "Q3 plan & co");
  assert.equal(url.searchParams.get("offset"), "40");
  assert.equal(url.searchParams.get("limit"), "20");
});

test("document calls use the right method, path and body", async () => {
  const { fetcher, calls } = fakeFetch(200, {});
  await createDocument({ title: "T" }, fetcher);
  await readDocument("a b/c", fetcher);
  await renameDocument("q3", "New", fetcher);
  await deleteDocument("q3", fetcher);
  const seen = calls.map((c) => [c.init.method ?? "GET", c.url, c.init.body ?? null]);
  assert.deepEqual(seen, [
    ["POST", "/api/documents", '{"title":"T"}'],
    ["GET", "/api/documents/a%20b%2Fc", null],
    ["PATCH", "/api/documents/q3", '{"title":"New"}'],
    ["DELETE", "/api/documents/q3", null],
  ]);
});

test("importDocument posts the file as multipart form data without a JSON type", async () => {
  const { fetcher, calls } = fakeFetch(201, { id: "new" });
  const file = new File(["hello"], "notes.md", { type: "text/markdown" });
  assert.deepEqual(await importDocument(file, fetcher), { id: "new" });
  assert.equal(calls[0].url, "/api/imports");
  assert.equal(calls[0].init.method, "POST");
  const form = calls[0].init.body;
  assert.ok(form instanceof FormData);
  const sent = /** @type {File} */ (form.get("file"));
  assert.equal(sent.name, "notes.md");
  assert.equal(await sent.text(), "hello");
  assert.equal(headers(calls[0])["Content-Type"], undefined, "the browser sets the boundary");
});

test("history calls: text at a revision (including 0), revisions, diff, restore", async () => {
  const { fetcher, calls } = fakeFetch(200, {});
  await readText("d", undefined, fetcher);
  await readText("d", 0, fetcher);
  await listRevisions("d", { offset: 50, limit: 25 }, fetcher);
  await diffRevisions("d", 2, 3, fetcher);
  await restoreRevision("d", 1, "Ann", fetcher);
  assert.deepEqual(
    calls.map((c) => c.url),
    [
      "/api/documents/d/text",
      "/api/documents/d/text?rev=0",
      "/api/documents/d/revisions?offset=50&limit=25&order=newest",
      "/api/documents/d/diff?from=2&to=3",
      "/api/documents/d/restore",
    ],
  );
  assert.equal(calls[4].init.method, "POST");
  assert.deepEqual(JSON.parse(String(calls[4].init.body)), { rev: 1, author: "Ann" });
});

test("page URLs encode the id", () => {
  assert.equal(editorUrl("q3-plan"), "/d/q3-plan");
  assert.equal(historyUrl("a/b"), "/d/a%2Fb/history");
  assert.equal(exportUrl("x y"), "/api/documents/x%20y/export");
});

test("docIdFromPath reads editor and history paths and nothing else", () => {
  assert.equal(docIdFromPath("/d/q3-plan"), "q3-plan");
  assert.equal(docIdFromPath("/d/q3-plan/"), "q3-plan");
  assert.equal(docIdFromPath("/d/q3-plan/history"), "q3-plan");
  assert.equal(docIdFromPath("/d/a%20b/history"), "a b");
  assert.equal(docIdFromPath("/d/%E0%A4%A"), null, "bad percent-encoding");
  assert.equal(docIdFromPath("/"), null);
  assert.equal(docIdFromPath("/d/"), null);
  assert.equal(docIdFromPath("/d/a/b"), null);
  assert.equal(docIdFromPath("/x/d/a"), null);
  assert.equal(docIdFromPath(editorUrl("round-trip_1")), "round-trip_1");
});
