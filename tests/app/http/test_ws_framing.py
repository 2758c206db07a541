"""The frames ``FramingProtocol`` writes itself are what the websockets library reads back, at
every length encoding, and a live server uses that path."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import FastAPI
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.serving import FramingProtocol, text_frame, uvicorn_options
from sdk.sliced_reads import SLICE_BYTES
from tests.app.conftest import serve
from tests.app.live import masked, raw_websocket, server_frames


def read_frame(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def test_text_frames_of_every_length_encoding_read_back_exactly() -> None:
    for size in (0, 1, 125, 126, 127, 65_535, 65_536, 300_000):
        payload = b"a" * size
        data = text_frame(payload)
        frame = read_frame(data)
        assert frame.opcode is Opcode.TEXT
        assert frame.fin and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        assert bytes(frame.data) == payload
        assert len(data) == len(payload) + (2 if size < 126 else 4 if size < 65_536 else 10)


def test_the_server_runs_the_framing_protocol() -> None:
    assert uvicorn_options()["ws"] is FramingProtocol
    assert uvicorn_options()["ws_per_message_deflate"] is False


# -- reading: a slice at a time, and not from a peer that does not read ---------------------


async def created(url: str, doc_id: str) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        response = await http.post("/api/documents", json={"id": doc_id, "text": "hello"})
        assert response.status_code == 201, response.text


@pytest.mark.anyio
async def test_a_burst_in_one_write_is_read_whole_and_in_order(app: FastAPI) -> None:
    # Far more than one slice (SLICE_BYTES) and more than one read of the socket:
    # every message and every WebSocket ping answered, in the order sent.
    async with serve(app) as url:
        await created(url, "burst")
        reader, writer = await raw_websocket(url, "/ws/burst")
        burst = [masked(Opcode.TEXT, b'{"type":"join","client":"burst"}')]
        for n in range(3000):
            burst.append(masked(Opcode.TEXT, b'{"type":"ping","at":%d}' % n))
            if n % 10 == 0:
                burst.append(masked(Opcode.PING, b"%d" % n))
        data = b"".join(burst)
        assert len(data) > 16 * SLICE_BYTES
        writer.write(data)
        received = b""
        async with asyncio.timeout(30):
            while b'"at":2999' not in received:
                received += await reader.read(1 << 16)
        writer.close()
    frames = server_frames(received)
    pongs = [json.loads(bytes(f.data)) for f in frames if f.opcode is Opcode.TEXT]
    assert [m["at"] for m in pongs if m["type"] == "pong"] == list(range(3000))
    assert [bytes(f.data) for f in frames if f.opcode is Opcode.PONG] == [
        b"%d" % n for n in range(0, 3000, 10)
    ]


@pytest.mark.anyio
async def test_a_peer_that_does_not_read_its_answers_is_not_read_either(app: FastAPI) -> None:
    # Pings answered by pongs that are never read would pile up in the server's buffer
    # without end; instead the server stops reading, and the writer's sends stall.
    async with serve(app) as url:
        await created(url, "deaf")
        _, writer = await raw_websocket(url, "/ws/deaf", receive_buffer=64 * 1024)
        chunk = masked(Opcode.PING, b"p" * 125) * 500  # 65 KB of pings
        sent = 0
        try:
            while sent < 96 * 2**20:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 2.0)
                sent += len(chunk)
        except TimeoutError:
            pass
        finally:
            writer.transport.abort()
    # What the kernel buffers on both sides of loopback (9 MB here; the server's receive
    # buffer may grow to net.ipv4.tcp_rmem's maximum, 32 MB) and the server's own buffer up
    # to its high-water mark: well under what a server that reads on takes (all of it).
    assert sent < 48 * 2**20, f"the server read {sent / 2**20:.0f} MB from a peer reading nothing"
