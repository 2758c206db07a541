/**
 * Authorship colors in CodeMirror: a state field that knows who wrote each character of the
 * editor's text (an `Attribution` in UTF-16 units) and draws a soft background in each
 * author's color.
 *
 * Every transaction that changes the text carries its changes through the attribution: the
 * inserted text is given to the author the transaction names (`authorAnnotation`: a remote
 * revision's author), or, for local typing, to `ME` until the server tells the page the name
 * it records this person's edits under (`renameAuthor`). Text whose author nobody knows
 * (`null`) is drawn plain.
 * @module
 */

import { Annotation, RangeSetBuilder, StateEffect, StateField, Transaction } from "@codemirror/state";
import { Decoration, EditorView } from "@codemirror/view";

import { Attribution } from "../sync/authorship.js";
import { assignColors, tintClass } from "./colors.js";

/** The author of this person's own typing until the server names it. */
export const ME = "\u0000me";

/** The author of a transaction's inserted text (`null`: unknown). @type {import("@codemirror/state").AnnotationType<string | null>} */
export const authorAnnotation = Annotation.define();

/** Replace the whole attribution (after fetching it). @type {import("@codemirror/state").StateEffectType<Attribution>} */
export const setAttribution = StateEffect.define();

/** Give one author's text to another name. @type {import("@codemirror/state").StateEffectType<{from: string, to: string}>} */
export const renameAuthor = StateEffect.define();

/**
 * The names (authors) of people present, who get colors too, this person's own name, and the
 * colors the server gave the people present (author → color; theirs, not computed).
 * @type {import("@codemirror/state").StateEffectType<{people: string[], me: string, fixed?: Map<string, string>}>}
 */
export const setPeople = StateEffect.define();

/**
 * @typedef {object} Authorship
 * @property {Attribution} attribution  in UTF-16 units of the editor's text
 * @property {boolean} known  whether it came from the server (else all is unknown)
 * @property {string[]} people
 * @property {Map<string, string>} fixed  author → color of the people present
 * @property {string} me  this person's name as shown
 * @property {string} mine  the author of local typing: `ME`, or the name the server records
 * @property {Map<string, string>} colors  name → color, for everyone named
 * @property {import("@codemirror/view").DecorationSet} decorations
 */

/**
 * Who wrote a transaction's inserted text.
 * @param {Transaction} tr
 * @param {string} [mine]  the name local typing goes under (`ME` until the server says)
 * @returns {string | null}
 */
export function authorOf(tr, mine = ME) {
  const named = tr.annotation(authorAnnotation);
  if (named !== undefined) return named;
  return tr.annotation(Transaction.remote) ? null : mine;
}

/**
 * Carry `attribution` through a transaction's changes (mutates it).
 * @param {Attribution} attribution
 * @param {import("@codemirror/state").ChangeSet} changes
 * @param {string | null} author
 */
export function applyChanges(attribution, changes, author) {
  /** @type {[number, number, number][]} */
  const edits = [];
  changes.iterChanges((fromA, toA, fromB, toB) => edits.push([fromA, toA, toB - fromB]));
  for (const [from, to, inserted] of edits.reverse()) attribution.replace(from, to, inserted, author);
}

/**
 * The field for document `docId`.
 * @param {string} docId
 */
export function authorshipField(docId) {
  /**
   * @param {Attribution} attribution
   * @param {boolean} known
   * @param {string[]} people
   * @param {Map<string, string>} fixed
   * @param {string} me
   * @param {string} mine
   * @returns {Authorship}
   */
  const make = (attribution, known, people, fixed, me, mine) => {
    const names = [...attribution.names().map((n) => (n === ME ? me : n)), ...people, me];
    const colors = assignColors(docId, names, fixed);
    /** @type {RangeSetBuilder<Decoration>} */
    const builder = new RangeSetBuilder();
    for (const [start, length, author] of attribution.runs()) {
      if (author === null) continue;
      const name = author === ME ? me : author;
      const color = colors.get(name) ?? "";
      builder.add(
        start,
        start + length,
        Decoration.mark({ class: `cm-author ${tintClass(color)}`, attributes: { "data-author": name } }),
      );
    }
    return { attribution, known, people, fixed, me, mine, colors, decorations: builder.finish() };
  };

  return StateField.define({
    /** @returns {Authorship} */
    create: (state) => make(new Attribution(state.doc.length), false, [], new Map(), "", ME),
    update(value, tr) {
      let { attribution, known, people, fixed, me, mine } = value;
      let changed = false;
      if (tr.docChanged) {
        attribution = attribution.copy();
        applyChanges(attribution, tr.changes, authorOf(tr, mine));
        changed = true;
      }
      for (const effect of tr.effects) {
        if (effect.is(setAttribution)) {
          attribution = effect.value;
          known = true;
          changed = true;
        } else if (effect.is(renameAuthor)) {
          if (attribution === value.attribution) attribution = attribution.copy();
          attribution.rename(effect.value.from, effect.value.to);
          if (effect.value.from === ME) mine = effect.value.to;
          changed = true;
        } else if (effect.is(setPeople)) {
          people = effect.value.people;
          me = effect.value.me;
          fixed = effect.value.fixed ?? new Map();
          changed = true;
        }
      }
      return changed ? make(attribution, known, people, fixed, me, mine) : value;
    },
  });
}

/**
 * The decorations of `field`, to put in a compartment (so they can be switched off while
 * the field keeps counting).
 * @param {StateField<Authorship>} field
 */
export const authorshipMarks = (field) => EditorView.decorations.from(field, (value) => value.decorations);
