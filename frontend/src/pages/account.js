/**
 * Your account (`/account`): who you are, your password, your API tokens, signing out; for
 * administrators, invitation codes.
 * @module
 */

import { ApiError } from "../lib/api.js";
import {
  changePassword,
  createInvite,
  createToken,
  listTokens,
  me,
  revokeToken,
  signOut,
  signOutEverywhere,
} from "../lib/accounts.js";
import { byId, el, say } from "../lib/dom.js";
import { followTheme } from "../lib/theme.js";

followTheme();

const message = byId("message");
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id));

/** @param {unknown} error */
function fail(error) {
  say(message, error instanceof ApiError ? error.message : String(error), "error");
}

async function renderTokens() {
  const { items } = await listTokens();
  byId("tokens").replaceChildren(
    ...items.map((token) =>
      el(
        "li",
        { dataset: { id: token.id } },
        el("span", { class: "token-name" }, token.name),
        ` (made ${token.created_at.slice(0, 10)}${token.expires_at ? `, expires ${token.expires_at.slice(0, 10)}` : ""}) `,
        el(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () =>
              revokeToken(token.id)
                .then(() => say(message, `Revoked the token “${token.name}”.`))
                .then(renderTokens)
                .catch(fail),
          },
          "Revoke",
        ),
      ),
    ),
  );
}

async function main() {
  const who = await me();
  byId("who").textContent = who.account.display_name;
  byId("account-name").textContent = who.account.name;
  byId("admin").hidden = !who.account.admin;
  await renderTokens();

  byId("logout").addEventListener("click", () =>
    signOut().then(() => location.assign("/login"), fail),
  );
  byId("logout-everywhere").addEventListener("click", () =>
    signOutEverywhere().then(() => location.assign("/login"), fail),
  );
  byId("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    changePassword(input("old-password").value, input("new-password").value)
      .then(() => {
        input("old-password").value = input("new-password").value = "";
        say(message, "Password changed. Your other sessions have ended.");
      })
      .catch(fail);
  });
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createToken(input("token-name").value.trim())
      .then((token) => {
        byId("new-token-value").textContent = token.token ?? "";
        byId("new-token").hidden = false;
        input("token-name").value = "";
        return renderTokens();
      })
      .catch(fail);
  });
  byId("invite").addEventListener("click", () =>
    createInvite()
      .then((invite) => {
        byId("invite-value").textContent = invite.code;
        byId("invite-code").hidden = false;
      })
      .catch(fail),
  );
}

main().catch(fail);
