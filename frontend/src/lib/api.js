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
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  // A change made with the session cookie must carry its CSRF token (docs/security.md): the
  // server set it in a cookie that only pages of this origin can read.
  const csrf = unsafeMethod(rest.method) ? csrfToken() : "";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  /** @type {RequestInit} */
  const options = { ...rest, headers: { ...headers, ...(rest.headers ?? {}) } };
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

/** @param {string | undefined} method */
function unsafeMethod(method) {
  return !["GET", "HEAD", "OPTIONS"].includes((method ?? "GET").toUpperCase());
}

/** The session's CSRF token from its cookie ("" when there is none, or no document). */
export function csrfToken(cookie = globalThis.document?.cookie ?? "") {
  for (const part of cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === "collab_csrf") return decodeURIComponent(value.join("="));
  }
  return "";
}

const enc = encodeURIComponent;

// The response bodies, as app/schemas.py declares them (dates are ISO 8601 strings).
/**
 * @typedef {object} EditorPublic
 * @property {string} name
 * @property {string} color  theirs on this document: nobody else present has it
 * @property {string} author  the name their revisions carry
 *
 * @typedef {object} DocumentPublic
 * @property {string} id
 * @property {string} title
 * @property {string} created_at
 * @property {string} updated_at
 * @property {number} rev
 * @property {number} length  of the current text, in code points
 * @property {string} checksum
 * @property {number} editors  people connected to this server instance
 * @property {EditorPublic[]} people
 *
 * @typedef {object} DocumentsPublic
 * @property {DocumentPublic[]} items
 * @property {number} total
 * @property {number} offset
 * @property {number} limit
 *
 * @typedef {object} DocumentText
 * @property {string} id
 * @property {number} rev
 * @property {string} text
 * @property {string} checksum
 *
 * @typedef {object} RevisionSummary
 * @property {number} rev
 * @property {number} base
 * @property {string} author
 * @property {string} client
 * @property {number} seq
 * @property {string} created_at
 * @property {number} inserted
 * @property {number} deleted
 *
 * @typedef {RevisionSummary & {patch: string, checksum: string}} RevisionPublic
 *
 * @typedef {object} RevisionsPublic
 * @property {RevisionSummary[]} items
 * @property {number} total
 * @property {number} offset
 * @property {number} limit
 *
 * @typedef {{op: "equal" | "insert" | "delete", text: string}} DiffChunk
 *
 * @typedef {object} DiffPublic
 * @property {number} from_rev
 * @property {number} to_rev
 * @property {string} patch
 * @property {DiffChunk[]} diffs
 */

/**
 * @param {{q?: string, offset?: number, limit?: number}} [query]
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentsPublic>}
 */
export function listDocuments({ q = "", offset = 0, limit = 50 } = {}, fetcher = undefined) {
  const params = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  if (q) params.set("q", q);
  return request(`/api/documents?${params}`, {}, fetcher);
}

/**
 * @param {{title?: string, text?: string}} body
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentPublic>}
 */
export function createDocument(body, fetcher = undefined) {
  return request("/api/documents", { method: "POST", json: body }, fetcher);
}

/**
 * @param {string} id
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentPublic>}
 */
export function readDocument(id, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, {}, fetcher);
}

/**
 * @param {string} id
 * @param {string} title
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentPublic>}
 */
export function renameDocument(id, title, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, { method: "PATCH", json: { title } }, fetcher);
}

/**
 * @param {string} id
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<null>}
 */
export function deleteDocument(id, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}`, { method: "DELETE" }, fetcher);
}

/**
 * @param {File} file
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentPublic>}
 */
export function importDocument(file, fetcher = undefined) {
  const form = new FormData();
  form.append("file", file, file.name);
  return request("/api/imports", { method: "POST", body: form }, fetcher);
}

/**
 * @param {string} id
 * @param {number} [rev]
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DocumentText>}
 */
export function readText(id, rev = undefined, fetcher = undefined) {
  const query = rev === undefined ? "" : `?rev=${rev}`;
  return request(`/api/documents/${enc(id)}/text${query}`, {}, fetcher);
}

/**
 * @param {string} id
 * @param {{offset?: number, limit?: number}} [page]
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<RevisionsPublic>}
 */
export function listRevisions(id, { offset = 0, limit = 50 } = {}, fetcher = undefined) {
  return request(
    `/api/documents/${enc(id)}/revisions?offset=${offset}&limit=${limit}&order=newest`,
    {},
    fetcher,
  );
}

/**
 * @param {string} id
 * @param {number} from
 * @param {number} to
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<DiffPublic>}
 */
export function diffRevisions(id, from, to, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/diff?from=${from}&to=${to}`, {}, fetcher);
}

/**
 * @param {string} id
 * @param {number} rev
 * @param {string} author
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<RevisionPublic>}
 */
export function restoreRevision(id, rev, author, fetcher = undefined) {
  return request(
    `/api/documents/${enc(id)}/restore`,
    { method: "POST", json: { rev, author } },
    fetcher,
  );
}

/**
 * @typedef {object} VersionPublic
 * @property {string} name
 * @property {number} rev
 * @property {string} created_by
 * @property {string} created_at
 */

/**
 * The document's named versions, newest revision first.
 * @param {string} id
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<{items: VersionPublic[]}>}
 */
export function listVersions(id, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/versions`, {}, fetcher);
}

/**
 * Name revision `rev` (a label used before moves to it).
 * @param {string} id
 * @param {string} name
 * @param {number} rev
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<VersionPublic>}
 */
export function nameVersion(id, name, rev, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/versions`, { method: "POST", json: { name, rev } }, fetcher);
}

/**
 * @param {string} id
 * @param {string} name
 * @param {typeof fetch} [fetcher]  for tests
 */
export function deleteVersion(id, name, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/versions/${enc(name)}`, { method: "DELETE" }, fetcher);
}

/**
 * @param {string} id
 * @param {"" | "txt" | "md" | "html"} [format]  by default the server picks .md or .txt
 */
export function exportUrl(id, format = "") {
  const query = format ? `?format=${enc(format)}` : "";
  return `/api/documents/${enc(id)}/export${query}`;
}

/**
 * Who wrote the text at `rev`: runs of `[start, length, author]` in code points.
 * @param {string} id
 * @param {number} rev
 * @param {typeof fetch} [fetcher]  for tests
 * @returns {Promise<{rev: number, length: number, runs: [number, number, string | null][], authors: string[]}>}
 */
export function getBlame(id, rev, fetcher = undefined) {
  return request(`/api/documents/${enc(id)}/blame?rev=${rev}`, {}, fetcher);
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
