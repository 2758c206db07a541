"""Over a real WebSocket: each person present gets a color of their own, a person may ask for
another, and a join that asks is told who wrote the text of its snapshot."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as wsconnect

from app.core import colors
from sync import ops, patches
from tests.app.http.test_instances import two_instances
from tests.app.live import (
    LiveServer,
    closed_with,
    create_document,
    eventually,
    join,
    of_type,
    open_socket,
    receive_until,
    serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("ws-colors")) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


@pytest.fixture
async def doc_id(server: LiveServer) -> str:
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    await create_document(server, doc_id, "hello world")
    return doc_id


def presence_of(session: str, **fields: Any) -> Any:
    return lambda m: (
        m.get("type") == "presence"
        and m["person"]["session"] == session
        and all(m["person"].get(k) == v for k, v in fields.items())
    )


async def test_a_wish_is_kept_while_free_and_a_taken_one_refused(
    server: LiveServer, doc_id: str
) -> None:
    async with await open_socket(server, doc_id) as ann, await open_socket(server, doc_id) as bob:
        joined_ann, _, _ = await join(ann, "ann-1", name="Ann", color="#2E86DE")
        assert joined_ann["person"]["color"] == "#2e86de"
        joined_bob, _, _ = await join(bob, "bob-1", name="Bob", color="#2e86de")
        bobs = joined_bob["person"]["color"]
        assert bobs != "#2e86de" and bobs in colors.PALETTE
        assert [p["color"] for p in joined_bob["people"]] == ["#2e86de"]

        # Bob asks for Ann's color: refused, and told the one he keeps.
        await bob.send(json.dumps({"type": "presence", "color": "#2E86DE", "cursor": 1}))
        told = await receive_until(bob, presence_of(joined_bob["session"]))
        assert told["person"]["color"] == bobs
        # A free one is his, and Ann hears it.
        await bob.send(json.dumps({"type": "presence", "color": "#00AA77"}))
        heard = await receive_until(ann, presence_of(joined_bob["session"], color="#00aa77"))
        assert heard["event"] == "update"
        # The people of the document (REST) have the colors too.
        async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
            people = (await http.get(f"/api/documents/{doc_id}")).json()["people"]
        assert sorted(p["color"] for p in people) == ["#00aa77", "#2e86de"]


async def test_a_join_that_asks_is_told_who_wrote_the_snapshot(
    server: LiveServer, doc_id: str
) -> None:
    async with await open_socket(server, doc_id) as ann:
        await join(ann, "ann-2", name="Ann")
        text = "hello world"
        op = ops.replace(len(text), 5, "", ", dear")
        patch = patches.patch_text(text, op)
        edit = {"type": "edit", "base": 0, "client": "ann-2", "seq": 1, "patch": patch}
        await ann.send(json.dumps(edit))
        await receive_until(ann, of_type("revision", rev=1))

        async with await open_socket(server, doc_id) as bob:
            await bob.send(
                json.dumps({"type": "join", "client": "bob-2", "name": "Bob", "authorship": True})
            )
            snapshot = await receive_until(bob, of_type("snapshot"))
            told = await receive_until(bob, of_type("authorship"))
            assert told == {
                "type": "authorship",
                "rev": snapshot["rev"],
                "runs": [[0, 5, None], [5, 6, "Ann"], [11, 6, None]],
            }
            # A catch-up by revisions (a reconnect) is told too, at the revision it reaches.
            async with await open_socket(server, doc_id) as again:
                rejoin = {"type": "join", "client": "bob-2b", "since": 0, "authorship": True}
                await again.send(json.dumps(rejoin))
                await receive_until(again, of_type("synced", rev=1))
                assert (await receive_until(again, of_type("authorship")))["rev"] == 1
            # A full resync is a snapshot too: told again.
            await bob.send(
                json.dumps({"type": "resync", "client": "bob-2", "since": 0, "full": True})
            )
            await receive_until(bob, of_type("snapshot"))
            assert (await receive_until(bob, of_type("authorship")))["rev"] == 1

        # Not asked, not told; asked wrongly, closed.
        async with await open_socket(server, doc_id) as bad:
            wrong = {"type": "join", "client": "bad-2", "authorship": "yes"}
            await bad.send(json.dumps(wrong))
            refused = await receive_until(bad, of_type("error"))
            assert "'authorship'" in refused["message"]
            assert (await closed_with(bad))[0] == 4400
        async with await open_socket(server, doc_id) as cy:
            await join(cy, "cy-2", name="Cy")
            await cy.send(json.dumps({"type": "ping", "at": 7}))
            answer = await receive_until(cy, lambda m: m["type"] in ("authorship", "pong"))
            assert answer["type"] == "pong"


async def test_one_color_given_at_once_on_two_instances_is_settled(tmp_path: Path) -> None:
    """Ann and Bob join one document at the same moment on two instances, both asking for
    one color: the instances settle it, and both pages end up seeing the same two colors."""
    async with two_instances(tmp_path) as (a, b), httpx.AsyncClient() as http:
        await http.post(f"{a}/api/documents", json={"title": "T", "id": "clash"})
        async with (
            wsconnect(f"{a.replace('http', 'ws')}/ws/clash") as ann,
            wsconnect(f"{b.replace('http', 'ws')}/ws/clash") as bob,
        ):
            (joined_ann, _, _), (joined_bob, _, _) = await asyncio.gather(
                join(ann, "ann-3", name="Ann", color="#2e86de"),
                join(bob, "bob-3", name="Bob", color="#2e86de"),
            )
            # What each page knows: its own color and the other's, by session.
            seen: dict[str, dict[str, str]] = {
                "ann": {joined_ann["session"]: joined_ann["person"]["color"]},
                "bob": {joined_bob["session"]: joined_bob["person"]["color"]},
            }

            async def follow(name: str, socket: ClientConnection) -> None:
                while True:
                    message = json.loads(await socket.recv())
                    if message["type"] == "presence" and message["event"] != "leave":
                        seen[name][message["person"]["session"]] = message["person"]["color"]

            def settled() -> bool:
                views = list(seen.values())
                return (
                    all(len(v) == 2 for v in views)
                    and views[0] == views[1]
                    and len(set(views[0].values())) == 2
                )

            # Presence is not kept: an instance still opening the document when the other's
            # person joined learns of them at their next update, which a page sends at once.
            for socket in (ann, bob):
                await socket.send(json.dumps({"type": "presence", "cursor": 0, "rev": 0}))
            readers = [
                asyncio.create_task(follow("ann", ann)),
                asyncio.create_task(follow("bob", bob)),
            ]
            try:
                await eventually(settled, what="one view of two distinct colors")
            except TimeoutError:
                raise AssertionError(f"the pages see {seen}") from None
            finally:
                for reader in readers:
                    reader.cancel()
            # The one with the lesser session kept the color both asked for.
            first = min(seen["ann"])
            assert seen["ann"][first] == "#2e86de", seen
