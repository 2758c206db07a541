"""Every bad input over a real WebSocket gets its documented answer, and presence is relayed.

Recoverable mistakes get an ``error`` message and the socket stays open (checked by using it
afterwards); protocol violations close it with 4400; unknown and deleted documents close
with 4404 and 4410.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from sdk.backoff import Backoff
from sdk.link import SessionEnded
from sdk.websocket import WSClient
from sync import ops, patches
from sync.client import SyncClient
from tests.app.live import (
    WAIT_SECONDS,
    LiveServer,
    closed_with,
    create_document,
    join,
    of_type,
    open_socket,
    receive_until,
    server_text,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

MAX_MESSAGE_BYTES = 4096
MAX_DOCUMENT_CHARS = 2000
EDITS_PER_SECOND = 5
EDIT_BURST = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(
        tmp_path_factory.mktemp("ws-protocol"),
        max_message_bytes=MAX_MESSAGE_BYTES,
        max_document_chars=MAX_DOCUMENT_CHARS,
        edits_per_second=EDITS_PER_SECOND,
        edit_burst=EDIT_BURST,
    ) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


@pytest.fixture
async def doc_id(server: LiveServer) -> str:
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, "hello world")
    return doc_id


def edit(
    text: str, base: int, client: str, seq: int, position: int, delete: int, insert: str
) -> dict[str, Any]:
    op = ops.replace(len(text), position, text[position : position + delete], insert)
    return {
        "type": "edit",
        "base": base,
        "client": client,
        "seq": seq,
        "patch": patches.patch_text(text, op),
    }


async def send(ws: ClientConnection, message: dict[str, Any] | str) -> None:
    await ws.send(message if isinstance(message, str) else json.dumps(message))


async def error_for(ws: ClientConnection, code: str) -> dict[str, Any]:
    return await receive_until(ws, of_type("error", code=code))


async def still_open(ws: ClientConnection) -> None:
    await send(ws, {"type": "ping", "at": 42})
    await receive_until(ws, of_type("pong", at=42))


async def joined_socket(
    server: LiveServer, doc_id: str, client: str
) -> tuple[ClientConnection, int, str]:
    ws = await open_socket(server, doc_id)
    _, rev, text = await join(ws, client)
    return ws, rev, text


# -- the join -------------------------------------------------------------------------------


async def test_join_answers_with_the_document_the_people_and_a_snapshot(
    server: LiveServer, doc_id: str
) -> None:
    async with await open_socket(server, doc_id) as ws:
        joined, rev, text = await join(ws, "raw-1", name="Ada", color="#123abc")
        assert joined["doc"] == {"id": doc_id, "title": doc_id}
        assert joined["person"]["name"] == "Ada"
        assert joined["person"]["color"] == "#123abc"
        assert joined["people"] == []
        assert joined["limits"]["max_message_bytes"] == MAX_MESSAGE_BYTES
        assert (rev, text) == (0, "hello world")


async def test_a_first_message_other_than_join_closes_4400(server: LiveServer, doc_id: str) -> None:
    async with await open_socket(server, doc_id) as ws:
        await send(ws, {"type": "ping"})
        answer = await error_for(ws, "protocol-violation")
        assert "join" in answer["message"]
        assert (await closed_with(ws))[0] == 4400


async def test_bad_json_before_joining_is_answered_then_closes_4400(
    server: LiveServer, doc_id: str
) -> None:
    async with await open_socket(server, doc_id) as ws:
        await send(ws, "{not json")
        await error_for(ws, "bad-json")
        assert (await closed_with(ws))[0] == 4400


@pytest.mark.parametrize(
    "fields",
    [
        {"client": "no spaces allowed"},
        {"client": "ok", "name": ""},
        {"client": "ok", "color": "red"},
        {"client": "ok", "since": -1},
        {"client": "ok", "full": "yes"},
    ],
)
async def test_a_bad_join_closes_4400(
    server: LiveServer, doc_id: str, fields: dict[str, Any]
) -> None:
    async with await open_socket(server, doc_id) as ws:
        await send(ws, {"type": "join", **fields})
        await error_for(ws, "protocol-violation")
        assert (await closed_with(ws))[0] == 4400


async def test_an_unknown_document_closes_4404(server: LiveServer) -> None:
    async with await open_socket(server, "no-such-document") as ws:
        await send(ws, {"type": "join", "client": "raw-1"})
        code, reason = await closed_with(ws)
        assert code == 4404
        assert "no-such-document" in reason


async def test_joining_at_a_future_revision_gets_an_error_then_a_snapshot(
    server: LiveServer, doc_id: str
) -> None:
    async with await open_socket(server, doc_id) as ws:
        await send(ws, {"type": "join", "client": "raw-1", "since": 99})
        await receive_until(ws, of_type("joined"))
        answer = await error_for(ws, "future-revision")
        assert "99" in answer["message"]
        snapshot = await receive_until(ws, of_type("snapshot"))
        assert (snapshot["rev"], snapshot["text"]) == (0, "hello world")


# -- bad messages that leave the socket open ------------------------------------------------


async def test_bad_json_gets_an_error_and_the_socket_keeps_working(
    server: LiveServer, doc_id: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await send(ws, '{"type": "edit", ')
        await error_for(ws, "bad-json")
        await send(ws, "[1, 2]")
        await error_for(ws, "bad-message")
        await send(ws, edit(text, rev, "raw-1", 1, 0, 0, "ok "))
        ack = await receive_until(ws, of_type("revision", seq=1))
        assert ack["rev"] == rev + 1
    assert await server_text(server, doc_id) == (1, "ok hello world")


async def test_an_unknown_message_type_gets_an_error(server: LiveServer, doc_id: str) -> None:
    ws, _, _ = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await send(ws, {"type": "dance"})
        answer = await error_for(ws, "bad-message")
        assert "dance" in answer["message"]
        await send(ws, {"type": "edit", "client": "raw-1", "seq": 1})
        answer = await error_for(ws, "bad-message")
        assert "base" in answer["message"]
        await still_open(ws)


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ("not a patch", "malformed-patch"),
        ("@@ -1,3 +1,4 @@\n hel\n+%zz\n", "malformed-patch"),
        ("@@ -1,3 +1,4 @@\n hel\n+%ED%A0%80\n", "malformed-patch"),  # an escaped surrogate
        ("@@ -1,3 +1,4 @@\n hel\n+%00\n", "invalid-text"),
        ("@@ -1,3 +1,4 @@\n hel\n+\x00\n", "invalid-text"),
        ("@@ -1,3 +1,4 @@\n hel\n+\ud800\n", "invalid-text"),  # a lone surrogate, raw
        ("@@ -1,3 +1,4 @@\n xyz\n+a\n", "patch-rejected"),
    ],
)
async def test_a_bad_patch_is_refused_naming_the_edit(
    server: LiveServer, doc_id: str, patch: str, code: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        # ensure_ascii keeps a lone surrogate as a JSON escape, which JSON allows.
        await send(ws, {"type": "edit", "base": rev, "client": "raw-1", "seq": 7, "patch": patch})
        answer = await error_for(ws, code)
        assert (answer["client"], answer["seq"]) == ("raw-1", 7)
        if code == "invalid-text":
            assert answer["codepoint"] in (0, 0xD800)
        await send(ws, edit(text, rev, "raw-1", 8, 0, 0, "still "))
        await receive_until(ws, of_type("revision", seq=8))
    assert (await server_text(server, doc_id))[1] == "still hello world"


async def test_an_edit_on_a_future_revision_is_refused(server: LiveServer, doc_id: str) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await send(ws, edit(text, rev + 5, "raw-1", 1, 0, 0, "x"))
        answer = await error_for(ws, "future-revision")
        assert (answer["client"], answer["seq"]) == ("raw-1", 1)
        await still_open(ws)


async def test_a_repeated_operation_is_acknowledged_again_and_applied_once(
    server: LiveServer, doc_id: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        first = edit(text, rev, "raw-1", 1, 0, 0, "A")
        await send(ws, first)
        ack = await receive_until(ws, of_type("revision", seq=1))
        await send(ws, first)  # the acknowledgement was lost, say: the same edit again
        again = await receive_until(ws, of_type("revision", seq=1))
        assert again == ack
        second = edit("A" + text, ack["rev"], "raw-1", 2, 1, 0, "B")
        await send(ws, second)
        await receive_until(ws, of_type("revision", seq=2))
        await send(ws, first)  # stale now: older than the newest edit of this client
        assert await receive_until(ws, of_type("revision", seq=1)) == ack
    assert await server_text(server, doc_id) == (rev + 2, "ABhello world")


async def test_a_message_over_the_size_limit_is_refused_and_the_socket_stays(
    server: LiveServer, doc_id: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        big = edit(text, rev, "raw-1", 3, 0, 0, "x" * MAX_MESSAGE_BYTES)
        await send(ws, big)
        answer = await error_for(ws, "message-too-large")
        assert (answer["client"], answer["seq"]) == ("raw-1", 3)
        assert str(MAX_MESSAGE_BYTES) in answer["message"]
        await still_open(ws)


async def test_an_edit_past_the_document_limit_is_refused(server: LiveServer, doc_id: str) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        chunk = "y" * (MAX_DOCUMENT_CHARS // 2)
        await send(ws, edit(text, rev, "raw-1", 1, 0, 0, chunk))
        ack = await receive_until(ws, of_type("revision", seq=1))
        await send(ws, edit(chunk + text, ack["rev"], "raw-1", 2, 0, 0, chunk))
        answer = await error_for(ws, "document-too-large")
        assert (answer["client"], answer["seq"]) == ("raw-1", 2)
        assert str(MAX_DOCUMENT_CHARS) in answer["message"]
        await still_open(ws)
    assert len((await server_text(server, doc_id))[1]) == len(chunk + text)


async def test_too_many_edits_per_second_are_refused_as_rate_limited(
    server: LiveServer, doc_id: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        count = EDIT_BURST * 3
        for seq in range(1, count + 1):
            await send(ws, edit(text, rev, "raw-1", seq, 0, 0, "r"))
        answers = [
            await receive_until(ws, lambda m: m.get("type") in ("revision", "error"))
            for _ in range(count)
        ]
        assert [a["seq"] for a in answers] == list(range(1, count + 1))
    limited = [a for a in answers if a["type"] == "error"]
    assert {a["code"] for a in limited} == {"rate-limited"}
    assert EDIT_BURST <= count - len(limited) < count
    assert (await server_text(server, doc_id))[1] == "r" * (count - len(limited)) + text


async def test_the_client_engine_resends_rate_limited_edits_and_loses_none(
    server: LiveServer, doc_id: str
) -> None:
    errors: list[dict[str, Any]] = []
    typist = WSClient(
        server.ws_url,
        doc_id,
        SyncClient("fast-typist"),
        on_message=lambda m: errors.append(m) if m.get("type") == "error" else None,
    )
    async with typist:
        await typist.wait_synced(WAIT_SECONDS)
        typed: list[str] = []
        # Type until the limit bites (it does quickly: one edit per round trip), and on.
        while len(typed) < 300 and (not errors or len(typed) < 60):
            typed.append("abcdefghij"[len(typed) % 10])
            typist.replace(len(typist.text), 0, typed[-1])
            await asyncio.sleep(0.003)
        await typist.wait_synced(WAIT_SECONDS)
    assert errors, "the typist should have hit the rate limit"
    assert {e["code"] for e in errors} == {"rate-limited"}
    assert not typist.client.rejected
    assert (await server_text(server, doc_id))[1] == "hello world" + "".join(typed)


# -- protocol violations after the join -----------------------------------------------------


async def test_a_binary_frame_closes_4400(server: LiveServer, doc_id: str) -> None:
    ws, _, _ = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await ws.send(b"\x00\x01binary")
        await error_for(ws, "protocol-violation")
        assert (await closed_with(ws))[0] == 4400


async def test_changing_the_client_id_mid_session_closes_4400(
    server: LiveServer, doc_id: str
) -> None:
    ws, rev, text = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await send(ws, edit(text, rev, "someone-else", 1, 0, 0, "x"))
        answer = await error_for(ws, "protocol-violation")
        assert "client" in answer["message"]
        assert (await closed_with(ws))[0] == 4400
    assert (await server_text(server, doc_id))[1] == text


async def test_a_second_join_closes_4400(server: LiveServer, doc_id: str) -> None:
    ws, _, _ = await joined_socket(server, doc_id, "raw-1")
    async with ws:
        await send(ws, {"type": "join", "client": "raw-1"})
        await error_for(ws, "protocol-violation")
        assert (await closed_with(ws))[0] == 4400


async def test_deleting_the_document_closes_its_sockets_4410(
    server: LiveServer, doc_id: str
) -> None:
    ws, _, _ = await joined_socket(server, doc_id, "raw-1")
    engine = WSClient(server.ws_url, doc_id, SyncClient("engine-1"), backoff=Backoff(0.01, 0.1))
    async with ws, engine:
        await engine.wait_synced(WAIT_SECONDS)
        async with server.http() as http:
            assert (await http.delete(f"/api/documents/{doc_id}")).status_code == 204
        code, reason = await closed_with(ws)
        assert code == 4410
        assert "deleted" in reason
        with pytest.raises(SessionEnded) as ended:
            await engine.wait_until(lambda: False, WAIT_SECONDS)
        assert ended.value.code == 4410


# -- presence -------------------------------------------------------------------------------


async def test_presence_join_update_and_leave_are_relayed(server: LiveServer, doc_id: str) -> None:
    seen: list[dict[str, Any]] = []
    watcher = WSClient(
        server.ws_url,
        doc_id,
        SyncClient("watcher"),
        name="Watcher",
        on_message=lambda m: seen.append(m) if m.get("type") == "presence" else None,
    )
    mover = WSClient(server.ws_url, doc_id, SyncClient("mover"), name="Grace", color="#00ff88")
    async with watcher:
        await watcher.wait_synced(WAIT_SECONDS)
        async with mover:
            await mover.wait_synced(WAIT_SECONDS)
            assert watcher.session in mover.people  # already there: listed in 'joined'
            session = mover.session
            assert session is not None
            await watcher.wait_until(lambda: session in watcher.people, WAIT_SECONDS)
            mover.set_presence(cursor=5, anchor=2)
            await watcher.wait_until(lambda: watcher.people[session]["cursor"] == 5, WAIT_SECONDS)
            person = watcher.people[session]
            assert (person["name"], person["color"], person["anchor"]) == ("Grace", "#00ff88", 2)
            mover.set_presence(name="Grace H.")
            await watcher.wait_until(
                lambda: watcher.people[session]["name"] == "Grace H.", WAIT_SECONDS
            )
        await watcher.wait_until(lambda: session not in watcher.people, WAIT_SECONDS)
    events = [(m["event"], m["person"]["session"]) for m in seen]
    assert events == [
        ("join", session),
        ("update", session),
        ("update", session),
        ("leave", session),
    ]
    assert all(m["person"]["name"] for m in seen)


async def test_bad_presence_gets_an_error_and_is_not_relayed(
    server: LiveServer, doc_id: str
) -> None:
    ws, _, _ = await joined_socket(server, doc_id, "raw-1")
    watcher, _, _ = await joined_socket(server, doc_id, "raw-2")
    async with ws, watcher:
        for bad in ({"cursor": -1}, {"cursor": True}, {"color": "blue"}, {"name": "x" * 65}):
            await send(ws, {"type": "presence", **bad})
            await error_for(ws, "bad-message")
        await send(ws, {"type": "presence", "cursor": 1})
        update = await receive_until(watcher, of_type("presence", event="update"))
        assert update["person"]["cursor"] == 1  # the first update the watcher saw
        assert update["person"]["name"] == "Raw"
