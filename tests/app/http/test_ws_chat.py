"""Chat over a real WebSocket with XMPP off: lines reach every page of the document on this
instance, a page that opens later gets the recent ones (kept in memory, past the room's
unloading), and a line past a bound gets its precise error while the socket stays open. Only
connections that ask for the chat at ``join`` (``"chat": true``) are sent any of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from app.core.chat import CHAT_BURST, MAX_CHAT_CHARS
from tests.app.live import (
    LiveServer,
    create_document,
    join,
    of_type,
    open_socket,
    receive_until,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("ws-chat"), idle_unload_seconds=0) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


async def page(server: LiveServer, doc: str, name: str) -> tuple[ClientConnection, list[Any]]:
    ws = await open_socket(server, doc)
    await join(ws, f"c-{uuid.uuid4().hex[:8]}", name=name, chat=True)
    history = await receive_until(ws, of_type("chat-history"))
    return ws, history["messages"]


async def error_for(ws: ClientConnection, raw: str) -> dict[str, Any]:
    await ws.send(raw)
    return await receive_until(ws, lambda m: m.get("type") == "error")


async def test_lines_reach_every_page_and_later_pages_get_the_history(server: LiveServer) -> None:
    doc = f"chat-{uuid.uuid4().hex[:8]}"
    await create_document(server, doc, "text")
    ann, history = await page(server, doc, "Ann")
    assert history == []
    bob, _ = await page(server, doc, "Bob")
    # A client that did not ask for the chat at join gets none of it.
    plain = await open_socket(server, doc)
    await join(plain, "c-plain", name="Plain")
    await ann.send(json.dumps({"type": "chat", "text": "hello <b>&</b> 😀\r\nsecond line"}))
    for ws in (ann, bob):
        said = await receive_until(ws, of_type("chat"))
        message = said["message"]
        assert message["name"] == "Ann" and message["source"] == "page"
        assert message["text"] == "hello <b>&</b> 😀\nsecond line"
        assert isinstance(message["at"], int) and message["id"].startswith("c-")
        assert message["color"].startswith("#")
    await plain.send(json.dumps({"type": "ping", "at": 1}))
    pong = await receive_until(plain, lambda m: m.get("type") in ("pong", "chat", "chat-history"))
    assert pong["type"] == "pong", pong
    await plain.close()
    await ann.close()
    await bob.close()

    # Everyone left (the room unloads at once here): the lines are still there.
    carol, history = await page(server, doc, "Carol")
    assert [m["text"] for m in history] == ["hello <b>&</b> 😀\nsecond line"]
    await carol.close()


async def test_asking_for_the_chat_takes_true_or_false(server: LiveServer) -> None:
    doc = f"chat-{uuid.uuid4().hex[:8]}"
    await create_document(server, doc, "text")
    ws = await open_socket(server, doc)
    await ws.send(json.dumps({"type": "join", "client": "c-odd", "name": "A", "chat": "yes"}))
    answer = await receive_until(ws, of_type("error"))
    assert (answer["code"], answer["message"]) == (
        "protocol-violation",
        "'chat' must be true or false",
    )
    await ws.close()  # or its transport is left for the collector to find, in a later test


async def test_a_line_past_a_bound_gets_its_error_and_the_socket_stays(server: LiveServer) -> None:
    doc = f"chat-{uuid.uuid4().hex[:8]}"
    await create_document(server, doc, "text")
    ws, _ = await page(server, doc, "Ann")

    long = await error_for(ws, json.dumps({"type": "chat", "text": "x" * (MAX_CHAT_CHARS + 1)}))
    assert long == {
        "type": "error",
        "code": "chat-too-long",
        "message": f"a chat message may be at most {MAX_CHAT_CHARS} characters; this one has "
        f"{MAX_CHAT_CHARS + 1}",
        "about": "chat",
        "limit": MAX_CHAT_CHARS,
    }
    # A lone surrogate, which JSON lets through and XML cannot carry.
    lone = await error_for(ws, '{"type": "chat", "text": "ab\\ud800"}')
    assert (lone["code"], lone["position"], lone["codepoint"]) == ("invalid-text", 2, 0xD800)
    assert lone["about"] == "chat"
    control = await error_for(ws, json.dumps({"type": "chat", "text": "\x00"}))
    assert control["code"] == "invalid-text" and "U+0000" in control["message"]
    wrong = await error_for(ws, json.dumps({"type": "chat", "text": ["no"]}))
    assert (wrong["code"], wrong["message"]) == ("bad-message", "'text' must be a string")
    blank = await error_for(ws, json.dumps({"type": "chat", "text": "  "}))
    assert blank["code"] == "bad-message"

    # The rate: a burst, then refusals that say so (and nothing was sent for them).
    for index in range(CHAT_BURST + 3):
        await ws.send(json.dumps({"type": "chat", "text": f"line {index}"}))
    limited = await receive_until(ws, of_type("error", code="rate-limited"))
    assert "chat messages per second" in limited["message"] and limited["about"] == "chat"

    # Still open, and still editing.
    await ws.send(json.dumps({"type": "ping", "at": 7}))
    assert (await receive_until(ws, of_type("pong")))["at"] == 7
    await ws.close()
