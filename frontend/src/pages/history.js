/**
 * The history page (`/d/{id}/history`): a document's revisions, newest first, each showing
 * its text with that revision's changes marked; any older one can be restored. A slider moves
 * through the revisions, and Play steps through them at a chosen speed (with the authors'
 * colors when "Color by author" is on).
 * @module
 */

import {
  ApiError,
  deleteVersion,
  diffRevisions,
  docIdFromPath,
  editorUrl,
  getBlame,
  listRevisions,
  listVersions,
  nameVersion,
  readDocument,
  readText,
  restoreRevision,
} from "../lib/api.js";
import { runsToUtf16 } from "../sync/authorship.js";
import { assignColors, presentColors, tintClass } from "../lib/colors.js";
import { Latest } from "../lib/debounce.js";
import { changeLabel, diffSegments } from "../lib/diffview.js";
import { byId, el, say } from "../lib/dom.js";
import { loadIdentity } from "../lib/identity.js";
import {
  REVISIONS_PAGE,
  canRestore,
  diffRange,
  moveIndex,
  revFromQuery,
  revisionEntry,
  revisionLabel,
  revisionPage,
} from "../lib/revisions.js";
import { followTheme } from "../lib/theme.js";

followTheme();

/** @typedef {import("../lib/revisions.js").RevisionEntry} RevisionEntry */

const FOLLOW_MS = 5000;
const BY_AUTHOR_KEY = "collab.historyAuthors";

const titleEl = byId("title");
const back = /** @type {HTMLAnchorElement} */ (byId("back"));
const list = byId("revisions");
const more = /** @type {HTMLButtonElement} */ (byId("more"));
const heading = byId("rev-heading");
const meta = byId("rev-meta");
const restore = /** @type {HTMLButtonElement} */ (byId("restore"));
const message = byId("message");
const textView = byId("rev-text");
const confirmDialog = /** @type {HTMLDialogElement} */ (byId("confirm-restore"));
const confirmRev = byId("confirm-restore-rev");
const byAuthor = /** @type {HTMLInputElement} */ (byId("by-author"));
const authorsList = byId("rev-authors");
const playButton = /** @type {HTMLButtonElement} */ (byId("play"));
const timeline = /** @type {HTMLInputElement} */ (byId("timeline"));
const timelineRev = byId("timeline-rev");
const speed = /** @type {HTMLSelectElement} */ (byId("speed"));
const versionsList = byId("versions");
const nameForm = /** @type {HTMLFormElement} */ (byId("name-version"));
const versionName = /** @type {HTMLInputElement} */ (byId("version-name"));
const compare = /** @type {HTMLSelectElement} */ (byId("compare"));

const docId = docIdFromPath(location.pathname);
const state = {
  head: 0,
  createdAt: "",
  following: false,
  nextOffset: 0,
  /** @type {number | null} */
  selected: null,
  /** @type {Map<number, RevisionEntry>} */
  entries: new Map(),
  /** The colors of the people editing now (author → color), which the editor shows too. */
  present: /** @type {Map<string, string>} */ (new Map()),
};
const latest = new Latest();
const player = { playing: false, run: 0 };

/** @param {unknown} error */
function describe(error) {
  return error instanceof ApiError ? error.message : `Something went wrong: ${String(error)}`;
}

/** The name restores are made under; storage may be unavailable (private modes, policies). */
function displayName() {
  try {
    return loadIdentity(globalThis.localStorage).name;
  } catch {
    return loadIdentity({ getItem: () => null, setItem: () => {} }).name;
  }
}

// -- the list of revisions ----------------------------------------------------------------------

/** @returns {HTMLButtonElement[]} */
function buttons() {
  return [...list.querySelectorAll("button.revision")].map((b) => /** @type {HTMLButtonElement} */ (b));
}

/** @param {number} rev */
function buttonFor(rev) {
  return /** @type {HTMLButtonElement | null} */ (list.querySelector(`button.revision[data-rev="${rev}"]`));
}

/** @param {RevisionEntry} entry */
function revisionItem(entry) {
  const label = revisionLabel(entry);
  const size =
    entry.inserted === null || entry.deleted === null
      ? null
      : changeLabel({ inserted: entry.inserted, deleted: entry.deleted });
  return el(
    "li",
    null,
    el(
      "button",
      { class: "revision", type: "button", dataset: { rev: String(entry.rev) }, onclick: () => select(entry.rev) },
      el("span", { class: "rev-number" }, label.number),
      el("span", { class: "rev-author" }, label.who),
      el("span", { class: "rev-time", title: label.exact }, label.when),
      size && el("span", { class: "rev-size", "aria-label": `${size} characters` }, size),
    ),
  );
}

