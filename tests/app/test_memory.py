"""Memory goes back after a peak: closed connections leave no cycles for the collector, an
unloaded room is freed at once, and the heap is trimmed after documents unload."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from app.config import Settings
from app.core.rooms import Room
from app.main import create_app
from app.memory import MemoryRelease, glibc_trim
from tests.app.conftest import serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# What a closed connection or an unloaded document is made of, on the server's side. None of
# them may be left for the cycle collector once everything is closed.
SERVER_KINDS = frozenset(
    {
        "FramingProtocol",
        "UpgradingHttpToolsProtocol",
        "HttpToolsProtocol",
        "ServerProtocol",
        "Member",
        "Person",
        "WebSocketChannel",
        "Room",
        "GroupCommit",
        "Sequencer",
    }
)


@pytest.fixture
def collector_saving_garbage() -> Iterator[None]:
    """The collector keeps what it finds unreachable in ``gc.garbage`` instead of freeing it."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_closed_connections_and_unloaded_rooms_leave_no_cycles(
    tmp_path: Path, collector_saving_garbage: None
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        idle_unload_seconds=0,
        auth="off",
        allowed_hosts="127.0.0.1",
        xmpp_mode="off",
    )
    app: FastAPI = create_app(settings)
    async with serve(app) as url:
        await app.state.store.create("mem", "Memory", "hello")
        ws_url = url.replace("http", "ws") + "/ws/mem"
        for round_number in range(3):
            sockets = [await connect(ws_url, proxy=None) for _ in range(10)]
            for i, ws in enumerate(sockets):
                await ws.send(json.dumps({"type": "join", "client": f"r{round_number}c{i}"}))
                while json.loads(await ws.recv())["type"] not in ("snapshot", "synced"):
                    pass
            # Half leave politely, half drop the TCP connection without a close frame.
            for i, ws in enumerate(sockets):
                if i % 2:
                    await ws.close()
                else:
                    ws.transport.abort()
            for _ in range(200):  # until the server has let every member and the room go
                if not app.state.rooms.rooms:
                    break
                await asyncio.sleep(0.02)
            assert not app.state.rooms.rooms
        await asyncio.sleep(0.2)  # the server's side of the aborted ones is reaped
        gc.collect()
        left = sorted({type(o).__name__ for o in gc.garbage} & SERVER_KINDS)
    assert left == [], f"cycles kept these until a full collection: {left}"


async def test_an_unloaded_room_is_freed_without_the_collector(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", idle_unload_seconds=0, auth="off"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.store.create("freed", "Freed", "some text")
        room: Room | None = await app.state.rooms.acquire("freed")
        assert room is not None
        await room.submit_text("some more text", "me")  # the commit pipeline has run
        ref = weakref.ref(room)
        gc.disable()
        try:
            await app.state.rooms.release(room)
            del room
            await asyncio.sleep(0)
            assert ref() is None, "something still holds the unloaded room (a cycle?)"
        finally:
            gc.enable()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    # The trim's full collection takes a while in a test process full of objects.
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not in time")


async def test_one_trim_after_a_burst_of_unloads() -> None:
    calls: list[int] = []

    def trim() -> int:
        calls.append(1)
        return 1

    release = MemoryRelease(delay=0.05, trim=trim, min_unloads=5)
    for i in range(20):  # a wave of documents unloading within the delay
        await release.on_unload(f"doc-{i}")
        await asyncio.sleep(0.001)
    assert calls == []  # not during the wave
    await until(lambda: release.trims == 1)
    await asyncio.sleep(0.1)
    assert calls == [1]
    for i in range(4):  # a trickle: too few to be worth a collection
        await release.on_unload(f"one-{i}")
    await asyncio.sleep(0.2)
    assert calls == [1]
    await release.on_unload("fifth")
    await until(lambda: release.trims == 2)
    assert calls == [1, 1]
    await release.stop()


async def test_a_failing_trim_is_logged_and_nothing_else(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> int:
        raise OSError("no")

    release = MemoryRelease(delay=0.0, trim=broken, min_unloads=1)
    with caplog.at_level(logging.ERROR, logger="app.memory"):
        await release.on_unload("doc")
        await until(lambda: "malloc_trim failed" in caplog.text)
    assert release.trims == 0
    assert "malloc_trim failed" in caplog.text
    await release.stop()


def test_glibc_trim_is_found_and_runs_here() -> None:
    trim = glibc_trim()
    assert trim is not None, "these machines run glibc"
    assert trim() in (0, 1)  # 1: memory was given back, 0: there was none to give


def test_the_server_runs_under_the_c_allocator_unless_told_not_to(tmp_path: Path) -> None:
    from tests.app.live import LiveServer

    for release, expected in ((True, "malloc"), (False, None)):
        server = LiveServer(tmp_path / str(release), release_memory=release)
        server.start()
        try:
            assert server.process is not None
            environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
            found = [e[len(b"PYTHONMALLOC=") :] for e in environ if e.startswith(b"PYTHONMALLOC=")]
            assert (found[0].decode() if found else None) == expected
        finally:
            server.stop()
