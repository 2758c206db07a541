/**
 * Your account (`/account`): who you are, your linked XMPP address, your password, your API
 * tokens, signing out; for administrators, invitation codes.
 * @module
 */

import { ApiError } from "../lib/api.js";
import {
  changePassword,
  createInvite,
  createToken,
  listTokens,
  me,
  revokeToken,
  signOut,
  signOutEverywhere,
} from "../lib/accounts.js";
import { byId, el, say } from "../lib/dom.js";
import { followTheme } from "../lib/theme.js";
import {
  POLL_MS,
  deadlineOf,
  durationText,
  jidOf,
  linkErrorText,
  pollOutcome,
  readLinkedJid,
  remainingText,
  requestLinkCode,
  unlinkXmpp,
  xmppUri,
} from "../lib/xmpp-link.js";

followTheme();

const message = byId("message");
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id));

/** @param {unknown} error */
function fail(error) {
  say(message, error instanceof ApiError ? error.message : String(error), "error");
}

async function renderTokens() {
  const { items } = await listTokens();
  byId("tokens").replaceChildren(
    ...items.map((token) =>
      el(
        "li",
        { dataset: { id: token.id } },
        el("span", { class: "token-name" }, token.name),
        ` (made ${token.created_at.slice(0, 10)}${token.expires_at ? `, expires ${token.expires_at.slice(0, 10)}` : ""}) `,
        el(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () =>
              revokeToken(token.id)
                .then(() => say(message, `Revoked the token “${token.name}”.`))
                .then(renderTokens)
                .catch(fail),
          },
          "Revoke",
        ),
      ),
    ),
  );
}

/**
 * "Your XMPP address": the linked address, asking for a code and watching for the link, and
 * unlinking. One attempt at a time: a new code replaces the one shown (as on the server).
 * @param {string} initial  the address linked now ("" for none)
 */
function xmppSection(initial) {
  const status = byId("xmpp-status");
  const steps = byId("xmpp-steps");
  const linkButton = byId("xmpp-link");
  const unlinkButton = byId("xmpp-unlink");
  const messageBox = input("xmpp-message");
  const countdown = byId("xmpp-countdown");
  let linked = initial;
  let asking = false;
  /** @type {{before: string, deadline: number, poll: number, tick: number} | null} */
  let attempt = null;

  const show = () => {
    byId("xmpp-jid").textContent = linked || "none";
    unlinkButton.hidden = !linked;
  };

  const stop = () => {
    if (!attempt) return;
    clearTimeout(attempt.poll);
    clearInterval(attempt.tick);
    attempt = null;
    steps.hidden = true;
  };

  const look = async () => {
    const current = attempt;
    if (!current) return;
    /** @type {{jid?: string, error?: unknown}} */
    let seen = {};
    try {
      seen = { jid: await readLinkedJid() };
    } catch (error) {
      seen = { error };
    }
    if (attempt !== current) return; // a new code, or unlinked, meanwhile
    if (seen.jid !== undefined) {
      linked = seen.jid;
      show();
    }
    const outcome = pollOutcome({ ...current, ...seen, now: Date.now() });
    switch (outcome) {
      case "linked":
        stop();
        linkButton.textContent = "Link an XMPP address";
        say(status, `Linked: ${linked}`);
        break;
      case "signed-out":
        stop();
        linkButton.textContent = "Link an XMPP address";
        say(status, linkErrorText(seen.error), "error");
        break;
      case "expired":
        stop();
        linkButton.textContent = "Get a new code";
        say(
          status,
          "The code has expired and no address was linked. Get a new code to try again.",
          "error",
        );
        break;
      case "wait":
        current.poll = window.setTimeout(look, POLL_MS);
    }
  };

  linkButton.addEventListener("click", async () => {
    if (asking) return;
    asking = true;
    linkButton.setAttribute("aria-busy", "true");
    try {
      const code = await requestLinkCode();
      stop();
      const deadline = deadlineOf(code, Date.now());
      messageBox.value = code.message;
      messageBox.size = Math.max(16, code.message.length + 2);
      byId("xmpp-send-to").textContent = code.send_to;
      byId("xmpp-within").textContent = durationText((deadline - Date.now()) / 1000);
      const until = byId("xmpp-until");
      until.textContent = new Date(deadline).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
      });
      until.setAttribute("datetime", new Date(deadline).toISOString());
      const open = /** @type {HTMLAnchorElement} */ (byId("xmpp-open"));
      open.href = xmppUri(code.send_to, code.message);
      const tick = () => {
        countdown.textContent = remainingText(deadline - Date.now());
      };
      tick();
      steps.hidden = false;
      linkButton.textContent = "Get a new code";
      say(status, `Waiting for “${code.message}” to reach ${code.send_to} from your XMPP account.`);
      attempt = {
        before: linked,
        deadline,
        poll: window.setTimeout(look, POLL_MS),
        tick: window.setInterval(tick, 1000),
      };
    } catch (error) {
      say(status, linkErrorText(error), "error");
    } finally {
      asking = false;
      linkButton.removeAttribute("aria-busy");
    }
  });

  byId("xmpp-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(messageBox.value);
      const to = byId("xmpp-send-to").textContent;
      say(status, `Message copied: paste it into a chat with ${to}, and send it.`);
    } catch {
      messageBox.focus();
      messageBox.select();
      say(status, "Press Ctrl+C (⌘C) to copy the selected message.");
    }
  });
  messageBox.addEventListener("focus", () => messageBox.select());

  unlinkButton.addEventListener("click", async () => {
    const was = linked;
    const question = `Unlink ${was}? It will no longer follow the documents shared with you.`;
    if (!was || !confirm(question)) return;
    try {
      const account = await unlinkXmpp();
      linked = jidOf(account);
      if (attempt) attempt.before = linked;
      show();
      linkButton.focus(); // the Unlink button is gone
      say(status, `Unlinked ${was}.`);
    } catch (error) {
      say(status, linkErrorText(error), "error");
    }
  });

  show();
}

async function main() {
  // The handlers before anything is awaited: a form submitted before its handler is there
  // reloads the page, losing what was typed.
  byId("logout").addEventListener("click", () =>
    signOut().then(() => location.assign("/login"), fail),
  );
  byId("logout-everywhere").addEventListener("click", () =>
    signOutEverywhere().then(() => location.assign("/login"), fail),
  );
  byId("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    changePassword(input("old-password").value, input("new-password").value)
      .then(() => {
        input("old-password").value = input("new-password").value = "";
        say(message, "Password changed. Your other sessions have ended.");
      })
      .catch(fail);
  });
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createToken(input("token-name").value.trim())
      .then((token) => {
        byId("new-token-value").textContent = token.token ?? "";
        byId("new-token").hidden = false;
        input("token-name").value = "";
        return renderTokens();
      })
      .catch(fail);
  });
  byId("invite").addEventListener("click", () =>
    createInvite()
      .then((invite) => {
        byId("invite-value").textContent = invite.code;
        byId("invite-code").hidden = false;
      })
      .catch(fail),
  );

  const who = await me();
  byId("who").textContent = who.account.display_name;
  byId("account-name").textContent = who.account.name;
  byId("admin").hidden = !who.account.admin;
  xmppSection(jidOf(who.account));
  await renderTokens();
}

main().catch(fail);
