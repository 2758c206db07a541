/**
 * The editor page's color picker: the palette as radio buttons (Tab reaches the group, the
 * arrow keys move and pick, as for any radio group), and a native color input for any other
 * color. A color someone else here has cannot be picked (the server would refuse it): its
 * button is disabled and says who has it.
 * @module
 */

import { el } from "./dom.js";
import { PALETTE } from "./identity.js";

/** What each palette color is called, for screen readers and tooltips. */
export const COLOR_NAMES = Object.freeze([
  "Red", "Teal", "Blue", "Orange", "Purple", "Green",
  "Magenta", "Gold", "Cyan", "Brown", "Indigo", "Deep orange",
]);

/**
 * @typedef {object} ColorOption
 * @property {string} color  `#rrggbb`
 * @property {string} label  its name, and who has it if someone else does
 * @property {boolean} checked  it is this person's color
 * @property {string | null} takenBy  who else has it
 */

/**
 * The palette as the picker shows it, for a person whose color is `current` where the others
 * present have `taken` (color → their name).
 * @param {string | null} current
 * @param {Map<string, string>} taken
 * @returns {ColorOption[]}
 */
export function pickerOptions(current, taken) {
  const mine = current?.toLowerCase() ?? null;
  return PALETTE.map((color, i) => {
    const takenBy = color === mine ? null : taken.get(color) ?? null;
    const name = COLOR_NAMES[i];
    return { color, label: takenBy ? `${name} (${takenBy} has it)` : name, checked: color === mine, takenBy };
  });
}

/**
 * Fill `group` with the palette's radio buttons and wire them and `custom` to `onPick`.
 * Returns `show`, which marks the current color and the taken ones; it updates the buttons in
 * place, so keyboard focus stays where it is while other people come and go.
 * @param {HTMLElement} group  a `role="radiogroup"` element
 * @param {HTMLInputElement} custom  an `<input type="color">`
 * @param {(color: string) => void} onPick
 */
export function bindColorPicker(group, custom, onPick) {
  const radios = PALETTE.map((color) => {
    const radio = /** @type {HTMLInputElement} */ (
      el("input", { type: "radio", name: "person-color", value: color, class: "visually-hidden" })
    );
    radio.addEventListener("change", () => {
      if (radio.checked) onPick(color);
    });
    return radio;
  });
  group.replaceChildren(
    ...radios.map((radio) =>
      el(
        "label",
        { class: "color-choice", dataset: { color: radio.value } },
        radio,
        el("span", { class: "swatch", "aria-hidden": "true", style: { "--person-color": radio.value } }),
      ),
    ),
  );
  custom.addEventListener("change", () => {
    const color = custom.value.toLowerCase();
    if (/^#[0-9a-f]{6}$/.test(color)) onPick(color);
  });

  /**
   * @param {string | null} current
   * @param {Map<string, string>} taken  color → the name of who else has it
   */
  return function show(current, taken) {
    pickerOptions(current, taken).forEach((option, i) => {
      const radio = radios[i];
      radio.checked = option.checked;
      radio.disabled = option.takenBy !== null;
      radio.setAttribute("aria-label", option.label);
      const label = /** @type {HTMLElement} */ (radio.parentElement);
      label.title = option.label;
      label.dataset.taken = option.takenBy === null ? "false" : "true";
    });
    if (current && /^#[0-9a-f]{6}$/i.test(current)) custom.value = current.toLowerCase();
  };
}
