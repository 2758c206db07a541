"""Protocol fuzzing against a real server: valid messages mutated, and hostile ones made up.

Hypothesis builds sequences of WebSocket frames (edits, presence, pings, resyncs, joins;
their fields dropped, retyped, made huge, negative, non-finite, deeply nested or given lone
surrogates; patches with bad headers, escapes and numbers; truncated JSON, garbage, binary
frames) and sends each sequence over a fresh connection to one ``collab serve`` process
publishing to a real Prosody. Every answer must be strict JSON in valid UTF-8 with a
documented type and error code, never ``internal-error``; a connection either still answers
a ping afterwards or was closed with a close frame and 4400 (or 4403 for a client id of
another author's), never dropped. Afterwards the
server answers, a witness edits through the Python client engine, a bot following the
document over XMPP sees the result, and the server's log holds no traceback.

CI runs ``FUZZ_EXAMPLES`` connections (default 500: about 5,000 frames); ``make fuzz``
runs many more, with fresh examples each time.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sdk.websocket import WSClient
from sdk.xmpp.bot import DocumentBot
from sync import ops, patches
from sync.client import SyncClient
from tests.app.live import (
    WAIT_SECONDS,
    LiveServer,
    create_document,
    eventually,
    external_xmpp,
    open_socket,
    server_text,
    serving,
)
from tests.xmpp_support import ProsodyForTests, prosody  # noqa: F401 (a fixture)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))
# About 50 ms a connection, and time to shrink a failure.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600 + FUZZ_EXAMPLES // 5)]
TEXT = "The quick brown fox jumps over the lazy dog.\nZoë 😀 naïve café\r\n" * 4
MAX_MESSAGE_BYTES = 65_536

# What the server may send, and the error codes docs/protocol.md lists.
SERVER_TYPES = {
    "joined",
    "revision",
    "snapshot",
    "synced",
    "error",
    "pong",
    "presence",
    "renamed",
    "chat",
    "chat-history",
}
ERROR_CODES = {
    "bad-json",
    "bad-message",
    "message-too-large",
    "malformed-patch",
    "invalid-text",
    "future-revision",
    "stale-revision",
    "patch-rejected",
    "edit-too-complex",
    "document-too-large",
    "rate-limited",
    "busy",
    "protocol-violation",
    "forbidden",  # an operation id, or a client id, another author used first
    "chat-too-long",
}
# The documented closes for what a client sent: a protocol violation; a client id of
# another author's.
CLOSE_CODES = {4400, 4403}

# -- strategies -----------------------------------------------------------------------------

HOSTILE_NUMBERS = st.sampled_from(
    [0, -1, 1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30, 1.5, -0.0]
)
LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ud83d"])
STRINGS = st.one_of(
    st.text(max_size=12),
    LONE_SURROGATES,
    st.sampled_from(["", "x" * 70, "x" * 5000, "\x00", "\ufffe", "#e6194b", "9" * 400]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000), HOSTILE_NUMBERS, STRINGS, st.floats()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "type", "client", "seq", "base", "patch", "since", "full", "cursor", "anchor", "rev",
        "name", "color", "at", "extra",
    ]
)  # fmt: skip


@st.composite
def valid_patches(draw: st.DrawFn) -> str:
    position = draw(st.integers(0, len(TEXT)))
    deleted = draw(st.integers(0, min(20, len(TEXT) - position)))
    inserted = draw(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8)
    )
    op = ops.replace(len(TEXT), position, TEXT[position : position + deleted], inserted)
    return patches.patch_text(TEXT, op)


@st.composite
def hostile_patches(draw: st.DrawFn) -> str:
    patch = draw(valid_patches())
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return "@@ -" + "9" * draw(st.sampled_from([15, 17, 400, 5000])) + ",3 +1,4 @@\n abc\n+d\n"
    if kind == 1:
        return patch.replace("@@ -", "@@ -" + str(draw(HOSTILE_NUMBERS)), 1)
    if kind == 2:
        return patch + draw(st.sampled_from(["+%zz\n", "+%ED%A0%80\n", "+%00\n", "\n\n", "x\n"]))
    if kind == 3:
        return patch.replace("\n", "\n" + draw(LONE_SURROGATES), 1)
    if kind == 4:  # many hunks that match nothing
        count = draw(st.one_of(st.integers(1, 40), st.integers(1001, 1100)))
        return "".join(
            f"@@ -{16 * i + 1},8 +{12 * i + 1},4 @@\n wxyz\n-QQQQ\n" for i in range(count)
        )
    if kind == 5:
        return patch[: draw(st.integers(0, len(patch)))]
    if kind == 6:
        return draw(st.text(max_size=60))
    return patch * draw(st.integers(2, 5))


@st.composite
def valid_messages(draw: st.DrawFn, client: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["edit", "edit", "presence", "ping", "resync", "chat"]))
    if kind == "edit":
        return {
            "type": "edit",
            "base": draw(st.integers(0, 3)),
            "client": client,
            "seq": draw(st.integers(1, 40)),
            "patch": draw(st.one_of(valid_patches(), hostile_patches())),
        }
    if kind == "presence":
        fields = {
            "cursor": draw(st.integers(0, 300)),
            "anchor": draw(st.integers(0, 300)),
            "rev": draw(st.integers(0, 50)),
            "name": draw(st.sampled_from(["Ann", "Zoë", "😀"])),
            "color": "#3cb44b",
        }
        keep = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
        return {"type": "presence", **{k: fields[k] for k in keep}}
    if kind == "ping":
        return {"type": "ping", "at": draw(st.one_of(st.integers(0, 10**12), st.text(max_size=8)))}
    if kind == "chat":
        text = st.one_of(st.text(max_size=40), st.sampled_from(["x" * 2001, "\ud800", " ", "]]>"]))
        return {"type": "chat", "text": draw(text)}
    return {"type": "resync", "client": client, "since": draw(st.integers(0, 5))}


@st.composite
def mutated(draw: st.DrawFn, message: dict[str, Any]) -> dict[str, Any]:
    message = dict(message)
    numbers = [k for k, v in message.items() if isinstance(v, int) and not isinstance(v, bool)]
    strings = [k for k, v in message.items() if isinstance(v, str) and k != "type"]
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.integers(0, 4))
        if action == 0 and message:
            message.pop(draw(st.sampled_from(sorted(message))))
        elif action == 1 and numbers:  # a number out of range, the rest still valid
            message[draw(st.sampled_from(numbers))] = draw(HOSTILE_NUMBERS)
        elif action == 2 and strings:  # a string too long, or holding a lone surrogate
            message[draw(st.sampled_from(strings))] = draw(STRINGS)
        else:
            message[draw(KEYS)] = draw(VALUES)
    return message


def encode(message: object) -> str:
    # ensure_ascii keeps lone surrogates as JSON escapes (a raw one cannot be sent as UTF-8).
    return json.dumps(message, ensure_ascii=True)


@st.composite
def raw_frames(draw: st.DrawFn, client: str) -> str | bytes:
    kind = draw(st.integers(0, 12))
    if kind <= 4:
        return encode(draw(valid_messages(client)))
    if kind <= 8:
        return encode(draw(mutated(draw(valid_messages(client)))))
    if kind == 9:  # a number JSON forbids, or deep nesting, in place of a field
        base = encode(draw(valid_messages(client)))
        hostile = draw(
            st.sampled_from(
                ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "[" * 3000 + "]" * 3000]
            )
        )
        return base[:-1] + f', "at": {hostile}, "cursor": {hostile}' + "}"
    if kind == 10:
        text = encode(draw(valid_messages(client)))
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == 11:
        return draw(st.sampled_from(["[" * 200_000 + "]" * 200_000, "x" * (MAX_MESSAGE_BYTES + 1)]))
    if draw(st.booleans()):
        return draw(st.binary(max_size=20))
    return draw(st.text(max_size=40))


@st.composite
def connections(draw: st.DrawFn) -> tuple[str, str | bytes, list[str | bytes]]:
    client = f"fz-{draw(st.integers(0, 10**6))}"
    join: str | bytes = encode(
        {"type": "join", "client": client, "name": "Fuzz", "chat": draw(st.booleans())}
    )
    if draw(st.integers(0, 9)) == 0:
        join = draw(
            st.one_of(
                raw_frames(client),
                mutated({"type": "join", "client": client}).map(encode),
            )
        )
    frames = draw(st.lists(raw_frames(client), min_size=5, max_size=40))
    return client, join, frames


# -- the exchange ---------------------------------------------------------------------------


def check_answer(text: str | bytes) -> dict[str, Any]:
    assert isinstance(text, str), f"a binary frame from the server: {text!r}"
    text.encode("utf-8")  # no lone surrogate
    message: dict[str, Any] = orjson.loads(text)  # strict: no NaN, no escaped lone surrogate
    assert message.get("type") in SERVER_TYPES, message
    if message["type"] == "error":
        assert message["code"] in ERROR_CODES, message
        assert isinstance(message["message"], str)
    return message


async def exchange(server: LiveServer, doc_id: str, connection: Any) -> int:
    """Send one connection's frames; returns how many frames were sent."""
    _, join, frames = connection
    ws = await open_socket(server, doc_id, max_size=None, ping_interval=None)
    sent = 0
    try:
        for frame in [join, *frames]:
            await ws.send(frame)
            sent += 1
        token = f"end-{uuid.uuid4().hex[:8]}"
        await ws.send(encode({"type": "ping", "at": token}))
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                message = check_answer(await ws.recv())
                if message == {"type": "pong", "at": token}:
                    return sent
    except ConnectionClosed:
        await closed_properly(ws)
        return sent
    finally:
        await ws.close()


