"""``collab cluster up``: a whole multi-instance deployment on this machine, in one command.

It starts, in order, and stops in reverse order when interrupted (Ctrl-C or SIGTERM):

1. the database: a PostgreSQL database (created if missing) that every instance shares;
2. one XMPP server for all instances (Prosody, or ejabberd with ``--xmpp ejabberd``), run
   here on a loopback port, with the app's service account;
3. N instances (``collab serve --fd``), each on its own port (bound here and handed down,
   so nothing else can take it meanwhile), data directory and XMPP resource, connected to
   that server in external mode, and each waited for until ``/ready``;
4. HAProxy in front (``collab proxy-config``), routing by document.

What it started, with process ids and addresses, is written to ``<data dir>/cluster.json``
while it runs. Each process's output goes to a log file in the data directory. ``COLLAB_*``
settings in the environment apply to every instance, except those the cluster sets itself
(data directory, database, XMPP connection, resource).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import typer
from sqlalchemy.engine import make_url

from app.buses.xmpp.ejabberd import ManagedEjabberd
from app.buses.xmpp.prosody import ManagedProsody, XmppAccount, die_with_parent
from app.cli.proxy import ProxyConfig, render

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/collab_cluster"


class ClusterError(RuntimeError):
    pass


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    address: str


@dataclass
class LocalCluster:
    data_dir: Path
    instances: int
    database_url: str
    xmpp: Literal["prosody", "ejabberd"] = "prosody"
    bind: str = "127.0.0.1:8080"
    host: str = "127.0.0.1"
    started: list[Started] = field(default_factory=list)
    xmpp_server: ManagedProsody | ManagedEjabberd | None = None

    @property
    def proxy_url(self) -> str:
        return f"http://{self.bind}"

    async def up(self) -> None:
        if shutil.which("haproxy") is None:
            raise ClusterError("HAProxy is not installed: apt-get install -y haproxy")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        database = await ensure_database(self.database_url)
        self.xmpp_server = (
            ManagedEjabberd(self.data_dir / "ejabberd")
            if self.xmpp == "ejabberd"
            else ManagedProsody(self.data_dir / "xmpp")
        )
        service = await self.xmpp_server.start()
        typer.echo(f"XMPP server ({self.xmpp}) on {service.host}:{service.port}")
        for number in range(1, self.instances + 1):
            self._start_instance(number, database, service)
        for instance in self.started:
            await wait_ready(instance, self.data_dir)
            typer.echo(f"instance {instance.name} ready on http://{instance.address}")
        self._start_proxy()
        await wait_ready(self.started[-1], self.data_dir)
        self._write_state()
        typer.echo(f"cluster up: {self.proxy_url} ({self.instances} instances)")

    def _start_instance(self, number: int, database: str, service: XmppAccount) -> None:
        name = f"instance{number}"
        # Bound here and handed down (``collab serve --fd``): a port found free and bound by
        # the instance a moment later could be taken in between, and then another server
        # would answer this instance's /ready (seen in CI, with two clusters starting at once).
        from app.serving import bound_socket  # here: every `collab` command imports this module

        listening = bound_socket(self.host)
        port = listening.getsockname()[1]
        # Other COLLAB_* settings (accounts, allowed hosts, limits) apply to every instance.
        environment = dict(os.environ)
        environment.update(
            {
                "COLLAB_DATA_DIR": str(self.data_dir / name),
                "COLLAB_DATABASE_URL": database,
                "COLLAB_XMPP_MODE": "external",
                "COLLAB_XMPP_JID": service.jid,
                "COLLAB_XMPP_PASSWORD": service.password,
                "COLLAB_XMPP_HOST": service.host,
                "COLLAB_XMPP_PORT": str(service.port),
                "COLLAB_XMPP_PUBSUB": service.pubsub,
                "COLLAB_XMPP_RESOURCE": name,
                "COLLAB_READY_REQUIRES_XMPP": "true",
            }
        )
        (self.data_dir / name).mkdir(exist_ok=True)
        with listening, (self.data_dir / f"{name}.log").open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--fd", str(listening.fileno())],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(listening.fileno(),),  # the instance's copy; ours closes here
                start_new_session=True,  # Ctrl-C reaches us; we stop the instances in order
                preexec_fn=die_with_parent,
            )
        self.started.append(Started(name, process, f"{self.host}:{port}"))

    def _start_proxy(self) -> None:
        config = self.data_dir / "haproxy.cfg"
        config.write_text(
            render(ProxyConfig(self.bind, [instance.address for instance in self.started]))
        )
        with (self.data_dir / "haproxy.log").open("ab") as output:
            process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.started.append(Started("haproxy", process, self.bind))

    def _write_state(self) -> None:
        processes = {s.name: {"pid": s.process.pid, "address": s.address} for s in self.started}
        server = self.xmpp_server
        if server is not None and server.process is not None:
            processes[self.xmpp] = {
                "pid": server.process.pid,
                "address": f"{self.host}:{server.port}",
            }
        state = {"proxy": self.proxy_url, "xmpp": self.xmpp, "processes": processes}
        (self.data_dir / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")

    async def down(self) -> None:
        """Stop everything this cluster started, newest first."""
        for started in reversed(self.started):
            await asyncio.to_thread(_stop_process, started.process)
        self.started.clear()
        if self.xmpp_server is not None:
            await self.xmpp_server.stop()
            self.xmpp_server = None
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "cluster.json").unlink()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # loopback, our own server
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def wait_ready(started: Started, data_dir: Path) -> None:
    """Until ``started`` (an instance, or HAProxy before them) answers ``/ready`` with 200;
    ClusterError with the end of its log if it exits first."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            log_text = (data_dir / f"{started.name}.log").read_text(errors="replace")
            raise ClusterError(f"{started.name} exited:\n{log_text[-2000:]}")
        if await asyncio.to_thread(_answers, f"http://{started.address}/ready"):
            return
        await asyncio.sleep(0.2)
    raise ClusterError(f"{started.name} was not ready in {READY_TIMEOUT_SECONDS:g}s")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def ensure_database(url: str) -> str:
    """Create the PostgreSQL database ``url`` names if it does not exist; return the URL the
    instances use (with the asyncpg driver)."""
    import asyncpg  # type: ignore[import-untyped]

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        raise ClusterError(f"a cluster needs PostgreSQL, not {target.drivername}")
    name = target.database
    if not name:
        raise ClusterError(f"the database URL names no database: {url}")
    admin = target.set(drivername="postgresql", database="postgres")
    try:
        connection = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        shown = admin.render_as_string(hide_password=True)
        raise ClusterError(f"cannot reach PostgreSQL at {shown}: {exc}") from exc
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = name.replace('"', '""')
            await connection.execute(
                f"CREATE DATABASE \"{quoted}\" TEMPLATE template0 ENCODING 'UTF8'"
            )
    finally:
        await connection.close()
    return target.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


