/**
 * The editor page (`/d/{id}`): CodeMirror 6 bound to the sync engine over a WebSocket.
 *
 * The invariant everything here keeps: the editor's text is always the engine's local text
 * (`client.text`). Local typing goes editor → engine (as UTF-16 ranges); whatever the server
 * changes comes engine → editor through the engine's observer, as one remote transaction that
 * CodeMirror's undo history maps over but never undoes.
 * @module
 */

import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import {
  ChangeSet,
  Compartment,
  EditorSelection,
  EditorState,
  Transaction,
} from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightSpecialChars,
  keymap,
  placeholder,
} from "@codemirror/view";

import {
  ClientState,
  SyncClient,
  changesBetween,
  codepointToUtf16,
  utf16ToCodepoint,
} from "../sync/index.js";
import { docIdFromPath, editorUrl, exportUrl, historyUrl } from "../lib/api.js";
import { opToChanges, sanitizeInsert } from "../lib/changes.js";
import { Connection } from "../lib/connection.js";
import { byId, el, say } from "../lib/dom.js";
import { plural } from "../lib/format.js";
import { cleanName, loadIdentity, newClientId, saveName } from "../lib/identity.js";
import { RevisionLog, toLocalPosition } from "../lib/presence.js";
import { removeRemoteCursor, remoteCursorsField, safeColor, setRemoteCursor } from "../lib/remote-cursors.js";
import { statusText } from "../lib/status.js";

const PRESENCE_THROTTLE_MS = 80;

const docId = docIdFromPath(location.pathname);
const message = byId("message");

if (docId === null) {
  say(message, "This address does not name a document.", "error");
} else {
  start(docId);
}

