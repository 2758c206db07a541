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
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  placeholder,
} from "@codemirror/view";

import { ClientState, SyncClient, changesBetween } from "../sync/index.js";
import { Attribution, runsToUtf16 } from "../sync/authorship.js";
import { docIdFromPath, editorUrl, exportUrl, historyUrl } from "../lib/api.js";
import {
  ME,
  authorAnnotation,
  authorshipField,
  authorshipMarks,
  renameAuthor,
  setAttribution,
  setPeople,
} from "../lib/authorship-marks.js";
import { caretAssoc, opToChanges, sanitizeInsert } from "../lib/changes.js";
import { ChatPanel, titleWithUnread } from "../lib/chat.js";
import { Connection } from "../lib/connection.js";
import { countText, countsText } from "../lib/counts.js";
import { debounce } from "../lib/debounce.js";
import { byId, el, say } from "../lib/dom.js";
import { plural } from "../lib/format.js";
import { cleanName, loadIdentity, newClientId, saveColor, saveName } from "../lib/identity.js";
import { authorOf as authorOfPerson, presentColors } from "../lib/colors.js";
import { bindColorPicker } from "../lib/color-picker.js";
import { RevisionLog, toLocalPosition, toShadowPosition } from "../lib/presence.js";
import { removeRemoteCursor, remoteCursorsField, safeColor, setRemoteCursor } from "../lib/remote-cursors.js";
import { parseMarkdown, renderMarkdown } from "../lib/markdown.js";
import { statusText } from "../lib/status.js";
import { clearUnsent, loadUnsent, sameSavedState, saveUnsent } from "../lib/unsent.js";
import { bindThemeSelect, followTheme } from "../lib/theme.js";

const PRESENCE_THROTTLE_MS = 80;
const COUNT_DELAY_MS = 150;
const AUTHORSHIP_KEY = "collab.authorship";
const LINE_NUMBERS_KEY = "collab.lineNumbers";
const PREVIEW_KEY = "collab.markdownPreview";

const chooseTheme = followTheme();

const docId = docIdFromPath(location.pathname);
const message = byId("message");

if (docId === null) {
  say(message, "This address does not name a document.", "error");
} else {
  // Edits a closed page left unsent come back first (lib/unsent.js).
  loadUnsent(docId).then(
    (saved) => start(docId, saved),
    () => start(docId, null),
  );
}

/**
 * @param {string} id
 * @param {import("../sync/client.js").SavedClient | null} saved  what a closed page left unsent
 */
