/**
 * The documents page (`/`): list, search and page through documents; create, import, rename
 * and delete them; see who is editing each one now (refreshed while the page is visible).
 * @module
 */

import {
  ApiError,
  createDocument,
  deleteDocument,
  editorUrl,
  historyUrl,
  importDocument,
  listDocuments,
  renameDocument,
} from "../lib/api.js";
import { Latest, debounce } from "../lib/debounce.js";
import {
  PAGE_SIZE,
  clampOffset,
  displayTitle,
  editingNow,
  emptyText,
  listQueryString,
  newTitle,
  pageInfo,
  readListQuery,
  updatedLabel,
} from "../lib/doclist.js";
import { byId, el, say } from "../lib/dom.js";
import { bindThemeSelect, followTheme } from "../lib/theme.js";

bindThemeSelect(/** @type {HTMLSelectElement} */ (byId("theme-select")), followTheme());

/** @typedef {import("../lib/doclist.js").DocumentSummary} DocumentSummary */

const REFRESH_MS = 5000;
const SEARCH_DELAY_MS = 250;

const list = byId("docs");
const message = byId("message");
const empty = byId("empty");
const pager = byId("pager");
const prev = /** @type {HTMLButtonElement} */ (byId("prev"));
const next = /** @type {HTMLButtonElement} */ (byId("next"));
const pageText = byId("page-info");
const search = /** @type {HTMLInputElement} */ (byId("search"));
const newForm = /** @type {HTMLFormElement} */ (byId("new-doc"));
const newTitleInput = /** @type {HTMLInputElement} */ (byId("new-title"));
const importInput = /** @type {HTMLInputElement} */ (byId("import-file"));
const deleteDialog = /** @type {HTMLDialogElement} */ (byId("confirm-delete"));
const deleteName = byId("confirm-delete-name");
const renameDialog = /** @type {HTMLDialogElement} */ (byId("rename-dialog"));
const renameInput = /** @type {HTMLInputElement} */ (byId("rename-input"));

const state = {
  ...readListQuery(location.search),
  total: 0,
  /** A refresh failed: its message goes away with the next good one. */
  refreshFailed: false,
  /** The document a dialog is about. @type {{id: string, title: string} | null} */
  target: null,
};
const latest = new Latest();

/** @param {unknown} error */
function describe(error) {
  return error instanceof ApiError ? error.message : `Something went wrong: ${String(error)}`;
}

// -- the list ---------------------------------------------------------------------------------

/**
 * Load the current page of the list.
 * @param {{quiet?: boolean}} [options]  quiet: a periodic refresh, which keeps any message
 */
async function load({ quiet = false } = {}) {
  const ticket = latest.take();
  try {
    const page = await listDocuments({ q: state.q, offset: state.offset, limit: PAGE_SIZE });
    if (!latest.isCurrent(ticket)) return;
    const lastFull = clampOffset(state.offset, page.total, PAGE_SIZE);
    if (page.items.length === 0 && lastFull < state.offset) {
      // The page emptied (deleted elsewhere, or a stale link): show the last one that has items.
      state.offset = lastFull;
      await load({ quiet });
      return;
    }
    render(page.items, page.total);
    if (state.refreshFailed) say(message, "");
    state.refreshFailed = false;
  } catch (error) {
    if (!latest.isCurrent(ticket)) return;
    say(message, quiet ? `Could not refresh the list: ${describe(error)}` : describe(error), "error");
    state.refreshFailed = quiet;
  }
}

/**
 * @param {DocumentSummary[]} items
 * @param {number} total
 */
