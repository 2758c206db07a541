"""The peers' own environment, ``bench/peers/.env/`` (git-ignored, rebuilt when a lock changes):

- ``venv/``: Python with pycrdt-websocket, pycrdt, uvicorn and websockets, from
  ``requirements.lock`` (pinned with hashes). The client processes run here too, with the
  project root on ``PYTHONPATH`` for our client (``sdk/``, ``sync/``), so every server is
  driven by the same interpreter and the same WebSocket library.
- ``node/``: ``@y/websocket-server`` and ``yjs``, installed by ``npm ci`` from ``node/``'s
  ``package.json`` and ``package-lock.json``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENV = HERE / ".env"
LOCK = HERE / "requirements.lock"
NODE_SOURCE = HERE / "node"


@dataclass(frozen=True, slots=True)
class PeersEnv:
    python: Path
    node: Path
    node_dir: Path

    @property
    def node_server(self) -> Path:
        return self.node_dir / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"

    def versions(self) -> dict[str, str]:
        """What is installed, for the report."""
        out = subprocess.run(
            [str(self.python), "-c", _VERSIONS], capture_output=True, text=True, check=True
        ).stdout
        versions = dict(line.split("=", 1) for line in out.split())
        for package in ("@y/websocket-server", "yjs", "ws", "y-protocols"):
            manifest = self.node_dir / "node_modules" / package / "package.json"
            if manifest.exists():
                versions[package] = _json_field(manifest, "version")
        node = subprocess.run([str(self.node), "--version"], capture_output=True, text=True)
        versions["node"] = node.stdout.strip().lstrip("v")
        return versions


_VERSIONS = """
import importlib.metadata as m, sys
for name in ("pycrdt-websocket", "pycrdt", "uvicorn", "websockets", "anyio"):
    print(f"{name}={m.version(name)}")
print(f"python={sys.version.split()[0]}")
"""


def _json_field(path: Path, field: str) -> str:
    import json

    return str(json.loads(path.read_text())[field])


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def _log(message: str) -> None:
    print(f"[env] {message}", file=sys.stderr, flush=True)


def ensure() -> PeersEnv:
    """Build what is missing or out of date; returns where things are."""
    ENV.mkdir(exist_ok=True)
    venv = ENV / "venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    want = _digest(LOCK)
    if not python.exists() or not stamp.exists() or stamp.read_text() != want:
        _log(f"creating {venv.relative_to(ROOT)} from {LOCK.name}")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True)
        stamp.write_text(want)

    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "node and npm are needed for @y/websocket-server: on Debian "
            "'apt-get install -y nodejs npm'"
        )
    node_dir = ENV / "node"
    manifests = (NODE_SOURCE / "package.json", NODE_SOURCE / "package-lock.json")
    stamp = node_dir / ".installed"
    want = _digest(*manifests)
    if not stamp.exists() or stamp.read_text() != want:
        _log(f"npm ci in {node_dir.relative_to(ROOT)}")
        shutil.rmtree(node_dir, ignore_errors=True)
        node_dir.mkdir()
        for manifest in manifests:
            shutil.copy(manifest, node_dir / manifest.name)
        # No install scripts: the only one is leveldown's native build, for a persistence
        # option (YPERSISTENCE) the benchmark does not use.
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=node_dir,
            check=True,
        )
        stamp.write_text(want)
    return PeersEnv(python, Path(node), node_dir)
