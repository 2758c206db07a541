#!/usr/bin/env bash
# System packages the product needs: Prosody (the XMPP server the app manages) with its SQL
# storage driver, and Chromium for the browser tests (tests/browser: Playwright drives this
# system Chromium, since Playwright's own browser download is not available everywhere).
# Installed with apt-get where we can; otherwise we say what to install.
set -euo pipefail
# `--browser` adds what only the tests need: Chromium, HAProxy (the front door that
# tests/app/test_proxy.py puts before two instances) and ejabberd (the XMPP tests run on it as
# well as on Prosody); a deployment installs its own proxy and chooses its XMPP server.
packages=(prosody lua-dbi-sqlite3)
[ "${1:-}" = "--browser" ] && packages+=(chromium haproxy ejabberd)
missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
ls /usr/lib/*/liblua5.*-dbi-sqlite3.so* >/dev/null 2>&1 || missing+=(lua-dbi-sqlite3)
if [ "${1:-}" = "--browser" ]; then
  { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; } || missing+=(chromium)
  { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || missing+=(haproxy)
  ls -d /usr/lib/*/ejabberd-*/ebin >/dev/null 2>&1 || missing+=(ejabberd)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "Missing: ${missing[*]}. Install them as root: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null \
    || { $sudo apt-get update -q >/dev/null && \
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null; }
  # Debian's packages start a system-wide Prosody (and ejabberd) where they can; ours run
  # their own, on other ports.
  exit 0
fi
echo "Missing: ${missing[*]}. Install Prosody 0.12+ and its SQLite driver with your package manager," >&2
echo "or run with COLLAB_XMPP_MODE=off (no XMPP) or external (your own server)." >&2
echo "The browser tests need Chromium (COLLAB_CHROMIUM=/path/to/chromium if it is elsewhere)." >&2
exit 1
