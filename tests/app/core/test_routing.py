"""One sequencer per document: two instances sharing a database and a bus hub, with editors
on both. The instance that loaded the document first holds its lease and sequences every
edit; the other forwards. When the holder goes away, the other takes over, and nothing
acknowledged is lost.

The same over real XMPP (IQs between the service account's resources) is tested with three
instances in tests/app/buses/xmpp/test_three_instances.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.buses.memory import MemoryBus, MemoryHub
from app.config import Settings
from app.core.bus import Forwarded, ForwardFailed
from app.core.leases import MemoryLeases
from app.core.rooms import Room
from app.core.routing import SequencerRouting
from app.main import create_app
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.conftest import serve
from tests.app.live import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def routing_of(app: FastAPI) -> SequencerRouting:
    routing = app.state.rooms.routing
    assert isinstance(routing, SequencerRouting)
    return routing


@contextlib.asynccontextmanager
async def instance(
    settings: Settings, hub: MemoryHub, name: str
) -> AsyncIterator[tuple[str, FastAPI]]:
    app = create_app(settings, bus=MemoryBus(hub, name=name))
    async with serve(app) as url:
        yield url, app


async def type_words(client: WSClient, word: str, count: int) -> None:
    for number in range(count):
        client.replace(len(client.client.text), 0, f"{word}{number} ")
        await asyncio.sleep(0.005)
    await client.wait_synced(30)


async def test_the_lease_holder_sequences_and_the_other_instance_forwards(tmp_path: Path) -> None:
    hub = MemoryHub()
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", idle_unload_seconds=0, auth="off"
    )  # type: ignore[call-arg]
    async with (
        instance(settings, hub, "a") as (a, app_a),
        instance(settings, hub, "b") as (b, app_b),
    ):
        async with httpx.AsyncClient() as http:
            created = await http.post(f"{a}/api/documents", json={"title": "T", "id": "one"})
            assert created.status_code == 201
        ann = WSClient(a, "one", SyncClient("ann"), name="Ann")
        async with ann:
            await ann.wait_synced()
            assert await routing_of(app_a).holder_of("one") == "a"
            bob = WSClient(b, "one", SyncClient("bob"), name="Bob")
            async with bob:
                await bob.wait_synced()
                assert await routing_of(app_b).holder_of("one") == "a"
                await asyncio.gather(type_words(ann, "a", 40), type_words(bob, "b", 40))
                await eventually(lambda: ann.client.text == bob.client.text)
                assert ann.client.rev == bob.client.rev
                words = ann.client.text.split()
                assert sorted(words) == sorted(
                    [f"a{i}" for i in range(40)] + [f"b{i}" for i in range(40)]
                )
                # Every edit of Bob's went through Ann's instance; none of Ann's went anywhere.
                assert routing_of(app_b).forwarded >= 1
                assert routing_of(app_a).forwarded == 0
                async with httpx.AsyncClient() as http:
                    history = (await http.get(f"{a}/api/documents/one/revisions?limit=500")).json()
                revs = [r["rev"] for r in history["items"]]
                assert sorted(revs) == list(range(1, ann.client.rev + 1))  # once each, no gap

        # A leaves (its instance stops below); B's next edits find no holder to answer and B
        # takes the document over.
    async with instance(settings, hub, "b2") as (b2, app_b2):
        bob = WSClient(b2, "one", SyncClient("bob2"), name="Bob")
        async with bob:
            await bob.wait_synced()
            await type_words(bob, "c", 5)
            assert "c4" in bob.client.text
            assert await routing_of(app_b2).holder_of("one") == "b2"


async def test_a_holder_that_went_away_is_taken_over_before_its_lease_expires(
    tmp_path: Path,
) -> None:
    hub = MemoryHub()
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        idle_unload_seconds=0,
        auth="off",
        sequencer_lease_seconds=600,  # far longer than the test: only "gone" can free it
    )  # type: ignore[call-arg]
    async with instance(settings, hub, "b") as (b, app_b):
        async with httpx.AsyncClient() as http:
            await http.post(f"{b}/api/documents", json={"title": "T", "id": "two"})
        async with instance(settings, hub, "a") as (a, app_a):
            ann = WSClient(a, "two", SyncClient("ann"), name="Ann")
            async with ann:
                await ann.wait_synced()
                assert await routing_of(app_a).holder_of("two") == "a"
                bob = WSClient(b, "two", SyncClient("bob"), name="Bob")
                await bob.start()
                await bob.wait_synced()
                assert await routing_of(app_b).holder_of("two") == "a"
                await type_words(bob, "x", 3)
            # A is stopped without releasing in time for B to see it: B heard it go.
            await routing_of(app_a).leases.claim(  # as if A had crashed holding the lease
                "two", "a", datetime.now(UTC), timedelta(seconds=600)
            )
        try:
            await type_words(bob, "y", 5)
            assert "y4" in bob.client.text and "x2" in bob.client.text
            assert await routing_of(app_b).holder_of("two") == "b"
        finally:
            await bob.stop()


async def test_memory_leases_follow_the_rules() -> None:
    leases = MemoryLeases()
    now = datetime(2026, 11, 30, tzinfo=UTC)
    ttl = timedelta(seconds=10)
    assert (await leases.claim("d", "a", now, ttl)).holder == "a"
    assert (await leases.claim("d", "b", now + timedelta(seconds=5), ttl)).holder == "a"
    assert (await leases.claim("d", "b", now, ttl, take_from="a")).holder == "b"
    assert (await leases.claim("d", "a", now + timedelta(seconds=11), ttl)).holder == "a"  # expired
    await leases.release("d", "b")  # not b's: nothing happens
    assert (await leases.claim("d", "b", now + timedelta(seconds=12), ttl)).holder == "a"
    await leases.release("d", "a")
    assert (await leases.claim("d", "b", now + timedelta(seconds=12), ttl)).holder == "b"


class _CutOffBus:
    """A bus that cannot reach anyone: its own connection is down, or the holder is gone."""

    def __init__(self, name: str, *, holder_gone: bool) -> None:
        self.identity = name
        self.holder_gone = holder_gone

    async def forward(self, holder: str, doc_id: str, edit: object, author: str) -> object:
        raise ForwardFailed("no answer", holder_gone=self.holder_gone)


class _Room:
    doc_id = "d"


@pytest.mark.parametrize("holder_gone", [False, True])
async def test_a_failed_forward_takes_over_only_from_a_holder_that_is_gone(
    tmp_path: Path, holder_gone: bool
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    leases = MemoryLeases()
    await leases.claim("d", "a", datetime.now(UTC), timedelta(seconds=600))
    routing = SequencerRouting(leases, _CutOffBus("b", holder_gone=holder_gone), settings)  # type: ignore[arg-type]
    assert await routing.holder_of("d") == "a"
    # Whatever the reason, this edit is sequenced here (None): the head check keeps it safe.
    assert await routing.route(_Room(), object(), "ann", "websocket") is None  # type: ignore[arg-type]
    routing.known["d"].until = 0.0  # read the lease again now
    # Only a holder that is gone loses its lease; when our own bus is down, it keeps it.
    assert await routing.holder_of("d") == ("b" if holder_gone else "a")
    routing.holder_back("a")
    assert "a" not in routing.gone


# -- the revision carried back ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def holder_and_forwarder(data_dir: Path, text: str) -> AsyncIterator[tuple[Room, Room]]:
    """One document in one store, open in two registries: the holder's room and a
    forwarder's, as two instances on one database have them."""
    from tests.app.core.test_rooms import open_store, registry_for

    store = await open_store(Settings(_env_file=None, data_dir=data_dir))  # type: ignore[call-arg]
    try:
        await store.create("doc", "Doc", text)
        holder, forwarder = registry_for(store, data_dir), registry_for(store, data_dir)
        room_a, room_b = await holder.acquire("doc"), await forwarder.acquire("doc")
        try:
            yield room_a, room_b
        finally:
            await holder.release(room_a)
            await forwarder.release(room_b)
            await holder.close()
            await forwarder.close()
    finally:
        await store.engine.dispose()


