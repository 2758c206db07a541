/**
 * Sharing a document (`/d/{id}/share`): people and their roles, and the view and edit links.
 * Only the owner (or an administrator) may change anything; others see who has access.
 * @module
 */

import { ApiError, docIdFromPath, editorUrl, readDocument } from "../lib/api.js";
import { createLink, readSharing, revokeLink, share } from "../lib/accounts.js";
import { byId, el, say } from "../lib/dom.js";
import { followTheme } from "../lib/theme.js";

followTheme();

const message = byId("message");
const id = docIdFromPath(location.pathname.replace(/\/share$/, "")) ?? "";
const ROLES = /** @type {const} */ (["editor", "viewer"]);

/** @param {unknown} error */
function fail(error) {
  say(message, error instanceof ApiError ? error.message : String(error), "error");
}

/** @param {() => Promise<unknown>} change @param {string} done */
function then(change, done) {
  change()
    .then(() => say(message, done))
    .then(render)
    .catch(fail);
}

async function render() {
  const sharing = await readSharing(id);
  const owner = sharing.your_role === "owner";
  byId("share-form").hidden = !owner;
  byId("people").replaceChildren(
    ...sharing.people.map((person) => {
      const row = el("li", { dataset: { name: person.name, role: person.role } });
      row.append(el("span", { class: "person-name" }, person.display_name), ` (${person.name}) `);
      if (person.role === "owner" || !owner) {
        row.append(el("span", { class: "role" }, person.role));
        return row;
      }
      const select = /** @type {HTMLSelectElement} */ (
        el("select", { "aria-label": `Role of ${person.name}` }, ...ROLES.map((r) => el("option", { value: r }, r)))
      );
      select.value = person.role;
      select.addEventListener("change", () =>
        then(() => share(id, person.name, /** @type {"editor" | "viewer"} */ (select.value)), `${person.name} is now ${select.value}.`),
      );
      const remove = el(
        "button",
        { type: "button", class: "secondary", onclick: () => then(() => share(id, person.name, null), `${person.name} no longer has access.`) },
        "Remove",
      );
      row.append(select, " ", remove);
      return row;
    }),
  );
  if (sharing.owner === null) {
    byId("people").prepend(el("li", null, "From before accounts: it belongs to the first administrator."));
  }
  const existing = new Set(sharing.links.map((l) => l.role));
  byId("links").replaceChildren(
    ...ROLES.map((role) => {
      const row = el("li", { dataset: { role } }, `${role === "editor" ? "Edit" : "View"} link: ${existing.has(role) ? "on" : "off"} `);
      if (!owner) return row;
      row.append(
        el(
          "button",
          {
            type: "button",
            class: "make-link",
            onclick: () =>
              createLink(id, role)
                .then((made) => {
                  byId("new-link-value").textContent = made.url;
                  byId("new-link").hidden = false;
                  return render();
                })
                .catch(fail),
          },
          existing.has(role) ? "New link" : "Make a link",
        ),
      );
      if (existing.has(role)) {
        row.append(
          " ",
          el(
            "button",
            { type: "button", class: "secondary revoke-link", onclick: () => then(() => revokeLink(id, role), `The ${role} link no longer works.`) },
            "Revoke",
          ),
        );
      }
      return row;
    }),
  );
}

async function main() {
  // Before anything is awaited: from here on, submitting cannot reload the page.
  byId("share-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = /** @type {HTMLInputElement} */ (byId("share-name")).value.trim().toLowerCase();
    const role = /** @type {"editor" | "viewer"} */ (/** @type {HTMLSelectElement} */ (byId("share-role")).value);
    then(() => share(id, name, role), `Shared with ${name} as ${role}.`);
  });
  const doc = await readDocument(id);
  byId("doc-title").textContent = doc.title;
  byId("back").setAttribute("href", editorUrl(id));
  await render();
}

main().catch(fail);