/** Load the next page of older revisions; returns the first new button, if any. */
async function loadMore() {
  if (docId === null) return null;
  more.disabled = true;
  const head = state.head;
  try {
    const page = await listRevisions(docId, { offset: state.nextOffset, limit: REVISIONS_PAGE });
    const { entries, nextOffset, done } = revisionPage(page, state.createdAt);
    state.nextOffset = nextOffset + (state.head - head); // followHead may have added some meanwhile
    const fresh = entries.filter((e) => !state.entries.has(e.rev));
    for (const entry of fresh) state.entries.set(entry.rev, entry);
    list.append(...fresh.map(revisionItem));
    more.hidden = done;
    markSelected();
    return fresh.length ? buttonFor(fresh[0].rev) : null;
  } catch (error) {
    say(message, describe(error), "error");
    return null;
  } finally {
    more.disabled = false;
  }
}

function markSelected() {
  for (const button of buttons()) {
    if (Number(button.dataset.rev) === state.selected) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

more.addEventListener("click", async () => {
  const first = await loadMore();
  first?.focus(); // the button that was focused may have just been hidden
});

list.addEventListener("keydown", (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  if (!target.matches("button.revision") || event.altKey || event.ctrlKey || event.metaKey) return;
  const all = buttons();
  const index = all.indexOf(/** @type {HTMLButtonElement} */ (target));
  if (event.key === "ArrowDown" && index === all.length - 1 && !more.hidden) {
    event.preventDefault();
    more.focus();
    return;
  }
  const to = moveIndex(event.key, index, all.length);
  if (to === null) return;
  event.preventDefault();
  all[to].focus();
  if (to !== index) void select(Number(all[to].dataset.rev));
});

/**
 * Follow the document while the page is open: newer revisions join the top of the list, the
 * old head becomes restorable, and a rename shows.
 */
async function followHead() {
  if (docId === null || !state.createdAt || state.following || document.visibilityState !== "visible") {
    return;
  }
  state.following = true;
  try {
    const doc = await readDocument(docId);
    setTitle(doc.title);
    state.present = presentColors(doc.people ?? []);
    const newer = doc.rev - state.head;
    if (newer <= 0) return;
    const page = await listRevisions(docId, { offset: 0, limit: Math.min(newer, REVISIONS_PAGE) });
    const added = page.total - state.head;
    if (added <= 0) return;
    const fresh = page.items.filter((r) => r.rev > state.head).map(revisionEntry);
    for (const entry of fresh) state.entries.set(entry.rev, entry);
    list.prepend(...fresh.map(revisionItem));
    // Offsets count from the newest: the older pages still to load moved down by as much.
    state.nextOffset += added;
    state.head = page.total;
    timeline.max = String(state.head);
    if (fresh.length < added) say(message, "Many revisions were made meanwhile: reload the page to see them all.");
    markSelected();
    if (state.selected !== null) {
      restore.disabled = !canRestore(state.selected, state.head);
      const entry = state.entries.get(state.selected);
      if (entry) meta.textContent = describeEntry(entry);
    }
  } catch {
    // a missed check; the next one may work, and the list shown stays right as far as it goes
  } finally {
    state.following = false;
  }
}

// -- one revision -------------------------------------------------------------------------------

/** @param {number} rev */
async function select(rev) {
  if (docId === null) return;
  state.selected = rev;
  markSelected();
  showOnTimeline(rev);
  heading.textContent = `Revision ${rev}`;
  restore.disabled = !canRestore(rev, state.head);
  const query = rev === state.head ? "" : `?rev=${rev}`;
  if (query !== location.search) history.replaceState(null, "", query || location.pathname);

  const entry = state.entries.get(rev);
  meta.textContent = entry ? describeEntry(entry) : "";
  const ticket = latest.take();
  textView.setAttribute("aria-busy", "true");
  try {
    const since = compare.value === "" ? null : Number(compare.value);
    const range = since === null ? diffRange(rev) : since === rev ? null : { from: since, to: rev };
    if (byAuthor.checked) {
      const [{ text }, blame] = await Promise.all([readText(docId, rev), getBlame(docId, rev)]);
      if (!latest.isCurrent(ticket)) return;
      showAuthors(text, blame.runs, blame.authors);
    } else if (range === null) {
      const { text } = await readText(docId, rev);
      if (!latest.isCurrent(ticket)) return;
      textView.replaceChildren(text);
    } else {
      const diff = await diffRevisions(docId, range.from, range.to);
      if (!latest.isCurrent(ticket)) return;
      showChanges(diffSegments(diff.diffs));
    }
    say(message, "");
    textView.dataset.rev = String(rev); // what is shown (the tests follow the player by it)
  } catch (error) {
    if (!latest.isCurrent(ticket)) return;
    textView.replaceChildren();
    authorsList.replaceChildren();
    say(message, describe(error), "error");
  } finally {
    if (latest.isCurrent(ticket)) textView.removeAttribute("aria-busy");
  }
}

// -- named versions ------------------------------------------------------------------------------

/** @type {import("../lib/api.js").VersionPublic[]} */
let versions = [];

async function loadVersions() {
  if (docId === null) return;
  versions = (await listVersions(docId)).items;
  versionsList.replaceChildren(
    ...versions.map((version) => {
      const open = el(
        "button",
        { type: "button", class: "version", "data-rev": String(version.rev) },
        `${version.name} · r${version.rev}`,
      );
      open.title = `Named by ${version.created_by}`;
      open.addEventListener("click", () => void select(version.rev));
      const remove = el("button", { type: "button", class: "secondary remove-version" }, "×");
      remove.setAttribute("aria-label", `Remove the name ${version.name}`);
      remove.addEventListener("click", async () => {
        if (docId === null) return;
        try {
          await deleteVersion(docId, version.name);
          await loadVersions();
          say(message, `The name “${version.name}” was removed; its revision stays.`);
        } catch (error) {
          say(message, describe(error), "error");
        }
      });
      return el("li", {}, open, remove);
    }),
  );
  const chosen = compare.value;
  compare.replaceChildren(
    el("option", { value: "" }, "the revision before"),
    ...versions.map((version) =>
      el("option", { value: String(version.rev) }, `${version.name} (r${version.rev})`),
    ),
  );
  if ([...compare.options].some((option) => option.value === chosen)) compare.value = chosen;
}

nameForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = versionName.value.trim();
  if (docId === null || state.selected === null || name === "") return;
  try {
    await nameVersion(docId, name, state.selected);
    versionName.value = "";
    await loadVersions();
    say(message, `Revision ${state.selected} is now named “${name}”.`);
  } catch (error) {
    say(message, describe(error), "error");
  }
});