async def test_a_forwarder_folds_the_carried_revision_and_only_the_next_one(
    tmp_path: Path,
) -> None:
    """The holder's answer carries the committed revision: the forwarder's room folds it in
    (and sends it to its members) when it is the next one there, and ignores it otherwise,
    or when it does not fold (a refresh then reads the truth from the store)."""
    from tests.app.core.test_rooms import FakeChannel, insert_at, make_member

    async with holder_and_forwarder(tmp_path / "data", "hello") as (room_a, room_b):
        channel = FakeChannel()
        member = make_member(channel)
        await room_b.join(member, 0, full=True, welcome={"type": "joined"})

        first = await room_a.submit(insert_at(room_a, "ann", 1, 5, " world"), "Ann")
        second = await room_a.submit(insert_at(room_a, "ann", 2, 0, ">"), "Ann")
        await room_b.fold_committed(second.revision)  # not the next one: left alone
        assert room_b.sequencer.rev == 0

        tampered = dataclasses.replace(first.revision, checksum="2:00000000:0")
        await room_b.fold_committed(tampered)  # does not fold: left alone, logged
        assert room_b.sequencer.rev == 0

        await room_b.fold_committed(first.revision)
        await room_b.fold_committed(first.revision)  # twice: once
        assert room_b.sequencer.rev == 1
        assert room_b.sequencer.text == "hello world"
        await eventually(lambda: [m["rev"] for m in channel.of_type("revision")] == [1])

        await room_b.refresh()  # what is missing comes from the store
        assert room_b.sequencer.text == room_a.sequencer.text == ">hello world"
        room_b.remove(member)
        await member.stop()


