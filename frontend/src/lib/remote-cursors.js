/**
 * Other people's cursors and selections inside CodeMirror, each in its person's color.
 *
 * Positions live in a state field, in the editor's UTF-16 offsets, and are mapped through
 * every transaction (local typing and remote edits alike), so a cursor stays on its
 * character between presence updates.
 *
 * Colors come from other people, so they never reach a style attribute (the page's CSP
 * forbids inline styles, and a color string is untrusted): a cursor's color is set through
 * the CSSOM, and a selection's through a class per color in a constructed stylesheet, with
 * the color checked to be `#rrggbb` first.
 * @module
 */

import { RangeSetBuilder, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType } from "@codemirror/view";

/**
 * @typedef {object} RemoteCursor
 * @property {string} session
 * @property {string} name
 * @property {string} color
 * @property {number} head  UTF-16 offset
 * @property {number} anchor  UTF-16 offset
 */

/** Set (or move) one person's cursor. @type {import("@codemirror/state").StateEffectType<RemoteCursor>} */
export const setRemoteCursor = StateEffect.define({
  map: (value, mapping) => ({
    ...value,
    head: mapping.mapPos(value.head),
    anchor: mapping.mapPos(value.anchor),
  }),
});

/**
 * Remove one person's cursor (they left, or have no cursor).
 * @type {import("@codemirror/state").StateEffectType<string>}
 */
export const removeRemoteCursor = StateEffect.define();

/** @typedef {Map<string, RemoteCursor>} Cursors */

export const remoteCursorsField = StateField.define({
  /** @returns {Cursors} */
  create: () => new Map(),
  update(cursors, tr) {
    let next = cursors;
    if (tr.docChanged && cursors.size > 0) {
      next = new Map();
      for (const [session, cursor] of cursors) {
        next.set(session, { ...cursor, ...mapSelection(cursor, tr.changes) });
      }
    }
    for (const effect of tr.effects) {
      if (effect.is(setRemoteCursor)) {
        if (next === cursors) next = new Map(cursors);
        const length = tr.state.doc.length;
        const value = effect.value;
        next.set(value.session, {
          ...value,
          head: clamp(value.head, length),
          anchor: clamp(value.anchor, length),
        });
      } else if (effect.is(removeRemoteCursor)) {
        if (next === cursors) next = new Map(cursors);
        next.delete(effect.value);
      }
    }
    return next;
  },
  provide: (field) =>
    EditorView.decorations.from(field, (cursors) => {
      /** @type {{from: number, to: number, decoration: Decoration}[]} */
      const ranges = [];
      for (const cursor of cursors.values()) {
        const from = Math.min(cursor.head, cursor.anchor);
        const to = Math.max(cursor.head, cursor.anchor);
        if (from < to) {
          ranges.push({
            from,
            to,
            decoration: Decoration.mark({
              class: `cm-remote-selection ${colorClass(cursor.color)}`,
              attributes: { "data-name": cursor.name },
            }),
          });
        }
        ranges.push({
          from: cursor.head,
          to: cursor.head,
          decoration: Decoration.widget({ widget: new CursorWidget(cursor), side: 1 }),
        });
      }
      ranges.sort((a, b) => a.from - b.from || a.to - b.to);
      /** @type {RangeSetBuilder<Decoration>} */
      const builder = new RangeSetBuilder();
      for (const { from, to, decoration } of ranges) builder.add(from, to, decoration);
      return builder.finish();
    }),
});

/**
 * A cursor moves past text inserted right at it (usually its owner's typing); a selection
 * does not grow to take in text inserted at its edges.
 * @param {{head: number, anchor: number}} range
 * @param {import("@codemirror/state").ChangeDesc} changes
 */
export function mapSelection({ head, anchor }, changes) {
  if (head === anchor) {
    const at = changes.mapPos(head, 1);
    return { head: at, anchor: at };
  }
  const forward = anchor < head;
  const [start, end] = [Math.min(head, anchor), Math.max(head, anchor)];
  let replaced = false;
  changes.iterChangedRanges((fromA, toA) => {
    if (fromA <= start && toA >= end) replaced = true;
  });
  if (replaced) {
    // All of the selected text was replaced: what is there now was never selected.
    const at = changes.mapPos(Math.max(head, anchor), 1);
    return { head: at, anchor: at };
  }
  const from = changes.mapPos(forward ? anchor : head, 1);
  const to = Math.max(from, changes.mapPos(forward ? head : anchor, -1));
  return forward ? { anchor: from, head: to } : { anchor: to, head: from };
}

/** @param {number} value @param {number} length */
function clamp(value, length) {
  return Math.max(0, Math.min(length, Number.isFinite(value) ? value : 0));
}

class CursorWidget extends WidgetType {
  /** @param {RemoteCursor} cursor */
  constructor(cursor) {
    super();
    this.name = cursor.name;
    this.color = safeColor(cursor.color);
    this.session = cursor.session;
  }

  /** @param {CursorWidget} other */
  eq(other) {
    return other.name === this.name && other.color === this.color && other.session === this.session;
  }

  toDOM() {
    const caret = document.createElement("span");
    caret.className = "cm-remote-cursor";
    caret.dataset.name = this.name;
    caret.dataset.session = this.session;
    caret.setAttribute("aria-hidden", "true");
    caret.style.setProperty("--person-color", this.color);
    const label = document.createElement("span");
    label.className = "cm-remote-cursor-label";
    label.textContent = this.name;
    caret.append(label);
    return caret;
  }

  ignoreEvent() {
    return true;
  }
}

/**
 * A color as given, if it is `#rrggbb`, else a neutral gray.
 * @param {string} color
 */
export function safeColor(color) {
  return /^#[0-9a-fA-F]{6}$/.test(color) ? color.toLowerCase() : "#888888";
}

/** @type {Map<string, string>} */
const colorClasses = new Map();
/** @type {CSSStyleSheet | null} */
let sheet = null;

/**
 * A class that gives a selection a translucent background in `color`.
 * @param {string} color
 */
export function colorClass(color) {
  const safe = safeColor(color);
  let name = colorClasses.get(safe);
  if (name !== undefined) return name;
  name = `cm-remote-color-${safe.slice(1)}`;
  colorClasses.set(safe, name);
  try {
    if (sheet === null) {
      sheet = new CSSStyleSheet();
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    // `safe` is exactly #rrggbb: nothing else can reach the rule.
    sheet.insertRule(`.${name} { background-color: ${safe}33; }`, sheet.cssRules.length);
  } catch {
    // No constructable stylesheets: selections fall back to the default tint in editor.css.
  }
  return name;
}