compare.addEventListener("change", () => {
  if (state.selected !== null) void select(state.selected);
});

// -- the player ----------------------------------------------------------------------------------

/** @param {number} rev */
function showOnTimeline(rev) {
  timeline.max = String(state.head);
  timeline.value = String(rev);
  timelineRev.textContent = `r${rev}`;
}

function stopPlaying() {
  player.playing = false;
  player.run += 1;
  playButton.textContent = "Play";
  playButton.setAttribute("aria-pressed", "false");
}

/** Step from the selected revision (from 0 when it is the newest) to the newest. */
async function play() {
  if (docId === null) return;
  const run = ++player.run;
  player.playing = true;
  playButton.textContent = "Pause";
  playButton.setAttribute("aria-pressed", "true");
  let rev = state.selected === null || state.selected >= state.head ? 0 : state.selected;
  while (player.playing && player.run === run) {
    await select(rev);
    if (player.run !== run || rev >= state.head) break;
    await new Promise((resolve) => setTimeout(resolve, 1000 / Number(speed.value)));
    rev += 1;
  }
  if (player.run === run) stopPlaying();
}

playButton.addEventListener("click", () => {
  if (player.playing) stopPlaying();
  else void play();
});

timeline.addEventListener("input", () => {
  if (player.playing) stopPlaying(); // the person took the slider: they lead now
  timelineRev.textContent = `r${timeline.value}`;
  void select(Number(timeline.value));
});

/**
 * The text with each author's part on a soft background in their color, and the legend.
 * @param {string} text
 * @param {[number, number, string | null][]} runs  code points
 * @param {string[]} authors
 */
