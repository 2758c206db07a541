/**
 * Formatting for people: relative times and counts.
 * @module
 */

const UNITS = /** @type {const} */ ([
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
]);

/**
 * "just now", "5 minutes ago", "yesterday"...
 * @param {Date | string} when
 * @param {Date} [now]
 * @param {string} [locale]
 */
export function relativeTime(when, now = new Date(), locale = undefined) {
  const date = typeof when === "string" ? parseServerTime(when) : when;
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(Math.round(seconds / 60), "minute");
}

/**
 * The server sends UTC times; some without a zone suffix. Read them as UTC either way.
 * @param {string} text
 */
export function parseServerTime(text) {
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
  return new Date(zoned);
}

/**
 * A full local date and time, for tooltips.
 * @param {Date | string} when
 */
export function exactTime(when, locale = undefined) {
  const date = typeof when === "string" ? parseServerTime(when) : when;
  return date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium" });
}

/**
 * "1 unsent edit", "3 unsent edits".
 * @param {number} count
 * @param {string} singular
 * @param {string} [plural]
 */
export function plural(count, singular, plural = `${singular}s`) {
  return `${count} ${count === 1 ? singular : plural}`;
}
