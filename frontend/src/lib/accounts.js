/**
 * Accounts and sharing over the REST API (app/http/api/routes/auth.py, users.py, sharing.py).
 * @module
 */

import { request } from "./api.js";

const enc = encodeURIComponent;

/**
 * @typedef {object} AccountPublic
 * @property {string} name
 * @property {string} display_name
 * @property {boolean} admin
 * @property {boolean} disabled
 * @property {string} created_at  ISO 8601
 * @property {string} xmpp_jid  the linked XMPP address, "" for none
 * @property {string} bot_owner  for a bot: the person who owns it, else ""
 *
 * @typedef {object} AuthState
 * @property {boolean} auth
 * @property {boolean} setup_needed
 * @property {"open" | "invite" | "closed"} registration
 * @property {AccountPublic | null} signed_in
 *
 * @typedef {object} Me
 * @property {AccountPublic} account
 * @property {string} via
 * @property {string | null} csrf_token
 *
 * @typedef {object} TokenPublic
 * @property {string} id
 * @property {string} name
 * @property {string} created_at
 * @property {string | null} expires_at
 * @property {string} [token]  only in the answer that made it
 *
 * @typedef {object} GrantPublic
 * @property {string} name
 * @property {string} display_name
 * @property {"owner" | "editor" | "viewer"} role
 *
 * @typedef {object} SharingPublic
 * @property {string} doc_id
 * @property {string | null} owner
 * @property {"owner" | "editor" | "viewer" | null} your_role
 * @property {GrantPublic[]} people
 * @property {{role: "editor" | "viewer", created_at: string}[]} links
 *
 * @typedef {object} LinkCreated
 * @property {"editor" | "viewer"} role
 * @property {string} token
 * @property {string} url
 */

/** @returns {Promise<AuthState>} */
export const authState = () => request("/api/auth/state");

/**
 * @param {"login" | "setup" | "register"} action
 * @param {Record<string, string>} body
 * @returns {Promise<Me>}
 */
export const signIn = (action, body) => request(`/api/auth/${action}`, { method: "POST", json: body });

/** @returns {Promise<null>} */
export const signOut = () => request("/api/auth/logout", { method: "POST" });

/** Ends every session of this account, this one too. @returns {Promise<null>} */
export const signOutEverywhere = () => request("/api/auth/sessions", { method: "DELETE" });

/** @returns {Promise<Me>} */
export const me = () => request("/api/auth/me");

/**
 * @param {string} oldPassword
 * @param {string} newPassword
 * @returns {Promise<Me>}
 */
export const changePassword = (oldPassword, newPassword) =>
  request("/api/auth/password", {
    method: "POST",
    json: { old_password: oldPassword, new_password: newPassword },
  });

/** @returns {Promise<{items: TokenPublic[]}>} */
export const listTokens = () => request("/api/auth/tokens");

/**
 * @param {string} name
 * @returns {Promise<TokenPublic>}
 */
export const createToken = (name) => request("/api/auth/tokens", { method: "POST", json: { name } });

/** @param {string} id */
export const revokeToken = (id) => request(`/api/auth/tokens/${enc(id)}`, { method: "DELETE" });

/** @returns {Promise<{code: string, expires_days: number}>} */
export const createInvite = () => request("/api/invites", { method: "POST" });

/**
 * @param {string} docId
 * @returns {Promise<SharingPublic>}
 */
export const readSharing = (docId) => request(`/api/documents/${enc(docId)}/sharing`);

/**
 * @param {string} docId
 * @param {string} name
 * @param {"editor" | "viewer" | null} role  null takes the role away
 */
export const share = (docId, name, role) =>
  role === null
    ? request(`/api/documents/${enc(docId)}/sharing/${enc(name)}`, { method: "DELETE" })
    : request(`/api/documents/${enc(docId)}/sharing/${enc(name)}`, { method: "PUT", json: { role } });

/**
 * @param {string} docId
 * @param {"editor" | "viewer"} role
 * @returns {Promise<LinkCreated>}
 */
export const createLink = (docId, role) =>
  request(`/api/documents/${enc(docId)}/links`, { method: "POST", json: { role } });

/**
 * @param {string} docId
 * @param {"editor" | "viewer"} role
 */
export const revokeLink = (docId, role) =>
  request(`/api/documents/${enc(docId)}/links/${enc(role)}`, { method: "DELETE" });

/**
 * Where to go after signing in: `next` if it is a path on this site, else the documents.
 * @param {string} search  location.search
 */
export function nextPath(search) {
  const next = new URLSearchParams(search).get("next") ?? "/";
  // Only a local path: "//evil.example" or "https://..." would make this an open redirect.
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
