"""Where ``collab login`` keeps API tokens: one per server, in the user's config directory.

``$COLLAB_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/collab``, else ``~/.config/collab``; the file
``credentials.json`` maps a server's URL to a token and is readable by its owner only.
``COLLAB_TOKEN`` in the environment wins over the file (for CI and scripts).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    explicit = os.environ.get("COLLAB_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "collab"


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def _read() -> dict[str, str]:
    try:
        data = json.loads(credentials_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def token_for(server: str) -> str | None:
    return os.environ.get("COLLAB_TOKEN") or _read().get(server.rstrip("/"))


def save_token(server: str, token: str | None) -> Path:
    """Keep (or, with None, forget) the token for ``server``; the file's path."""
    tokens = _read()
    if token is None:
        tokens.pop(server.rstrip("/"), None)
    else:
        tokens[server.rstrip("/")] = token
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created private, never widened after the fact: a token is a password.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(tokens, file, indent=2)
    os.chmod(path, 0o600)
    return path