cluster = typer.Typer(help="A local multi-instance deployment: database, XMPP, instances, proxy.")


@cluster.command()
def up(
    instances: Annotated[int, typer.Option(min=1, max=32, help="How many app instances")] = 3,
    bind: Annotated[str, typer.Option(help="Where the proxy listens")] = "127.0.0.1:8080",
    database_url: Annotated[
        str, typer.Option(help="A PostgreSQL database (created if missing)")
    ] = DEFAULT_DATABASE,
    xmpp: Annotated[str, typer.Option(help="prosody or ejabberd")] = "prosody",
    data_dir: Annotated[Path, typer.Option(help="Where logs and state go")] = Path("data/cluster"),
) -> None:
    """Start a local cluster and keep it running until Ctrl-C (or SIGTERM), then stop it."""
    if xmpp not in ("prosody", "ejabberd"):
        raise typer.BadParameter("--xmpp is prosody or ejabberd")
    local = LocalCluster(
        data_dir.resolve(),
        instances,
        database_url,
        "ejabberd" if xmpp == "ejabberd" else "prosody",
        bind,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for which in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(which, stop.set)
        try:
            await local.up()
            await stop.wait()
            typer.echo("stopping the cluster")
        finally:
            await local.down()
            typer.echo("cluster down")

    try:
        asyncio.run(run())
    except ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


if __name__ == "__main__":
    cluster()
