"""``collab cluster up``: PostgreSQL, one XMPP server, two instances and HAProxy, started by one
command, working together, and all stopped by one signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.buses.xmpp.listeners import Listener, who_listens
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import free_port
from tests.app.stores.conftest import fresh_postgres  # noqa: F401  (a fixture)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone too, only not yet reaped by its parent.
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" not in status


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the cluster exited: {''.join(seen)}")
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} in time: {''.join(seen)}")


def cluster_up(tmp_path: Path, database: str, *options: str) -> subprocess.Popen[str]:
    """``collab cluster up`` with its data in ``tmp_path/cluster``, output on a pipe."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "cluster",
            "up",
            "--database-url",
            database,
            "--data-dir",
            str(tmp_path / "cluster"),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLLAB_AUTH": "off"},  # these tests are about the deployment
    )


async def type_and_see(first_url: str, second_url: str, doc_id: str) -> tuple[str, str]:
    """A person on each instance, connected directly: each sees the other's text."""
    one = WSClient(first_url, doc_id, SyncClient("on-one"), name="One")
    two = WSClient(second_url, doc_id, SyncClient("on-two"), name="Two")
    await one.start()
    await two.start()
    try:
        await one.wait_synced(timeout=10)
        await two.wait_synced(timeout=10)
        one.replace(0, 0, "hello")
        deadline = time.monotonic() + 15
        while two.text != "hello" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        two.replace(len(two.text), 0, " world")
        while one.text != "hello world" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return one.text, two.text
    finally:
        await one.stop()
        await two.stop()


@pytest.mark.parametrize("xmpp", ["prosody", "ejabberd"])
def test_cluster_up_serves_through_the_proxy_and_stops_everything(
    fresh_postgres: str,  # noqa: F811
    tmp_path: Path,
    xmpp: str,
) -> None:
    proxy = f"127.0.0.1:{free_port()}"
    process = cluster_up(
        tmp_path, fresh_postgres, "--instances", "2", "--bind", proxy, "--xmpp", xmpp
    )
    try:
        wait_for_line(process, "cluster up:", timeout=120)
        state = json.loads((tmp_path / "cluster" / "cluster.json").read_text())
        pids = [entry["pid"] for entry in state["processes"].values()]
        assert set(state["processes"]) == {"instance1", "instance2", "haproxy", xmpp}
        assert all(alive(pid) for pid in pids)
        for name in ("instance1", "instance2"):
            entry = state["processes"][name]
            host, port = entry["address"].rsplit(":", 1)
            owner = who_listens(entry["pid"], host, int(port))
            assert owner is Listener.OURS, f"{name}'s port: {owner}"

        with httpx.Client(base_url=f"http://{proxy}", trust_env=False, timeout=10) as http:
            created = http.post("/api/documents", json={"id": "shared", "title": "Shared"})
            assert created.status_code == 201, created.text
            first = "ws://" + state["processes"]["instance1"]["address"]
            second = "ws://" + state["processes"]["instance2"]["address"]
            # The instances fan out to each other through the one XMPP server.
            assert asyncio.run(type_and_see(first, second, "shared")) == (
                "hello world",
                "hello world",
            )
            text = http.get("/api/documents/shared/text")
            assert text.json()["text"] == "hello world"
            assert text.headers["x-collab-instance"] in {"instance1", "instance2"}

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pids if alive(pid)] == []
        assert not (tmp_path / "cluster" / "cluster.json").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            # Killed, it could not stop what it started: do it here.
            leftover = tmp_path / "cluster" / "cluster.json"
            if leftover.exists():
                for entry in json.loads(leftover.read_text())["processes"].values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(entry["pid"], signal.SIGKILL)
        assert process.stdout is not None
        process.stdout.close()


def test_a_killed_cluster_leaves_nothing_running(
    fresh_postgres: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # SIGKILL gives the cluster no chance to stop what it started: the kernel does, since
    # every process it starts is told to end with its parent (PR_SET_PDEATHSIG).
    process = cluster_up(
        tmp_path, fresh_postgres, "--instances", "1", "--bind", f"127.0.0.1:{free_port()}"
    )
    pids: list[int] = []
    try:
        wait_for_line(process, "cluster up:", timeout=120)
        state = json.loads((tmp_path / "cluster" / "cluster.json").read_text())
        pids = [entry["pid"] for entry in state["processes"].values()]
        assert len(pids) == 3 and all(alive(pid) for pid in pids)  # instance, proxy, Prosody
        process.kill()
        process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
