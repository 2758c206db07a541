/**
 * Light or dark: what the person chose (remembered in localStorage), or the system's.
 * `data-theme` on <html> is always the one in effect ("light" or "dark"); until this runs,
 * the stylesheet follows the system by itself.
 * @module
 */

export const THEME_KEY = "collab.theme";
/** @typedef {"light" | "dark" | "system"} ThemeChoice */
export const CHOICES = /** @type {const} */ (["system", "light", "dark"]);

/**
 * @param {Pick<Storage, "getItem">} storage
 * @returns {ThemeChoice}
 */
export function loadChoice(storage) {
  let saved = null;
  try {
    saved = storage.getItem(THEME_KEY);
  } catch {
    // private mode: the system decides
  }
  return saved === "light" || saved === "dark" ? saved : "system";
}

/**
 * @param {ThemeChoice} choice
 * @param {boolean} systemDark
 * @returns {"light" | "dark"}
 */
export function resolveTheme(choice, systemDark) {
  if (choice === "system") return systemDark ? "dark" : "light";
  return choice;
}

/**
 * Apply the saved choice now and whenever the system's changes; returns a function that
 * records and applies a new choice.
 * @returns {(choice: ThemeChoice) => void}
 */
export function followTheme() {
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  let choice = loadChoice(localStorage);
  const apply = () => {
    const theme = resolveTheme(choice, media?.matches ?? false);
    document.documentElement.dataset.theme = theme;
    document.documentElement.dataset.themeChoice = choice;
  };
  media?.addEventListener?.("change", apply);
  apply();
  return (next) => {
    choice = next;
    try {
      if (next === "system") localStorage.removeItem(THEME_KEY);
      else localStorage.setItem(THEME_KEY, next);
    } catch {
      // not remembered
    }
    apply();
  };
}

/**
 * A <select> of the three choices, showing the saved one and applying what is picked.
 * @param {HTMLSelectElement} select
 * @param {(choice: ThemeChoice) => void} choose  what `followTheme` returned
 */
export function bindThemeSelect(select, choose) {
  select.value = loadChoice(localStorage);
  select.addEventListener("change", () => {
    const value = select.value;
    choose(value === "light" || value === "dark" ? value : "system");
  });
}
