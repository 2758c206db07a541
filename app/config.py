"""Settings, from environment variables prefixed ``COLLAB_`` and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLLAB_", env_file=".env", extra="ignore")

    # Where the SQLite file (and, later, the managed XMPP server's files) live.
    data_dir: Path = Path("data")
    # Any SQLAlchemy async URL; empty means a SQLite file in data_dir. PostgreSQL works with
    # "postgresql+asyncpg://user@host/db".
    database_url: str = ""
    # "full" survives power loss; "normal" survives process crashes (SQLite only).
    sqlite_synchronous: str = Field("full", pattern="^(full|normal)$")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    # How many recent revisions a loaded document keeps for rebasing late edits.
    history_limit: int = Field(500, ge=1)
    # A snapshot of the text is stored every this many revisions, so opening a document
    # replays at most this many patches.
    snapshot_every: int = Field(100, ge=1)
    # A catch-up further behind than this gets a snapshot instead of revisions.
    max_catch_up: int = Field(1000, ge=1)
    # Seconds a document with nobody connected stays in memory.
    idle_unload_seconds: float = Field(30.0, ge=0)
    # Give freed memory back to the system after documents unload (glibc's malloc_trim;
    # app/memory.py). Off: the process keeps its peak size for reuse.
    release_memory: bool = True

    max_document_chars: int = Field(5_000_000, ge=1)
    max_message_bytes: int = Field(1_048_576, ge=1024)
    max_title_chars: int = Field(200, ge=1)
    edits_per_second: float = Field(50.0, gt=0)
    edit_burst: int = Field(200, ge=1)
    # Edits one client may have waiting for a document's next commit; more are refused as
    # rate-limited (a browser has one in flight; a bot may pipeline).
    max_waiting_edits: int = Field(64, ge=1)
    # Messages queued for one WebSocket before it counts as stuck and is closed.
    send_queue_limit: int = Field(1000, ge=1)
    # ...and the size of what they hold (characters), which one snapshot may exceed alone.
    send_queue_bytes: int = Field(32 * 1024 * 1024, ge=65_536)

    # XMPP: "managed" starts Prosody under data_dir; "external" connects to the server below;
    # "off" runs without XMPP (single-instance editing still works).
    xmpp_mode: str = Field("managed", pattern="^(managed|external|off)$")
    xmpp_jid: str = ""  # external: the service account, e.g. collab@example.org
    xmpp_password: str = ""
    xmpp_host: str = "127.0.0.1"
    xmpp_port: int = Field(5222, ge=0, le=65535)
    xmpp_pubsub: str = ""  # external: the pubsub service, e.g. pubsub.example.org
    # The multi-user chat service of documents' chat rooms (default: conference.<domain>).
    xmpp_muc: str = ""
    xmpp_domain: str = "localhost"  # managed: the virtual host Prosody serves
    # managed: the client port Prosody listens on (0 picks a free one)
    xmpp_managed_port: int = Field(15222, ge=0, le=65535)
    # This instance's resource; instances sharing the service account need different ones.
    xmpp_resource: str = ""
    # Plain SASL without TLS: only acceptable on loopback (the managed server has no TLS).
    xmpp_allow_plaintext: bool = True
    xmpp_connect_timeout: float = Field(10.0, ge=0)
    # managed: seconds before starting a Prosody that exited again (doubling, up to 30 s,
    # while restarts fail).
    xmpp_restart_delay: float = Field(1.0, ge=0)
    # /ready answers 503 while XMPP is down too, not only the database: for deployments of
    # several instances, where one without XMPP would keep its editors apart from the rest.
    ready_requires_xmpp: bool = False

    # -- who may do what (docs/security.md) --------------------------------------------------
    # "on": accounts, roles and share links are enforced. "off": anyone who can reach the
    # server may do anything (a private machine, and the engine's own tests).
    auth: str = Field("on", pattern="^(on|off)$")
    # Who may create an account: anyone, only with an administrator's invitation, or nobody
    # (administrators create them: `collab users create`).
    registration: str = Field("invite", pattern="^(open|invite|closed)$")
    # Documents from before accounts belong to the first administrator; may visitors who are
    # not signed in still open them, and how?
    legacy_access: str = Field("none", pattern="^(none|view|edit)$")
    session_days: float = Field(14.0, gt=0)
    min_password_chars: int = Field(8, ge=8, le=128)
    # How often open connections are checked against their access (a share revoked on
    # another instance, a session expired); a change made here is applied at once.
    access_recheck_seconds: float = Field(5.0, gt=0)
    # One instance sequences each document at a time (app/core/routing.py): the holder of
    # its lease, renewed every third of this while the document is loaded there. Others
    # forward edits to it, and take over when a forward gets no answer in
    # forward_timeout_seconds or the holder goes offline. Off: every instance sequences
    # what it receives (correct, slower on a document spread over instances).
    sequencer_routing: bool = True
    sequencer_lease_seconds: float = Field(15.0, ge=1, le=3600)
    forward_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Host headers the server answers to (comma-separated; "*" for any, ".example.org" for a
    # domain and its subdomains). Requests for another host get 400.
    allowed_hosts: str = "127.0.0.1,localhost,::1"
    # Origins allowed to call the REST API from a browser with CORS (comma-separated); empty:
    # CORS stays off. The server's own origin never needs to be listed.
    cors_origins: str = ""
    # Extra origins whose pages may open WebSockets and send cookie-authenticated requests
    # (the server's own origin, from the Host header, always may).
    trusted_origins: str = ""
    # Single sign-on through a reverse proxy that authenticates people and names them in this
    # header (e.g. "X-Forwarded-User"). Only requests from trusted_proxies are believed.
    proxy_auth_header: str = ""
    trusted_proxies: str = "127.0.0.1,::1"
    # Whether an unknown name in the proxy header gets an account made for it.
    proxy_auth_create: bool = True

    # The built web page (frontend/dist); empty means the one beside this package.
    frontend_dir: Path | None = None

    @staticmethod
    def items(value: str) -> list[str]:
        """A comma-separated setting as a list."""
        return [v.strip() for v in value.split(",") if v.strip()]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'collab.sqlite3').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