async def closed_properly(ws: ClientConnection) -> None:
    # Whatever arrived before the close must be valid too.
    await ws.wait_closed()
    close = ws.protocol.close_rcvd
    assert close is not None, "the server dropped the connection without a close frame"
    assert close.code in CLOSE_CODES, (close.code, close.reason)


# -- the test -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    prosody: ProsodyForTests,  # noqa: F811
) -> Iterator[LiveServer]:
    with serving(
        tmp_path_factory.mktemp("ws-fuzz"),
        **external_xmpp(prosody.service, "fuzz"),
        max_message_bytes=MAX_MESSAGE_BYTES,
        edits_per_second=10_000,
        edit_burst=10_000,
        sqlite_synchronous="normal",
    ) as live:
        yield live


def test_the_protocol_survives_fuzzing(
    server: LiveServer,
    prosody: ProsodyForTests,  # noqa: F811
) -> None:
    doc_id = f"fuzz-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_document(server, doc_id, TEXT))
    frames = 0

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(connections())
    def one_connection(connection: Any) -> None:
        nonlocal frames
        frames += asyncio.run(exchange(server, doc_id, connection))

    one_connection()
    assert frames >= FUZZ_EXAMPLES * 5  # thousands of frames in CI

    async def afterwards() -> None:
        # The server answers, a witness still edits, and a bot following over XMPP sees it.
        async with server.http() as http:
            assert (await http.get("/health")).status_code == 200
        account = prosody.account("fuzzbot")
        bot = DocumentBot(
            account.jid + "/fuzz",
            account.password,
            doc_id,
            host=account.host,
            port=account.port,
            pubsub=account.pubsub,
            name="Fuzz bot",
        )
        witness = WSClient(server.ws_url, doc_id, SyncClient("witness"), name="Witness")
        async with bot, witness:
            await witness.wait_synced(WAIT_SECONDS)
            await bot.wait_synced(WAIT_SECONDS)
            witness.replace(0, 0, "witnessed ")
            await witness.wait_synced(WAIT_SECONDS)
            assert witness.text.startswith("witnessed ")
            await eventually(lambda: bot.text == witness.text, what="the bot following")
        assert (await server_text(server, doc_id))[1] == witness.text

    asyncio.run(afterwards())
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, server.log()
    assert "internal-error" not in log and " ERROR " not in log, server.log()
