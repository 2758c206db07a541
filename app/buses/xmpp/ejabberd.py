"""ejabberd for the app: the configuration it needs, and a server run on loopback for tests and
local clusters.

:func:`ejabberd_config` writes the settings the app depends on, each of which a default
ejabberd (Debian's 23.01) gets wrong for it:

* only the service account may create nodes (``access_createnode``), as on Prosody;
* ``max_items_node`` raised to 10,000 (the default caps every node at 1,000): room above the
  1,000 items a revision node keeps (``sdk.xmpp.nodes.REVISION_MAX_ITEMS``);
* ``itemreply: publisher`` in every node's default configuration, so that events name who
  published an item: the app answers a bot's failed edit to its publisher;
* ``max_user_sessions`` raised (the default, 10 per account, made instances sharing the
  service account evict each other), and a ``fast`` c2s shaper for everyone: the default
  ``normal`` shaper (1,000 B/s) throttles a bot sending a large edit for seconds;
* client stanzas up to 256 KiB, as on Prosody: the app splits larger revisions into parts;
* an HTTP API on loopback only (``mod_http_api``), with which accounts are registered;
* documents' chat rooms on ``conference.<domain>`` (``mod_muc``), made only by the service
  account (``access_create``), each replaying its last 100 lines (``history_size``, default 20)
  and archiving every line (``mod_mam``, the rooms' ``mam`` option), so its history outlives
  a restart, and members-only from the moment it exists: ejabberd does not lock a new room until its
  owner configures it, and a stranger could slip in meanwhile.

:class:`ManagedEjabberd` runs ``erl`` with that configuration as the current user, with no
Erlang distribution (one node, nothing listening beyond its two loopback ports), in a
directory of its own, and stops it with SIGTERM (ejabberd shuts down cleanly on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.buses.xmpp.listeners import Listener, who_listens
from app.buses.xmpp.prosody import (
    XmppAccount,
    die_with_parent,
    free_port,
    private_dir,
    write_private,
)

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
STANZA_LIMIT_BYTES = 262_144
MAX_ITEMS_PER_NODE = 10_000
CHAT_HISTORY_LINES = 100


class EjabberdError(RuntimeError):
    pass


def ejabberd_config(
    domain: str,
    service_user: str,
    c2s_port: int,
    api_port: int,
    host: str = "127.0.0.1",
    certfiles: tuple[str, ...] = (),
) -> str:
    """The ``ejabberd.yml`` for the app (see the module's docstring for why each setting).

    ``host`` is where clients connect; the HTTP API always listens on loopback only. Without
    ``certfiles`` (PEM files with the domain's certificate and key) there is no TLS: fine on
    loopback, where the app allows plaintext, and nowhere else.
    """
    certificates = "".join(f'\n  - "{path}"' for path in certfiles) or " []"
    return f"""\
# Written by the collab app (app/buses/xmpp/ejabberd.py); docs/xmpp.md explains each setting.
hosts:
  - "{domain}"
loglevel: info
certfiles:{certificates}
listen:
  -
    port: {c2s_port}
    ip: "{host}"
    module: ejabberd_c2s
    max_stanza_size: {STANZA_LIMIT_BYTES}
    shaper: c2s_shaper
    access: c2s
  -
    port: {api_port}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
acl:
  service:
    user: "{service_user}@{domain}"
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  pubsub_createnode:
    allow: service
  muc_create:
    allow: service
api_permissions:
  "accounts from loopback":
    from: mod_http_api
    who:
      acl: loopback
    what:
      - register
      - unregister
      - status
      - join_cluster
      - list_cluster
shaper:
  normal:
    rate: 3000
    burst_size: 20000
  fast: 1000000
shaper_rules:
  max_user_sessions: 10000
  c2s_shaper: fast
auth_method: internal
default_db: mnesia
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  # Only where asked: rooms whose "mam" option is on (every documents' room, by default
  # below), so their history outlives a restart; people's own messages are not archived.
  mod_mam:
    default: never
  mod_roster: {{}}
  mod_pubsub:
    host: "pubsub.{domain}"
    access_createnode: pubsub_createnode
    plugins:
      - "flat"
    max_items_node: {MAX_ITEMS_PER_NODE}
    default_node_config:
      itemreply: publisher
  mod_muc:
    host: "conference.{domain}"
    access_create: muc_create
    access_persistent: muc_create
    history_size: {CHAT_HISTORY_LINES}
    default_room_options:
      mam: true
      persistent: true
      public: false
      members_only: true
"""


def _erlang_libs() -> str:
    """Where Debian keeps ejabberd's Erlang applications (``/usr/lib/<arch>``)."""
    found = sorted(glob.glob("/usr/lib/*/ejabberd-*/ebin"))
    if not found:
        raise EjabberdError("ejabberd is not installed (apt-get install -y ejabberd)")
    return str(Path(found[0]).parent.parent)


def ejabberd_available() -> bool:
    return shutil.which("erl") is not None and bool(glob.glob("/usr/lib/*/ejabberd-*/ebin"))


class ManagedEjabberd:
    """One ejabberd node on loopback, in ``directory``, with the app's configuration."""

    def __init__(
        self,
        directory: Path,
        *,
        domain: str = "localhost",
        service_user: str = "collab",
        port: int = 0,
        api_port: int = 0,
        node: str | None = None,
        cookie: str | None = None,
        service_password: str | None = None,
    ) -> None:
        """``node`` (with the ``cookie`` every node of the cluster shares) turns on Erlang
        distribution, which clustering needs; without it the node talks to nobody. Nodes
        that will form a cluster get the same ``service_password``: a node caches the
        password it registered, and keeps using it after joining."""
        if (node is None) != (cookie is None):
            raise ValueError("a node name and a cookie go together")
        self.node = node
        self.cookie = cookie
        self.directory = directory
        self.domain = domain
        self.service_user = service_user
        self.port = port or free_port()
        self.api_port = api_port or free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.account: XmppAccount | None = None
        self.service_password = service_password or secrets.token_hex(16)

    @property
    def pubsub_service(self) -> str:
        return f"pubsub.{self.domain}"

    @property
    def log_path(self) -> Path:
        return self.directory / "ejabberd.log"

    def _account(self, username: str, password: str) -> XmppAccount:
        return XmppAccount(
            f"{username}@{self.domain}", password, "127.0.0.1", self.port, self.pubsub_service
        )

    async def start(self) -> XmppAccount:
        """Start the node, register the service account, and return it."""
        private_dir(self.directory)
        spool = private_dir(self.directory / "spool")
        config = self.directory / "ejabberd.yml"
        write_private(
            config, ejabberd_config(self.domain, self.service_user, self.port, self.api_port)
        )
        environment = {
            **os.environ,
            "HOME": str(self.directory),  # where Erlang would keep a cookie
            "EJABBERD_CONFIG_PATH": str(config),
            "EJABBERD_LOG_PATH": str(self.log_path),
            "ERL_LIBS": _erlang_libs(),
            "ERL_CRASH_DUMP": str(self.directory / "erl_crash.dump"),
        }
        output = (self.directory / "erl.out").open("ab")
        distribution = []
        if self.node and self.cookie:
            distribution = ["-sname", self.node, "-setcookie", self.cookie]
        try:
            self.process = await asyncio.create_subprocess_exec(
                "erl",
                *distribution,
                # Sockets without Nagle's algorithm (Erlang's default keeps it, and ejabberd's
                # listeners do not turn it off): a small stanza written while another is
                # unacknowledged would wait for the peer's delayed ACK, up to 40 ms.
                # Accepted connections inherit the listening socket's options; outgoing
                # ones (to other servers, to other nodes) take the connect options.
                "-kernel",
                "inet_default_listen_options",
                "[{nodelay,true}]",
                "-kernel",
                "inet_default_connect_options",
                "[{nodelay,true}]",
                "-noinput",
                "-noshell",
                "-mnesia",
                "dir",
                f'"{spool}"',
                "-s",
                "ejabberd",
                env=environment,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # a killed parent leaves no node behind
            )
        finally:
            output.close()
        try:
            await self._wait_started()
            self.account = await self.register(self.service_user, self.service_password)
        except BaseException:
            await self.stop()
            raise
        log.info("ejabberd started on 127.0.0.1:%d", self.port)
        return self.account

    async def _api(self, command: str, body: dict[str, str]) -> str:
        url = f"http://127.0.0.1:{self.api_port}/api/{command}"
        data = json.dumps(body).encode()

        def call() -> str:
            request = urllib.request.Request(url, data=data, method="POST")
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=10) as response:
                return str(json.loads(response.read() or b'""'))

        return await asyncio.to_thread(call)

    async def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.returncode is not None:
                raise EjabberdError(f"ejabberd exited while starting:\n{self._log_tail()}")
            # A port another program listens on is one this node can never have: it would
            # answer for it (another ejabberd says "is running" just the same), or take our
            # connections.
            pid = self.process.pid
            ports = ((self.api_port, "API"), (self.port, "client"))
            owners = {port: who_listens(pid, "127.0.0.1", port) for port, _ in ports}
            for port, what in ports:
                if owners[port] is Listener.OTHER:
                    raise self._port_taken(port, what)
            # (UNKNOWN where /proc cannot tell: then the status alone decides.)
            if Listener.NONE not in owners.values():
                with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                    if "is running" in await self._api("status", {}):
                        return
            await asyncio.sleep(0.2)
        raise EjabberdError(f"ejabberd did not start in {START_TIMEOUT_SECONDS:g}s")

    def _port_taken(self, port: int, what: str) -> EjabberdError:
        return EjabberdError(
            f"port {port} on 127.0.0.1 (ejabberd's {what} port) is in use by another program, "
            f"so ejabberd could not listen there. Its log: {self.log_path}"
        )

    def _log_tail(self) -> str:
        texts = []
        for path in (self.log_path, self.directory / "erl.out"):
            with contextlib.suppress(OSError):
                texts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    async def join_cluster(self, other: ManagedEjabberd) -> None:
        """Make this node a member of ``other``'s cluster (its users, rosters and pubsub
        nodes become shared), and wait until it serves again.

        Joining restarts ejabberd on this node, so it is asked over Erlang distribution, from
        a hidden node of our own, as ``ejabberdctl join_cluster`` does: a request through the
        node's HTTP API would be cut off (with the join) when the API stops with it.
        """
        if not (self.node and self.cookie and other.node):
            raise EjabberdError("clustering needs nodes started with a name and a cookie")
        target = other.full_node
        call = (
            f"R = rpc:call('{self.full_node}', ejabberd_admin, join_cluster, "
            f'[<<"{target}">>], 60000), io:format("~p~n", [R]), halt().'
        )
        process = await asyncio.create_subprocess_exec(
            "erl",
            "-sname",
            f"ctl-{secrets.token_hex(4)}",
            "-setcookie",
            self.cookie,
            "-hidden",
            "-noinput",
            "-noshell",
            "-eval",
            call,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "HOME": str(self.directory)},
        )
        output, _ = await asyncio.wait_for(process.communicate(), START_TIMEOUT_SECONDS)
        answer = output.decode(errors="replace").strip()
        if answer != "ok":
            raise EjabberdError(f"{self.full_node} could not join {target}: {answer}")
        await self._wait_started()
        if target not in await self._api("list_cluster", {}):
            raise EjabberdError(f"{self.full_node} joined, but does not list {target}")
        # Accounts are the cluster's now: ours, made before joining, was replaced by theirs.
        if other.account is not None:
            self.account = self._account(other.service_user, other.account.password)

    @property
    def full_node(self) -> str:
        """The Erlang node name with its host, as other nodes reach it."""
        if self.node is None:
            return "nonode@nohost"
        return self.node if "@" in self.node else f"{self.node}@{socket.gethostname()}"

    async def register(self, username: str, password: str) -> XmppAccount:
        """Create an account (through the loopback HTTP API)."""
        try:
            await self._api(
                "register", {"user": username, "host": self.domain, "password": password}
            )
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise EjabberdError(f"registering {username}: {exc.code} {detail}") from exc
        return self._account(username, password)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m app.buses.xmpp.ejabberd``: print the configuration for a real deployment."""
    import argparse

    parser = argparse.ArgumentParser(description="Print an ejabberd.yml for the collab app.")
    parser.add_argument("--domain", required=True, help="the XMPP domain, e.g. example.org")
    parser.add_argument("--service-user", default="collab", help="the app's account (local part)")
    parser.add_argument("--c2s-port", type=int, default=5222)
    parser.add_argument("--api-port", type=int, default=5280, help="loopback HTTP API")
    parser.add_argument("--listen", default="0.0.0.0", help="address of the client port")
    parser.add_argument("--certfile", action="append", default=[], help="PEM for TLS (repeat)")
    arguments = parser.parse_args(argv)
    print(
        ejabberd_config(
            arguments.domain,
            arguments.service_user,
            arguments.c2s_port,
            arguments.api_port,
            host=arguments.listen,
            certfiles=tuple(arguments.certfile),
        ),
        end="",
    )


if __name__ == "__main__":
    main()