# -- waiting for the holder's publication ----------------------------------------------------


class _AnsweringBus:
    """A bus whose holder has already committed the forwarded edit: it answers ``answer``."""

    def __init__(self, name: str, answer: Forwarded) -> None:
        self.identity = name
        self.answer = answer

    async def forward(self, holder: str, doc_id: str, edit: object, author: str) -> Forwarded:
        return self.answer


@pytest.mark.parametrize("published", [True, False])
async def test_a_forwarder_behind_the_holder_waits_for_its_publication_before_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: bool
) -> None:
    """The holder committed someone else's edit before the forwarded one: the answer carries
    only the forwarded one's revision, which does not fold on the forwarder's older head. The
    holder's publication brings both right behind the answer: the forwarder waits for it and
    reads nothing from the store. When no publication comes, it reads the store after the
    wait, and the outcome is the same."""
    from tests.app.buses.test_bus_ingest import count_store_reads
    from tests.app.core.test_rooms import insert_at

    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    async with holder_and_forwarder(tmp_path / "data", "hello") as (room_a, room_b):
        first = await room_a.submit(insert_at(room_a, "ann", 1, 5, " world"), "Ann")
        edit = insert_at(room_a, "bob", 1, 0, ">")  # Bob's, forwarded by room_b's instance
        second = await room_a.submit(edit, "Bob")
        reads = count_store_reads(room_b, monkeypatch)

        leases = MemoryLeases()
        await leases.claim("doc", "a", datetime.now(UTC), timedelta(seconds=600))
        answer = Forwarded(second.revision.rev, "exact", second.revision)
        routing = SequencerRouting(leases, _AnsweringBus("b", answer), settings)  # type: ignore[arg-type]

        async def publish_soon() -> None:
            await asyncio.sleep(0.05)
            await room_b.fold_published([first.revision, second.revision])

        publication = asyncio.create_task(publish_soon()) if published else None
        outcome = await routing.route(room_b, edit, "Bob", "websocket")
        assert outcome is not None and outcome.revision == second.revision
        assert room_b.sequencer.text == room_a.sequencer.text == ">hello world"
        if published:
            assert reads == []
        else:
            assert reads[:1] == [0]  # from where the forwarder was, after the wait
        if publication is not None:
            await publication