function showAuthors(text, runs, authors) {
  if (docId === null) return;
  const colors = assignColors(docId, authors, state.present);
  textView.replaceChildren(
    ...runsToUtf16(runs, text).map(([start, length, author]) => {
      const part = text.slice(start, start + length);
      if (author === null) return document.createTextNode(part);
      return el("span", { class: `author ${tintClass(colors.get(author) ?? "")}`, dataset: { author } }, part);
    }),
  );
  authorsList.replaceChildren(
    ...authors.map((name) =>
      el(
        "li",
        { class: "person", dataset: { author: name, color: colors.get(name) ?? "" } },
        el("span", {
          class: "swatch",
          "aria-hidden": "true",
          style: { "--person-color": colors.get(name) ?? "#888888" },
        }),
        el("span", { class: "person-name" }, name),
      ),
    ),
  );
  textView.scrollTop = 0;
}

byAuthor.checked = (() => {
  try {
    return localStorage.getItem(BY_AUTHOR_KEY) === "on";
  } catch {
    return false;
  }
})();
byAuthor.addEventListener("change", () => {
  try {
    localStorage.setItem(BY_AUTHOR_KEY, byAuthor.checked ? "on" : "off");
  } catch {
    // not remembered
  }
  if (!byAuthor.checked) authorsList.replaceChildren();
  if (state.selected !== null) void select(state.selected);
});

/** @param {RevisionEntry} entry */
function describeEntry(entry) {
  const label = revisionLabel(entry);
  if (entry.rev === 0) return `Created ${label.when} (${label.exact}).`;
  const current = entry.rev === state.head ? " This is the current text." : "";
  return `By ${label.who}, ${label.when} (${label.exact}). Inserted text is underlined, deleted text struck through.${current}`;
}

/** @param {import("../lib/diffview.js").Segment[]} segments */
function showChanges(segments) {
  textView.replaceChildren(
    ...segments.map((s) => {
      if (s.op === "equal") return document.createTextNode(s.text);
      const marked = el(s.op === "insert" ? "ins" : "del", null, s.text);
      if (s.blank) marked.classList.add(s.text.includes("\n") ? "blank-line" : "blank");
      return marked;
    }),
  );
  // Bring the first change into view inside the text box (not the whole page).
  const first = /** @type {HTMLElement | null} */ (textView.querySelector("ins, del"));
  textView.scrollTop = first ? Math.max(0, first.offsetTop - textView.clientHeight / 3) : 0;
}

// -- restore ------------------------------------------------------------------------------------

restore.addEventListener("click", () => {
  if (state.selected === null || !canRestore(state.selected, state.head)) return;
  confirmRev.textContent = String(state.selected);
  confirmDialog.returnValue = "";
  confirmDialog.showModal();
});

confirmDialog.addEventListener("close", async () => {
  const rev = state.selected;
  if (confirmDialog.returnValue !== "restore" || docId === null || rev === null) return;
  restore.disabled = true;
  say(message, `Restoring revision ${rev}…`);
  try {
    await restoreRevision(docId, rev, displayName());
    location.assign(editorUrl(docId));
  } catch (error) {
    say(message, describe(error), "error");
    restore.disabled = !canRestore(state.selected, state.head);
  }
});

// -- start ----------------------------------------------------------------------------------------

/** @param {string} title */
function setTitle(title) {
  if (titleEl.textContent !== title) titleEl.textContent = title;
  document.title = `History · ${title} · XMPP Collab`;
}

/** @param {string} text */
function notFound(text) {
  titleEl.textContent = "Document not found";
  document.title = "Not found · XMPP Collab";
  heading.textContent = "No history to show";
  more.hidden = true;
  restore.disabled = true;
  say(message, text, "error");
}

async function start() {
  if (docId === null) {
    back.href = "/";
    back.textContent = "All documents";
    notFound("This address does not name a document. Open one from the list of documents.");
    return;
  }
  back.href = editorUrl(docId);
  try {
    const doc = await readDocument(docId);
    state.head = doc.rev;
    state.createdAt = doc.created_at;
    state.present = presentColors(doc.people ?? []);
    setTitle(doc.title);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      back.href = "/";
      back.textContent = "All documents";
      notFound(`${describe(error)}. It may have been deleted.`);
    } else {
      titleEl.textContent = docId;
      say(message, describe(error), "error");
    }
    return;
  }
  await loadMore();
  try {
    await loadVersions();
  } catch (error) {
    say(message, describe(error), "error");
  }
  const wanted = revFromQuery(location.search);
  const missing = wanted !== null && wanted > state.head;
  // Someone may have clicked a revision while the list loaded: theirs wins.
  if (state.selected === null) await select(wanted === null || missing ? state.head : wanted);
  if (missing) say(message, `There is no revision ${wanted}; the newest is ${state.head}.`, "error");
  setInterval(followHead, FOLLOW_MS);
}

void start();