function render(items, total) {
  state.total = total;
  const now = new Date();
  /** @type {Map<string, HTMLElement>} */
  const rows = new Map();
  for (const li of /** @type {HTMLElement[]} */ ([...list.children])) {
    rows.set(li.dataset.id ?? "", li);
  }
  // Reuse each document's row and move only rows out of place, so a focused button survives.
  let cursor = list.firstElementChild;
  for (const doc of items) {
    const row = rows.get(doc.id) ?? el("li", { class: "doc", dataset: { id: doc.id } });
    rows.delete(doc.id);
    fillRow(row, doc, now);
    if (row === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(row, cursor);
  }
  for (const gone of rows.values()) gone.remove();

  empty.hidden = items.length > 0;
  empty.textContent = emptyText(state.q);
  const info = pageInfo({ total, offset: state.offset, limit: PAGE_SIZE });
  pager.hidden = info.pages <= 1;
  prev.disabled = !info.hasPrev;
  next.disabled = !info.hasNext;
  pageText.textContent = info.label;
  const query = listQueryString(state);
  if (query !== location.search) history.replaceState(null, "", query || location.pathname);
}

/**
 * Build a row's parts once, then update them in place.
 * @param {HTMLElement} row
 * @param {DocumentSummary} doc
 * @param {Date} now
 */
function fillRow(row, doc, now) {
  if (!row.firstElementChild) {
    row.append(
      el(
        "div",
        { class: "doc-main" },
        el("a", { class: "doc-title", href: editorUrl(doc.id) }),
        el(
          "p",
          { class: "doc-meta" },
          el("span", { class: "doc-updated" }),
          el("span", { class: "doc-editors" }),
        ),
      ),
      el(
        "div",
        { class: "doc-actions" },
        el("a", { class: "doc-history button secondary", href: historyUrl(doc.id) }, "History"),
        el("button", { class: "rename secondary", type: "button", onclick: () => openRename(row) }, "Rename"),
        el("button", { class: "delete secondary", type: "button", onclick: () => openDelete(row) }, "Delete"),
      ),
    );
  }
  const title = displayTitle(doc.title);
  row.dataset.title = doc.title;
  const part = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (row.querySelector(selector));
  setText(part(".doc-title"), title);
  part(".doc-history").setAttribute("aria-label", `History of “${title}”`);
  part(".rename").setAttribute("aria-label", `Rename “${title}”`);
  part(".delete").setAttribute("aria-label", `Delete “${title}”`);

  const updated = updatedLabel(doc, now);
  const updatedEl = part(".doc-updated");
  setText(updatedEl, updated.text);
  updatedEl.title = updated.exact;

  const editing = editingNow(doc);
  const editors = part(".doc-editors");
  editors.replaceChildren(
    ...editing.people.map((p) =>
      el("span", { class: "person-dot", "aria-hidden": "true", title: p.name, style: { "--person-color": p.color } }),
    ),
    editing.text,
  );
  editors.hidden = !editing.text;
}

/** Set text only when it changed (screen readers and selections notice rewrites). */
function setText(/** @type {HTMLElement} */ element, /** @type {string} */ text) {
  if (element.textContent !== text) element.textContent = text;
}

// -- dialogs ----------------------------------------------------------------------------------

/** @param {HTMLElement} row */
function targetOf(row) {
  return { id: row.dataset.id ?? "", title: row.dataset.title ?? "" };
}

/** @param {HTMLElement} row */
function openRename(row) {
  state.target = targetOf(row);
  renameInput.value = state.target.title;
  renameDialog.returnValue = "";
  renameDialog.showModal();
  renameInput.select();
}

/** @param {HTMLElement} row */
function openDelete(row) {
  state.target = targetOf(row);
  deleteName.textContent = displayTitle(state.target.title);
  deleteDialog.returnValue = "";
  deleteDialog.showModal();
}

// Cancel is a plain button, so Enter in the title field submits with Rename, not Cancel.
for (const cancel of document.querySelectorAll("dialog .dialog-cancel")) {
  cancel.addEventListener("click", () => /** @type {HTMLDialogElement} */ (cancel.closest("dialog")).close("cancel"));
}

renameDialog.addEventListener("close", async () => {
  const target = state.target;
  const title = renameInput.value.trim();
  if (renameDialog.returnValue !== "rename" || !target) return;
  if (!title) {
    say(message, "A title cannot be empty; the document keeps its name.", "error");
    return;
  }
  if (title === target.title) return;
  try {
    await renameDocument(target.id, title);
    say(message, `Renamed to “${title}”.`);
  } catch (error) {
    say(message, describe(error), "error");
  }
  await load();
});

deleteDialog.addEventListener("close", async () => {
  const target = state.target;
  if (deleteDialog.returnValue !== "delete" || !target) return;
  try {
    await deleteDocument(target.id);
    list.querySelector(`li[data-id="${CSS.escape(target.id)}"]`)?.remove();
    say(message, `Deleted “${displayTitle(target.title)}”.`);
    search.focus();
  } catch (error) {
    say(message, describe(error), "error");
  }
  await load();
});

// -- create and import ------------------------------------------------------------------------

newForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = /** @type {HTMLButtonElement} */ (newForm.querySelector("button[type=submit]"));
  button.disabled = true;
  say(message, "Creating…");
  try {
    const title = newTitle(newTitleInput.value);
    const doc = await createDocument(title === undefined ? {} : { title });
    location.assign(editorUrl(doc.id));
  } catch (error) {
    say(message, describe(error), "error");
    button.disabled = false;
  }
});

importInput.addEventListener("change", async () => {
  const file = importInput.files?.[0];
  if (!file) return;
  say(message, `Importing “${file.name}”…`);
  try {
    const doc = await importDocument(file);
    location.assign(editorUrl(doc.id));
  } catch (error) {
    say(message, describe(error), "error");
  } finally {
    importInput.value = ""; // choosing the same file again fires change again
  }
});

// -- search, paging, refresh ------------------------------------------------------------------

const searchSoon = debounce(() => {
  const q = search.value.trim();
  if (q === state.q) return;
  state.q = q;
  state.offset = 0;
  void load();
}, SEARCH_DELAY_MS);

search.value = state.q;
search.addEventListener("input", searchSoon);
search.addEventListener("keydown", (event) => {
  if (event.key === "Enter") searchSoon.flush();
});

prev.addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  void load();
});
next.addEventListener("click", () => {
  state.offset += PAGE_SIZE;
  void load();
});

setInterval(() => {
  if (document.visibilityState === "visible") void load({ quiet: true });
}, REFRESH_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") void load({ quiet: true });
});

void load();