async def test_waiting_for_a_head_ends_when_the_room_folds_it_or_after_the_timeout(
    tmp_path: Path,
) -> None:
    from tests.app.core.test_rooms import insert_at

    async with holder_and_forwarder(tmp_path / "data", "hi") as (room_a, room_b):
        assert await room_b.wait_for_head(0, timeout=0)  # there already
        assert not await room_b.wait_for_head(1, timeout=0.01)  # nothing comes
        first = await room_a.submit(insert_at(room_a, "ann", 1, 2, "!"), "Ann")
        waiting = asyncio.create_task(room_b.wait_for_head(1, timeout=30))
        await asyncio.sleep(0)
        assert not waiting.done()
        await room_b.fold_committed(first.revision)
        assert await asyncio.wait_for(waiting, 5)  # woken by the fold, long before 30 s
        second = asyncio.create_task(room_b.wait_for_head(2, timeout=30))
        await room_a.submit(insert_at(room_a, "ann", 2, 0, "<"), "Ann")
        await asyncio.sleep(0)
        await room_b.refresh()  # a store read moves the head too
        assert await asyncio.wait_for(second, 5)


async def test_edits_arriving_while_the_lease_is_read_share_one_reading(tmp_path: Path) -> None:
    class CountingLeases(MemoryLeases):
        def __init__(self) -> None:
            super().__init__()
            self.claims = 0

        async def claim(self, *args: Any, **kwargs: Any) -> Any:
            self.claims += 1
            await asyncio.sleep(0.01)  # a database round trip, during which more edits come
            return await super().claim(*args, **kwargs)

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    leases = CountingLeases()
    routing = SequencerRouting(leases, _CutOffBus("b", holder_gone=False), settings)  # type: ignore[arg-type]
    holders = await asyncio.gather(*(routing.holder_of("d") for _ in range(20)))
    assert holders == ["b"] * 20
    assert leases.claims == 1
    routing.known["d"].until = 0.0  # due again: the next edits read it again, once
    await asyncio.gather(*(routing.holder_of("d") for _ in range(5)))
    assert leases.claims == 2


async def test_renewing_reads_every_loaded_lease_in_one_go(tmp_path: Path) -> None:
    class CountingLeases(MemoryLeases):
        def __init__(self) -> None:
            super().__init__()
            self.claims = self.rounds = 0
            self.meanwhile: Callable[[], None] = lambda: None

        async def claim(self, *args: Any, **kwargs: Any) -> Any:
            self.claims += 1
            return await super().claim(*args, **kwargs)

        async def claim_all(self, *args: Any, **kwargs: Any) -> Any:
            self.rounds += 1
            self.claims -= len(args[0])  # MemoryLeases claims one by one underneath
            self.meanwhile()
            return await super().claim_all(*args, **kwargs)

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    leases = CountingLeases()
    await leases.claim("d3", "a", datetime.now(UTC), timedelta(seconds=600))
    await leases.claim("old", "b", datetime.now(UTC), timedelta(seconds=600))
    routing = SequencerRouting(leases, _CutOffBus("b", holder_gone=False), settings)  # type: ignore[arg-type]
    routing.loaded.update({"d1", "d2", "d3", "old"})
    await routing.renew_all()
    assert (leases.rounds, leases.claims) == (1, 2)  # one round; no claim of its own
    assert {d: k.holder for d, k in routing.known.items()} == {
        "d1": "b",
        "d2": "b",
        "d3": "a",
        "old": "b",
    }

    routing.holder_gone("a")  # d3's holder: taken over at the next renewal
    # "old" is unloaded (and its lease released) while the renewal reads the leases: the
    # renewal's claim made it ours again, and lets it go.
    leases.meanwhile = lambda: routing.loaded.discard("old")
    await routing.renew_all()
    assert routing.known["d3"].holder == "b"
    assert (await leases.claim("old", "c", datetime.now(UTC), timedelta(seconds=60))).holder == "c"
