/**
 * The REST API, as small async functions. Every failure becomes an {@link ApiError} carrying
 * the server's error code and message (docs/protocol.md), so pages can show them as they are.
 * @module
 */

export class ApiError extends Error {
  /**
   * @param {number} status  HTTP status (0 when the server could not be reached)
   * @param {string} code  the server's error code, e.g. "document-not-found"
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} path
 * @param {RequestInit & {json?: unknown}} [init]
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<any>}  the parsed JSON body, or null for 204
 */
export async function request(path, init = {}, fetcher = globalThis.fetch) {
  const { json, ...rest } = init;
  /** @type {RequestInit} */
  const options = { ...rest, headers: { Accept: "application/json", ...(rest.headers ?? {}) } };
  if (json !== undefined) {
    options.body = JSON.stringify(json);
    options.headers = { ...options.headers, "Content-Type": "application/json" };
  }
  let response;
  try {
    response = await fetcher(path, options);
  } catch (error) {
    throw new ApiError(0, "unreachable", `The server cannot be reached (${String(error)}).`);
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body?.error;
    throw new ApiError(
      response.status,
      typeof detail?.code === "string" ? detail.code : `http-${response.status}`,
      typeof detail?.message === "string" ? detail.message : `The server answered ${response.status}.`,
    );
  }
  return body;
}

const enc = encodeURIComponent;

/** @param {{q?: string, offset?: number, limit?: number}} [query] */
export function listDocuments({ q = "", offset = 0, limit = 50 } = {}, fetcher = undefined) {
  const params = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  if (q) params.set("q", q);
  return request(`/api/documents?${params}`, {}, fetcher);
}

/** @param {{title?: string, text?: string}} body */
export function createDocument(body, fetcher = undefined) {
  return request("/api/documents", { method: "POST", json: body }, fetcher);
}

/** @param {string} id */
export function readDocument(id, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, {}, fetcher);
}

/** @param {string} id @param {string} title */
export function renameDocument(id, title, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, { method: "PATCH", json: { title } }, fetcher);
}

/** @param {string} id */
export function deleteDocument(id, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, { method: "DELETE" }, fetcher);
}

/** @param {File} file */
export function importDocument(file, fetcher = undefined) {
  const form = new FormData();
  form.append("file", file, file.name);
  return request("/api/imports", { method: "POST", body: form }, fetcher);
}

/** @param {string} id @param {number} [rev] */
export function readText(id, rev = undefined, fetcher = undefined) {
  const query = rev === undefined ? "" : `?rev=${rev}`;
  return request(`/api/documents/${enc(id)}/text${query}`, {}, fetcher);
}

/** @param {string} id @param {{offset?: number, limit?: number}} [page] */
export function listRevisions(id, { offset = 0, limit = 50 } = {}, fetcher = undefined) {
  return request(
    `/api/documents/${enc(id)}/revisions?offset=${offset}&limit=${limit}&order=newest`,
    {},
    fetcher,
  );
}

/** @param {string} id @param {number} from @param {number} to */
export function diffRevisions(id, from, to, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/diff?from=${from}&to=${to}`, {}, fetcher);
}

/** @param {string} id @param {number} rev @param {string} author */
export function restoreRevision(id, rev, author, fetcher = undefined) {
  return request(
    `/api/documents/${enc(id)}/restore`,
    { method: "POST", json: { rev, author } },
    fetcher,
  );
}

/** @param {string} id */
export function exportUrl(id) {
  return `/api/documents/${enc(id)}/export`;
}

/** @param {string} id */
export function editorUrl(id) {
  return `/d/${enc(id)}`;
}

/** @param {string} id */
export function historyUrl(id) {
  return `/d/${enc(id)}/history`;
}

/**
 * The document id in a page's path: `/d/{id}` or `/d/{id}/history`.
 * @param {string} pathname
 * @returns {string | null}
 */
export function docIdFromPath(pathname) {
  const match = /^\/d\/([^/]+)(?:\/history)?\/?$/.exec(pathname);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}
