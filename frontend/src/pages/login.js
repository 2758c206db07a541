/**
 * The sign-in page (`/login`), which is also the first administrator's page on a fresh
 * installation (`/setup`) and the registration form (`/login#register`).
 * @module
 */

import { ApiError } from "../lib/api.js";
import { authState, nextPath, signIn } from "../lib/accounts.js";
import { byId, say } from "../lib/dom.js";
import { followTheme } from "../lib/theme.js";

followTheme();

const form = /** @type {HTMLFormElement} */ (byId("auth-form"));
const message = byId("message");
const field = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id));

/** @type {"login" | "setup" | "register"} */
let action = "login";

/** @param {"login" | "setup" | "register"} chosen */
function show(chosen, /** @type {import("../lib/accounts.js").AuthState} */ state) {
  action = chosen;
  const making = chosen !== "login";
  byId("heading").textContent =
    chosen === "setup" ? "Welcome: make the administrator" : chosen === "register" ? "Make an account" : "Sign in";
  byId("intro").textContent =
    chosen === "setup"
      ? "This installation has no accounts yet. The first one administers it: it owns the documents made before accounts, and makes or invites everyone else."
      : "";
  byId("display-row").hidden = !making;
  byId("invite-row").hidden = chosen !== "register" || state.registration !== "invite";
  field("password").autocomplete = making ? "new-password" : "current-password";
  field("password").minLength = making ? 8 : 0;
  byId("submit").textContent = chosen === "login" ? "Sign in" : "Make the account";
  const switcher = byId("switch");
  switcher.hidden = chosen === "setup" || state.registration === "closed";
  byId("switch-link").textContent = chosen === "login" ? "Make an account" : "I have an account: sign in";
}

async function main() {
  const state = await authState();
  if (!state.auth || state.signed_in) {
    location.replace(nextPath(location.search));
    return;
  }
  if (state.setup_needed) show("setup", state);
  else show(location.hash === "#register" ? "register" : "login", state);
  byId("switch-link").addEventListener("click", (event) => {
    event.preventDefault();
    show(action === "login" ? "register" : "login", state);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    /** @type {Record<string, string>} */
    const body = { name: field("name").value.trim().toLowerCase(), password: field("password").value };
    if (action !== "login") body.display_name = field("display-name").value.trim();
    if (action === "register" && field("invite").value.trim()) body.invite = field("invite").value.trim();
    try {
      await signIn(action, body);
      location.assign(nextPath(location.search));
    } catch (error) {
      say(message, error instanceof ApiError ? error.message : String(error), "error");
    }
  });
  // Only now may the form be sent: before this handler was there, a press of Enter would
  // have sent it the browser's way, the password in a request to the server (the form says
  // POST, so at least not in a URL that logs and history keep).
  /** @type {HTMLButtonElement} */ (byId("submit")).disabled = false;
  field("name").focus();
}

main().catch((error) => say(message, String(error), "error"));