/** @param {string} id */
function start(id) {
  const identity = loadIdentity(localStorage);
  const log = new RevisionLog();
  /** Presence we could not place yet (the sender is ahead of us), by session. */
  const deferred = new Map();
  let localEdits = 0; // edits typed since everything was last confirmed (for "N unsent")
  let loaded = false;

  const editable = new Compartment();
  /** This person's role on the document, as the server said when they joined. */
  let role = "owner";
  byId("share-link").setAttribute("href", `${editorUrl(id)}/share`);
  const view = new EditorView({
    parent: byId("editor"),
    state: EditorState.create({
      doc: "",
      extensions: [
        // Only "\n" breaks lines: a "\r" in the text stays a character, so the editor's text
        // is byte for byte the document's.
        EditorState.lineSeparator.of("\n"),
        // CodeMirror's own stylesheet is a <style> element; the page's CSP admits it by nonce.
        EditorView.cspNonce.of(document.querySelector('meta[name="csp-nonce"]')?.getAttribute("content") ?? ""),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        dropCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        search({ top: true }),
        EditorView.lineWrapping,
        placeholder("Start typing…"),
        // No Tab binding: Tab leaves the editor, so the page works with the keyboard alone.
        keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap]),
        editable.of([EditorView.editable.of(false), EditorState.readOnly.of(true)]),
        EditorView.contentAttributes.of({ "aria-label": "Document text", spellcheck: "true" }),
        remoteCursorsField,
        EditorView.domEventHandlers({ beforeinput: typeOverSelection }),
        EditorState.transactionFilter.of(keepOutForbidden),
        EditorView.updateListener.of((update) => {
          for (const tr of update.transactions) {
            if (tr.docChanged && !tr.annotation(Transaction.remote)) localChange(tr);
          }
          if (update.selectionSet || update.docChanged) schedulePresence();
        }),
      ],
    }),
  });

  const client = new SyncClient(newClientId(), {
    observer: {
      textChanged(op, before) {
        view.dispatch({
          changes: opToChanges(before, op),
          annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
        });
      },
      revisionFolded: (rev, op) => log.add(rev, op),
      shadowReset: (rev) => log.reset(rev),
    },
  });

  const url = new URL(`/ws/${encodeURIComponent(id)}`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let rejectedSeen = 0;
  const connection = new Connection(
    { url: url.href, client, name: identity.name, color: identity.color },
    {
      stateChanged: () => {
        if (connection.state === "connected" && !loaded) {
          loaded = true;
          // A viewer's page stays read-only: the server would refuse their edits anyway.
          if (role !== "viewer") view.dispatch({ effects: editable.reconfigure([]) });
          focusWhenFree();
        }
        renderStatus();
      },
      joined: (data) => {
        role = typeof data.role === "string" ? data.role : "owner";
        document.body.dataset.role = role;
        byId("read-only").hidden = role !== "viewer";
        if (role === "viewer") {
          view.dispatch({
            effects: editable.reconfigure([EditorView.editable.of(false), EditorState.readOnly.of(true)]),
          });
        }
        showTitle(data.doc?.title ?? id);
        renderPeople();
      },
      renamed: (title) => showTitle(title),
      peopleChanged: (people) => {
        const gone = [...view.state.field(remoteCursorsField).keys()].filter((s) => !people.has(s));
        if (gone.length > 0) {
          view.dispatch({ effects: gone.map((s) => removeRemoteCursor.of(s)) });
        }
        for (const session of deferred.keys()) if (!people.has(session)) deferred.delete(session);
        renderPeople();
      },
      presence: (person) => placeCursor(person),
      problem: (text) => say(message, text, "error"),
      progress: () => {
        if (!client.hasUnconfirmed) localEdits = 0;
        for (const person of [...deferred.values()]) placeCursor(person);
        if (client.rejected.length > rejectedSeen) {
          const refused = client.rejected[client.rejected.length - 1];
          rejectedSeen = client.rejected.length;
          say(
            message,
            `The server refused an edit (${refused.message}); it was taken out of your text.`,
            "error",
          );
        }
        if (client.rev !== presenceRev && connection.session !== null) schedulePresence();
        renderStatus();
      },
    },
  );

  // -- local typing ----------------------------------------------------------------------

  /** @param {Transaction} tr */
  function localChange(tr) {
    /** @type {{from: number, to: number, text: string}[]} */
    const changes = [];
    tr.changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
      changes.push({ from: fromA, to: toA, text: inserted.toString() });
    });
    // Last first: each change's offsets are in the text before the transaction, and applying
    // from the end keeps the earlier ones valid.
    try {
      for (const change of changes.reverse()) {
        client.replaceRange(change.from, change.to, change.text);
      }
    } catch (error) {
      // A change the engine cannot take (half a surrogate pair, say): put the editor back
      // to the engine's text rather than let the two differ.
      realign();
      say(message, `That change could not be applied (${String(error)}).`, "error");
      return;
    }
    localEdits += 1;
    connection.flush();
    renderStatus();
  }

  /**
   * Typing over a selection ourselves. Left to the browser, Chrome's native editing merges
   * the lines the selection spans and adds an inline style attribute while doing so, which
   * the page's CSP (rightly) blocks and reports. The result is the same either way.
   * @param {InputEvent} event
   * @param {EditorView} editor
   */
  function typeOverSelection(event, editor) {
    if (event.inputType !== "insertText" || !event.data || editor.composing) return false;
    if (editor.state.selection.ranges.every((range) => range.empty)) return false;
    event.preventDefault();
    editor.dispatch(
      editor.state.update(editor.state.replaceSelection(event.data), {
        userEvent: "input.type",
        scrollIntoView: true,
      }),
    );
    return true;
  }

  /** Make the editor's text the engine's again, as a remote change (outside undo). */
  function realign() {
    const before = view.state.doc.toString();
    if (before === client.text) return;
    view.dispatch({
      changes: opToChanges(before, changesBetween(before, client.text)),
      annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
    });
  }

  /**
   * Pasted or dropped text may hold characters XML cannot carry: take them out before they
   * reach the document, and say so.
   * @param {Transaction} tr
   */
  function keepOutForbidden(tr) {
    if (!tr.docChanged || tr.annotation(Transaction.remote)) return tr;
    let removed = 0;
    /** @type {{from: number, to: number, insert: string}[]} */
    const changes = [];
    tr.changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
      const clean = sanitizeInsert(inserted.toString());
      removed += clean.removed;
      changes.push({ from: fromA, to: toA, insert: clean.text });
    });
    if (removed === 0) return tr;
    say(message, `${plural(removed, "character")} that a document cannot hold were left out.`);
    const set = ChangeSet.of(changes, tr.startState.doc.length, "\n");
    return {
      changes: set,
      selection: EditorSelection.create(
        tr.startState.selection.ranges.map((r) => r.map(set, 1)),
        tr.startState.selection.mainIndex,
      ),
      userEvent: tr.annotation(Transaction.userEvent),
      scrollIntoView: true,
    };
  }

  // -- presence --------------------------------------------------------------------------

  /** @type {ReturnType<typeof setTimeout> | null} */
  let presenceTimer = null;
  let presenceRev = -1;

  function schedulePresence() {
    if (presenceTimer !== null) return;
    presenceTimer = setTimeout(() => {
      presenceTimer = null;
      sendPresence();
    }, PRESENCE_THROTTLE_MS);
  }

  function sendPresence() {
    const { head, anchor } = view.state.selection.main;
    const text = client.text;
    presenceRev = client.rev;
    connection.setPresence({
      cursor: utf16ToCodepoint(text, head),
      anchor: utf16ToCodepoint(text, anchor),
      rev: client.rev,
    });
  }

  /** @param {import("../lib/connection.js").Person} person */
  function placeCursor(person) {
    if (typeof person.cursor !== "number" || typeof person.rev !== "number") {
      deferred.delete(person.session);
      if (view.state.field(remoteCursorsField).has(person.session)) {
        view.dispatch({ effects: removeRemoteCursor.of(person.session) });
      }
      return;
    }
    const head = toLocalPosition(person.cursor, person.rev, client, log);
    const anchor = toLocalPosition(person.anchor ?? person.cursor, person.rev, client, log);
    if (head === null || anchor === null) {
      deferred.set(person.session, person); // they are ahead of us: place it once we catch up
      return;
    }
    deferred.delete(person.session);
    const text = client.text;
    view.dispatch({
      effects: setRemoteCursor.of({
        session: person.session,
        name: person.name,
        color: person.color ?? "#888888",
        head: codepointToUtf16(text, head),
        anchor: codepointToUtf16(text, anchor),
      }),
    });
  }

  // -- the page around the editor --------------------------------------------------------

  /** Edits typed since everything was last confirmed (at least 1 while any is pending). */
  function unsentEdits() {
    return client.hasUnconfirmed ? Math.max(localEdits, 1) : 0;
  }

  function renderStatus() {
    const status = byId("status");
    const unsent = unsentEdits();
    const state = connection.state;
    status.dataset.state = state;
    byId("status-text").textContent = statusText(state, unsent, client.state === ClientState.READY);
    document.body.dataset.connection = state;
  }

  function renderPeople() {
    const list = byId("people");
    const me = connection.me ?? { session: "me", name: identity.name, color: identity.color };
    const items = [personItem({ ...me, name: identity.name, color: identity.color }, true)];
    const others = [...connection.people.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const person of others) items.push(personItem(person, false));
    list.replaceChildren(...items);
  }

  /**
   * @param {import("../lib/connection.js").Person} person
   * @param {boolean} isMe
   */
  function personItem(person, isMe) {
    return el(
      "li",
      { class: isMe ? "person me" : "person", dataset: { session: person.session } },
      el("span", {
        class: "swatch",
        "aria-hidden": "true",
        style: { "--person-color": safeColor(person.color ?? "") },
      }),
      el("span", { class: "person-name" }, person.name),
      isMe ? el("span", { class: "subtle" }, " (you)") : null,
    );
  }

  /** @param {string} title */
  function showTitle(title) {
    byId("title").textContent = title;
    document.title = `${title} · XMPP Collab`;
  }

  const nameInput = /** @type {HTMLInputElement} */ (byId("name-input"));
  nameInput.value = identity.name;
  byId("name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = cleanName(nameInput.value);
    if (name === null) {
      say(message, "A name needs at least one visible character.", "error");
      return;
    }
    identity.name = name;
    nameInput.value = name;
    saveName(localStorage, name);
    connection.setPresence({ name });
    renderPeople();
    say(message, `You appear as “${name}”.`);
  });

  const shareUrl = /** @type {HTMLInputElement} */ (byId("share-url"));
  shareUrl.value = new URL(editorUrl(id), location.href).href;
  shareUrl.addEventListener("focus", () => shareUrl.select());
  byId("copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(shareUrl.value);
      say(message, "Link copied. Anyone with it can edit this document.");
    } catch {
      shareUrl.focus();
      shareUrl.select();
      say(message, "Press Ctrl+C (⌘C) to copy the selected link.");
    }
  });
  const download = /** @type {HTMLAnchorElement} */ (byId("download"));
  download.href = exportUrl(id);
  /** @type {HTMLAnchorElement} */ (byId("history-link")).href = historyUrl(id);

  // The browser knows before the socket does when the network is gone.
  window.addEventListener("offline", () => connection.pause());
  window.addEventListener("online", () => connection.resume());
  window.addEventListener("beforeunload", (event) => {
    if (client.hasUnconfirmed) event.preventDefault(); // "leave with unsaved changes?"
  });

  // For tests, bots in devtools, and curious people.
  Object.defineProperty(window, "collab", {
    value: Object.freeze({
      text: () => view.state.doc.toString(),
      engineText: () => client.text,
      rev: () => client.rev,
      state: () => connection.state,
      unsent: unsentEdits,
      synced: () => connection.synced && view.state.doc.toString() === client.text,
      people: () => [...connection.people.values()].map((p) => ({ ...p })),
      name: () => identity.name,
    }),
  });

  // The link only scrolls: a <div> holding CodeMirror takes no focus from a fragment, so the
  // link hands it to the editor itself.
  const skipLink = byId("skip-link");
  skipLink.addEventListener("click", (event) => {
    event.preventDefault();
    view.focus();
    view.dispatch({ scrollIntoView: true });
  });

  /**
   * Focus the text once it can be typed into (a read-only editor refuses focus), so a
   * document just opened takes keystrokes without a click; unless the person has gone
   * somewhere else on the page meanwhile (their name, the share link).
   */
  function focusWhenFree() {
    const active = document.activeElement;
    if (active === null || active === document.body || active === skipLink) view.focus();
  }

  renderPeople();
  renderStatus();
  if (navigator.onLine === false) connection.pause(); // start() then waits for "online"
  connection.start();
}