function start(id, saved) {
  const identity = loadIdentity(localStorage);
  const log = new RevisionLog();
  /** Presence we could not place yet (the sender is ahead of us), by session. */
  const deferred = new Map();
  let localEdits = 0; // edits typed since everything was last confirmed (for "N unsent")
  let loaded = false;

  const editable = new Compartment();
  const authorship = authorshipField(id);
  const marks = new Compartment();
  const gutter = new Compartment();
  let showAuthorship = loadFlag(AUTHORSHIP_KEY, true);
  let showLineNumbers = loadFlag(LINE_NUMBERS_KEY, false);
  /** The author of the revision being folded in, while the engine folds it. */
  let folding = /** @type {string | null | undefined} */ (undefined);
  /** The name the server records this person's edits under, once an acknowledgement says. */
  let myAuthor = /** @type {string | null} */ (null);
  /** This person's role on the document, as the server said when they joined. */
  let role = "owner";
  /** Shows the preview for a Markdown title (set below, once the preview is wired). */
  let markdownTitle = (/** @type {string} */ _title) => {};
  byId("share-link").setAttribute("href", `${editorUrl(id)}/share`);
  const view = new EditorView({
    parent: byId("editor"),
    state: EditorState.create({
      doc: "",
      extensions: [
        // Only "\n" breaks lines: a "\r" in the text stays a character, so the editor's text
        // is byte for byte the document's.
        EditorState.lineSeparator.of("\n"),
        gutter.of(showLineNumbers ? [lineNumbers(), highlightActiveLineGutter()] : []),
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
        authorship,
        marks.of(showAuthorship ? authorshipMarks(authorship) : []),
        EditorView.domEventHandlers({ beforeinput: typeOverSelection }),
        EditorState.transactionFilter.of(keepOutForbidden),
        EditorView.updateListener.of((update) => {
          for (const tr of update.transactions) {
            if (tr.docChanged && !tr.annotation(Transaction.remote)) localChange(tr);
          }
          if (update.docChanged) {
            scheduleCounts();
            schedulePreview();
          }
          if (update.docChanged || update.transactions.some((tr) => tr.effects.length > 0)) {
            renderAuthors();
          }
          if (update.selectionSet || update.docChanged) schedulePresence();
        }),
      ],
    }),
  });

  const client = restoredOr(saved, {
    observer: {
      textChanged(op, before, run) {
        // An insert at the caret by someone else lands on the side the caret's own typing
        // goes on: after it for a person typing forwards (CodeMirror's default keeps the
        // caret before it), before it for one typing backwards (caretAssoc).
        const changes = ChangeSet.of(opToChanges(before, op), before.length);
        const selection = view.state.selection;
        const mapped = EditorSelection.create(
          selection.ranges.map((range) =>
            range.empty
              ? EditorSelection.cursor(changes.mapPos(range.head, caretAssoc(before, range.head, run)))
              : range.map(changes),
          ),
          selection.mainIndex,
        );
        view.dispatch({
          changes,
          selection: mapped,
          annotations: [
            Transaction.remote.of(true),
            Transaction.addToHistory.of(false),
            // A revision's inserted text is its author's; a merge or a refusal names nobody.
            authorAnnotation.of(folding ?? null),
          ],
        });
      },
      // Each revision with its author: the attribution a snapshot comes with is carried
      // through the ones folded in since (takeAuthorship).
      revisionFolded: (rev, op) => log.add(rev, op, folding ?? null),
      shadowReset: (rev) => log.reset(rev),
    },
  });

  /** Keep the unconfirmed edits where a closed page finds them; forget them once confirmed. */
  let keptUnsent = client.hasUnconfirmed;
  /** @type {import("../sync/client.js").SavedClient | null} */
  let lastKept = null;
  function keepUnsent() {
    if (client.hasUnconfirmed) {
      keptUnsent = true;
      const state = client.saveState();
      if (lastKept !== null && sameSavedState(lastKept, state)) return; // nothing new to keep
      lastKept = state;
      void saveUnsent(id, state);
    } else if (keptUnsent) {
      keptUnsent = false;
      lastKept = null;
      void clearUnsent(id);
    }
  }

  // The engine tells the page what a revision changes, not who made it: note the author of the
  // revision being received, and learn from our own acknowledgements the name the server
  // records our edits under.
  const receive = client.receive.bind(client);
  client.receive = (message) => {
    if (message.type !== "revision") return receive(message);
    if (message.client === client.clientId && myAuthor === null) {
      myAuthor = message.author;
      view.dispatch({ effects: renameAuthor.of({ from: ME, to: myAuthor }) });
      updatePeopleNames();
    }
    folding = message.author;
    try {
      return receive(message);
    } finally {
      folding = undefined;
    }
  };

  const url = new URL(`/ws/${encodeURIComponent(id)}`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let rejectedSeen = 0;
  let pageTitle = document.title; // the tab's title, without the count of unread chat lines
  // The chat beside the document (lib/chat.js): lines travel over this page's connection.
  const chat = new ChatPanel(
    {
      log: byId("chat-log"),
      form: /** @type {HTMLFormElement} */ (byId("chat-form")),
      input: /** @type {HTMLTextAreaElement} */ (byId("chat-input")),
      note: byId("chat-note"),
      more: /** @type {HTMLButtonElement} */ (byId("chat-more")),
    },
    (text) => connection.sendChat(text),
    // Lines that came while the tab was hidden: counted in its title until it is shown.
    { onAway: (count) => (document.title = titleWithUnread(pageTitle, count)) },
  );
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) chat.back();
  });
  const connection = new Connection(
    { url: url.href, client, name: identity.name, color: identity.color, authorship: true, chat: true },
    {
      stateChanged: () => {
        if (connection.state === "connected" && !loaded) {
          loaded = true;
          // A viewer's page stays read-only: the server would refuse their edits anyway.
          if (role !== "viewer") view.dispatch({ effects: editable.reconfigure([]) });
          focusWhenFree();
        }
        if (connection.state === "closed") closeEditor();
        renderStatus();
      },
      busStatus: (status) => {
        const down = status.bus === "down";
        byId("bus-text").textContent = down
          ? status.message || "This server cannot reach the other servers right now."
          : "";
        byId("bus-banner").hidden = !down;
      },
      joined: (data) => {
        // A new session: the server says again if its bus is down.
        byId("bus-banner").hidden = true;
        role = typeof data.role === "string" ? data.role : "owner";
        document.body.dataset.role = role;
        byId("read-only").hidden = role !== "viewer";
        if (role === "viewer") {
          view.dispatch({
            effects: editable.reconfigure([EditorView.editable.of(false), EditorState.readOnly.of(true)]),
          });
        }
        showTitle(data.doc?.title ?? id);
        // Not chosen yet: ask for the one the server gave again after a reconnect, so that it
        // stays while nobody else takes it (not remembered: the next visit may get another).
        if (identity.color === null && typeof data.person?.color === "string") {
          connection.color = data.person.color;
        }
        updatePeopleNames();
        renderPeople();
      },
      meChanged: (person) => {
        // The server refused the color just picked (someone here has it), or, having found
        // that someone on another server got ours at the same moment, gave us another.
        // A refusal gives back the color we had before picking; a clash, a new one.
        const refused = colorBeforePick !== null && person.color === colorBeforePick;
        colorBeforePick = null;
        if (refused) {
          // Not theirs to have: the choice before it stays the one remembered.
          identity.color = choiceBeforePick;
          saveColor(localStorage, choiceBeforePick);
        }
        say(
          message,
          refused
            ? "Someone here has that color already; you keep yours."
            : "Someone here had your color too, so you have another now. Pick one below if you like.",
        );
        if (typeof person.color === "string") connection.color = person.color;
        updatePeopleNames();
        renderPeople();
      },
      authorship: (data) => takeAuthorship(data.rev, data.runs),
      renamed: (title) => showTitle(title),
      peopleChanged: (people) => {
        const gone = [...view.state.field(remoteCursorsField).keys()].filter((s) => !people.has(s));
        if (gone.length > 0) {
          view.dispatch({ effects: gone.map((s) => removeRemoteCursor.of(s)) });
        }
        for (const session of deferred.keys()) if (!people.has(session)) deferred.delete(session);
        updatePeopleNames();
        renderPeople();
      },
      presence: (person) => placeCursor(person),
      chat: (data) => chat.receive(data),
      problem: (text) => say(message, text, "error"),
      progress: () => {
        if (!client.hasUnconfirmed) localEdits = 0;
        keepUnsent();
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
    keepUnsent();
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
    const pending = client.pending; // in the text at client.rev, as others can place it
    presenceRev = client.rev;
    connection.setPresence({
      cursor: toShadowPosition(client.codepointOf(head), pending),
      anchor: toShadowPosition(client.codepointOf(anchor), pending),
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
    view.dispatch({
      effects: setRemoteCursor.of({
        session: person.session,
        name: person.name,
        color: colorOf(authorOfPerson(person)),
        head: client.unitOf(head),
        anchor: client.unitOf(anchor),
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
    const me = connection.me ?? { session: "me", name: identity.name };
    const items = [personItem({ ...me, name: identity.name }, true)];
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
        style: { "--person-color": safeColor(colorOf(isMe ? myKey() : authorOfPerson(person))) },
      }),
      el("span", { class: "person-name" }, person.name),
      isMe ? el("span", { class: "subtle" }, " (you)") : null,
      person.bot === true
        ? el("span", { class: "bot-badge", title: "A bot following the document over XMPP" }, "bot")
        : null,
    );
  }

  /** @param {string} title */
  function showTitle(title) {
    markdownTitle(title);
    byId("title").textContent = title;
    pageTitle = `${title} · XMPP Collab`;
    document.title = titleWithUnread(pageTitle, chat.unread.away);
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
    updatePeopleNames();
    renderPeople();
    say(message, `You appear as “${name}”.`);
  });

  /** Our color before the last pick: the server answers a refused pick with it. */
  let colorBeforePick = /** @type {string | null} */ (null);
  let choiceBeforePick = /** @type {string | null} */ (null);
  // The color picker: the choice is remembered, asked of the server (which gives it if nobody
  // else here has it) and shown at once; the server's refusal puts the old one back.
  const showColors = bindColorPicker(
    byId("color-choices"),
    /** @type {HTMLInputElement} */ (byId("color-input")),
    (color) => {
      colorBeforePick = connection.me?.color ?? null;
      choiceBeforePick = identity.color;
      identity.color = color;
      saveColor(localStorage, color);
      connection.setPresence({ color });
      if (connection.me) connection.me = { ...connection.me, color };
      updatePeopleNames();
      renderPeople();
    },
  );

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
  /** @type {HTMLAnchorElement} */ (byId("download-md")).href = exportUrl(id, "md");
  /** @type {HTMLAnchorElement} */ (byId("download-html")).href = exportUrl(id, "html");
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
      /** Who wrote what: `[start, length, author]` runs in UTF-16 units of `text()`. */
      authorship: () => {
        const value = view.state.field(authorship);
        return { known: value.known, runs: value.attribution.runs(), colors: Object.fromEntries(value.colors) };
      },
      /** This page's session, color and caret (UTF-16 offsets of `text()`). */
      me: () => ({
        session: connection.session,
        color: connection.me?.color ?? null,
        head: view.state.selection.main.head,
        anchor: view.state.selection.main.anchor,
      }),
      /** Other people's cursors as drawn: where each caret is in the text, and its color. */
      cursors: () =>
        [...view.contentDOM.querySelectorAll(".cm-remote-cursor")].map((caret) => ({
          session: /** @type {HTMLElement} */ (caret).dataset.session,
          at: view.posAtDOM(caret),
          color: /** @type {HTMLElement} */ (caret).style.getPropertyValue("--person-color"),
        })),
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

  // -- authorship ------------------------------------------------------------------------

  /**
   * Who wrote the text of the snapshot at `rev` (runs in code points, as the server sends
   * them after each snapshot it gives this page), carried through the revisions folded in
   * since (each its author's), then through our unconfirmed edits (ours).
   * @param {number} rev
   * @param {[number, number, string | null][]} runs
   */
  function takeAuthorship(rev, runs) {
    let attribution;
    try {
      attribution = Attribution.fromRuns(runs);
    } catch {
      return; // not runs: nothing drawn rather than something wrong
    }
    if (!log.carry(attribution, rev, client.rev)) return;
    const shadow = client.shadow;
    if (attribution.length !== [...shadow].length) return;
    const drawn = Attribution.fromRuns(runsToUtf16(attribution.runs(), shadow));
    const mine = opToChanges(shadow, changesBetween(shadow, client.text));
    const ours = myAuthor ?? ME;
    for (const change of [...mine].reverse()) {
      drawn.replace(change.from, change.to, change.insert.length, ours);
    }
    if (drawn.length !== view.state.doc.length) return; // never draw what does not fit
    view.dispatch({ effects: setAttribution.of(drawn) });
  }

  /** The name this person's text goes under: as the server records it, once it says. */
  function myKey() {
    return myAuthor ?? (connection.me ? authorOfPerson(connection.me) : identity.name);
  }

  /**
   * Tell the authorship field who is here and the color the server gave each (ours too), then
   * give the cursors and the picker the colors as they now are.
   */
  function updatePeopleNames() {
    const others = [...connection.people.values()];
    const present = connection.me ? [...others, { ...connection.me, name: myKey(), author: "" }] : others;
    view.dispatch({
      effects: setPeople.of({ people: others.map(authorOfPerson), me: myKey(), fixed: presentColors(present) }),
    });
    /** @type {import("@codemirror/state").StateEffect<any>[]} */
    const recolored = [];
    for (const cursor of view.state.field(remoteCursorsField).values()) {
      const person = connection.people.get(cursor.session);
      const color = person ? colorOf(authorOfPerson(person)) : cursor.color;
      if (color !== cursor.color) recolored.push(setRemoteCursor.of({ ...cursor, color }));
    }
    if (recolored.length > 0) view.dispatch({ effects: recolored });
    /** @type {Map<string, string>} */
    const taken = new Map();
    for (const person of others) {
      if (typeof person.color === "string" && authorOfPerson(person) !== myKey()) {
        taken.set(person.color.toLowerCase(), person.name);
      }
    }
    showColors(connection.me?.color ?? identity.color, taken);
  }

  /** A person's color on this document (the same for their cursor and their text). */
  function colorOf(/** @type {string} */ name) {
    return view.state.field(authorship).colors.get(name) ?? "#888888";
  }

  function renderAuthors() {
    const value = view.state.field(authorship);
    const names = [...new Set(value.attribution.names().map((n) => (n === ME ? value.me : n)))];
    const list = byId("authors");
    const key = JSON.stringify(names.map((name) => [name, value.colors.get(name)]));
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren(
      ...names.map((name) =>
        el(
          "li",
          { class: "person", dataset: { author: name, color: value.colors.get(name) ?? "" } },
          el("span", {
            class: "swatch",
            "aria-hidden": "true",
            style: { "--person-color": safeColor(value.colors.get(name) ?? "") },
          }),
          el("span", { class: "person-name" }, name),
        ),
      ),
    );
  }

  const authorshipToggle = /** @type {HTMLInputElement} */ (byId("authorship-toggle"));
  authorshipToggle.checked = showAuthorship;
  document.body.dataset.authorship = showAuthorship ? "on" : "off";
  authorshipToggle.addEventListener("change", () => {
    showAuthorship = authorshipToggle.checked;
    saveFlag(AUTHORSHIP_KEY, showAuthorship);
    document.body.dataset.authorship = showAuthorship ? "on" : "off";
    view.dispatch({ effects: marks.reconfigure(showAuthorship ? authorshipMarks(authorship) : []) });
  });

  // -- view: line numbers, theme, counts --------------------------------------------------

  const lineNumbersToggle = /** @type {HTMLInputElement} */ (byId("line-numbers-toggle"));
  lineNumbersToggle.checked = showLineNumbers;
  lineNumbersToggle.addEventListener("change", () => {
    showLineNumbers = lineNumbersToggle.checked;
    saveFlag(LINE_NUMBERS_KEY, showLineNumbers);
    view.dispatch({
      effects: gutter.reconfigure(showLineNumbers ? [lineNumbers(), highlightActiveLineGutter()] : []),
    });
  });

  bindThemeSelect(/** @type {HTMLSelectElement} */ (byId("theme-select")), chooseTheme);

  // Markdown preview: on by default for a document whose title ends in .md, else as chosen.
  const previewToggle = /** @type {HTMLInputElement} */ (byId("preview-toggle"));
  const preview = byId("preview");
  let previewChosen = localStorage.getItem(PREVIEW_KEY);
  const schedulePreview = debounce(() => renderPreview(), COUNT_DELAY_MS);
  function renderPreview() {
    if (preview.hidden) return;
    preview.replaceChildren(renderMarkdown(parseMarkdown(view.state.doc.toString())));
  }
  function showPreview(/** @type {boolean} */ shown) {
    previewToggle.checked = shown;
    preview.hidden = !shown;
    renderPreview();
  }
  previewToggle.addEventListener("change", () => {
    previewChosen = previewToggle.checked ? "1" : "0";
    localStorage.setItem(PREVIEW_KEY, previewChosen);
    showPreview(previewToggle.checked);
  });
  markdownTitle = (/** @type {string} */ title) => {
    if (previewChosen === null) showPreview(/\.(md|markdown)$/i.test(title.trim()));
  };
  if (previewChosen !== null) showPreview(previewChosen === "1");

  // Printing: the whole text (CodeMirror draws only what is on screen), or the preview.
  const printArea = byId("print-area");
  window.addEventListener("beforeprint", () => {
    if (!preview.hidden) {
      renderPreview();
      printArea.replaceChildren(...[...preview.childNodes].map((node) => node.cloneNode(true)));
    } else {
      printArea.replaceChildren(el("pre", {}, view.state.doc.toString()));
    }
  });
  window.addEventListener("afterprint", () => printArea.replaceChildren());
  byId("print").addEventListener("click", () => window.print());

  // Counted once typing pauses: a long text is not read again on every keystroke.
  const scheduleCounts = debounce(() => renderCounts(), COUNT_DELAY_MS);
  function renderCounts() {
    byId("counts").textContent = countsText(countText(view.state.doc.toString()));
  }

  /** The document is gone (or refused for good): stop editing and say why. */
  function closeEditor() {
    view.dispatch({
      effects: editable.reconfigure([EditorView.editable.of(false), EditorState.readOnly.of(true)]),
    });
    const banner = byId("closed-banner");
    byId("closed-text").textContent = connection.closedReason || "This document is closed.";
    banner.hidden = false;
    document.body.dataset.closed = "true";
  }

  if (client.hasUnconfirmed) {
    // Typed on an earlier visit and never sent: shown now, sent once connected.
    view.dispatch({
      changes: { from: 0, insert: client.text },
      annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
    });
    localEdits = client.unconfirmedCount;
    say(message, "Edits made on an earlier visit that never reached the server are back: they are sent once connected.");
  }

  renderPeople();
  showColors(identity.color, new Map());
  renderStatus();
  renderCounts();
  renderAuthors();
  if (navigator.onLine === false) connection.pause(); // start() then waits for "online"
  connection.start();
}

/**
 * The engine as a closed page left it (its unsent edits), or a new one.
 * @param {import("../sync/client.js").SavedClient | null} saved
 * @param {{observer: import("../sync/client.js").ClientObserver}} options
 */
function restoredOr(saved, { observer }) {
  if (saved !== null) {
    try {
      return SyncClient.restore(saved, observer);
    } catch (error) {
      console.warn("unsent edits from an earlier visit could not be restored", error);
    }
  }
  return new SyncClient(newClientId(), { observer });
}

/**
 * @param {string} key
 * @param {boolean} fallback
 */
function loadFlag(key, fallback) {
  try {
    const saved = localStorage.getItem(key);
    return saved === null ? fallback : saved === "on";
  } catch {
    return fallback;
  }
}

/**
 * @param {string} key
 * @param {boolean} value
 */
function saveFlag(key, value) {
  try {
    localStorage.setItem(key, value ? "on" : "off");
  } catch {
    // not remembered
  }
}
