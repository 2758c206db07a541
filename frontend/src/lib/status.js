/**
 * The connection indicator's words.
 * @module
 */

import { plural } from "./format.js";

/**
 * @param {import("./connection.js").LinkState} state
 * @param {number} unsent  local edits not yet confirmed by the server
 * @param {boolean} caughtUp  the engine has every revision the server announced
 * @returns {string}
 */
export function statusText(state, unsent, caughtUp) {
  const pending = unsent > 0 ? ` · ${plural(unsent, "unsent edit")}` : "";
  switch (state) {
    case "connected":
      if (!caughtUp) return "Connected · catching up…";
      return unsent > 0 ? "Connected · saving…" : "Connected · all changes saved";
    case "connecting":
      return `Connecting…${pending}`;
    case "reconnecting":
      return `Reconnecting…${pending}`;
    case "offline":
      return `Offline${pending || " · your edits will be sent when you are back online"}`;
    case "closed":
      return unsent > 0 ? `Disconnected${pending}` : "Disconnected";
    default:
      return String(state);
  }
}
