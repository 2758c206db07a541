"""Two app instances in one process, sharing a database and an in-memory bus hub: what one
instance commits, its people, renames and deletions reach the other instance's sockets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from app.buses.memory import MemoryBus, MemoryHub
from app.config import Settings
from app.main import create_app
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.conftest import serve
from tests.app.live import closed_with, eventually, join, of_type, receive_until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@contextlib.asynccontextmanager
async def two_instances(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    hub = MemoryHub()
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", idle_unload_seconds=0, auth="off"
    )  # type: ignore[call-arg]
    first = create_app(settings, bus=MemoryBus(hub, name="a"))
    second = create_app(settings, bus=MemoryBus(hub, name="b"))
    async with serve(first) as a, serve(second) as b:
        yield a, b


async def test_edits_on_one_instance_reach_sockets_on_the_other(tmp_path: Path) -> None:
    async with two_instances(tmp_path) as (a, b):
        async with httpx.AsyncClient() as http:
            await http.post(f"{a}/api/documents", json={"title": "T", "id": "shared"})
        writer = WSClient(a, "shared", SyncClient("writer"), name="Ann")
        reader = WSClient(b, "shared", SyncClient("reader"), name="Bob")
        async with writer, reader:
            await writer.wait_synced()
            await reader.wait_synced()
            for i in range(20):
                writer.replace(len(writer.client.text), 0, f"{i};")
            await writer.wait_synced()
            want = "".join(f"{i};" for i in range(20))
            # Heard over the bus, not read back: the reader sends nothing meanwhile.
            await eventually(lambda: reader.client.text == want)
            assert reader.client.rev == writer.client.rev >= 2  # the client batches edits


async def test_people_renames_and_deletions_cross_instances(tmp_path: Path) -> None:
    async with two_instances(tmp_path) as (a, b), httpx.AsyncClient() as http:
        await http.post(f"{a}/api/documents", json={"title": "T", "id": "people"})
        async with (
            connect(f"{b.replace('http', 'ws')}/ws/people") as bob,
            connect(f"{a.replace('http', 'ws')}/ws/people") as ann,
        ):
            await join(bob, "bob", name="Bob")
            await join(ann, "ann", name="Ann")
            seen = await receive_until(bob, of_type("presence", event="join"))
            assert seen["person"]["name"] == "Ann"

            listed = (await http.get(f"{b}/api/documents/people")).json()
            assert sorted(p["name"] for p in listed["people"]) == ["Ann", "Bob"]

            await http.patch(f"{a}/api/documents/people", json={"title": "Renamed"})
            renamed = await receive_until(bob, of_type("renamed"))
            assert renamed["title"] == "Renamed"

            await ann.close()
            left = await receive_until(bob, of_type("presence", event="leave"))
            assert left["person"]["name"] == "Ann"

            assert (await http.delete(f"{a}/api/documents/people")).status_code == 204
            code, _ = await closed_with(bob)
            assert code == 4410


async def test_people_of_an_instance_that_goes_away_leave(tmp_path: Path) -> None:
    # Instance a's bus stops without relaying a leave for Ann (as a crash would): b is told
    # the instance is gone, and Ann leaves Bob's page and b's list.
    hub = MemoryHub()
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", idle_unload_seconds=0, auth="off"
    )  # type: ignore[call-arg]
    bus_a = MemoryBus(hub, name="a")
    first = create_app(settings, bus=bus_a)
    second = create_app(settings, bus=MemoryBus(hub, name="b"))
    async with serve(first) as a, serve(second) as b, httpx.AsyncClient() as http:
        await http.post(f"{a}/api/documents", json={"title": "T", "id": "gone"})
        async with (
            connect(f"{b.replace('http', 'ws')}/ws/gone") as bob,
            connect(f"{a.replace('http', 'ws')}/ws/gone") as ann,
        ):
            await join(bob, "bob", name="Bob")
            await join(ann, "ann", name="Ann")
            seen = await receive_until(bob, of_type("presence", event="join"))
            assert seen["person"]["name"] == "Ann"
            await bus_a.stop()
            left = await receive_until(bob, of_type("presence", event="leave"))
            assert left["person"]["name"] == "Ann"
            listed = (await http.get(f"{b}/api/documents/gone")).json()
            assert [p["name"] for p in listed["people"]] == ["Bob"]
