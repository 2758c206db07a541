"""Two small stores on every backend (memory, SQLite, PostgreSQL): named versions, and the
sequencer leases that decide which instance sequences a document."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.core.leases import LeaseStore, MemoryLeases
from app.core.versions import MemoryVersions, Version, VersionStore
from app.stores.sql.leases import SqlLeaseStore
from app.stores.sql.versions import SqlVersionStore
from tests.app.stores.support import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
async def stores(backend: Backend) -> AsyncIterator[tuple[VersionStore, LeaseStore, str]]:
    doc_id = f"d-{secrets.token_hex(4)}"  # PostgreSQL's database is shared by the session
    if backend.kind == "memory":
        yield MemoryVersions(), MemoryLeases(), doc_id
        return
    store = await backend.open_sql()
    try:
        await store.create(doc_id, "T", "")
        yield SqlVersionStore(store.engine), SqlLeaseStore(store.engine), doc_id
    finally:
        await store.close()


async def test_versions_are_named_moved_listed_and_removed(
    stores: tuple[VersionStore, LeaseStore, str],
) -> None:
    versions, _, doc = stores
    await versions.name_version(Version(doc, "draft", 1, "ann", T0))
    await versions.name_version(Version(doc, "final", 3, "bob", T0 + timedelta(seconds=1)))
    await versions.name_version(Version(doc, "a tie", 3, "bob", T0))
    listed = await versions.versions(doc)
    assert [(v.name, v.rev) for v in listed] == [("a tie", 3), ("final", 3), ("draft", 1)]
    assert listed[1] == Version(doc, "final", 3, "bob", T0 + timedelta(seconds=1))
    assert await versions.count(doc) == 3
    await versions.name_version(Version(doc, "draft", 2, "cy", T0))  # moved, not added
    assert [(v.name, v.rev, v.created_by) for v in await versions.versions(doc)][-1] == (
        "draft",
        2,
        "cy",
    )
    assert await versions.count(doc) == 3
    assert await versions.delete_version(doc, "draft") is True
    assert await versions.delete_version(doc, "draft") is False
    await versions.forget_document(doc)
    assert await versions.versions(doc) == []


async def test_leases_are_claimed_renewed_taken_over_and_released(
    stores: tuple[VersionStore, LeaseStore, str],
) -> None:
    _, leases, doc = stores
    ttl = timedelta(seconds=15)
    first = await leases.claim(doc, "app/a", T0, ttl)
    assert (first.holder, first.expires_at) == ("app/a", T0 + ttl)
    # Held: another instance only learns who holds it.
    assert (await leases.claim(doc, "app/b", T0 + timedelta(seconds=5), ttl)).holder == "app/a"
    # Renewed by its holder.
    renewed = await leases.claim(doc, "app/a", T0 + timedelta(seconds=10), ttl)
    assert renewed.expires_at == T0 + timedelta(seconds=25)
    # Taken from a holder known to be gone, before it expires.
    taken = await leases.claim(doc, "app/b", T0 + timedelta(seconds=11), ttl, take_from="app/a")
    assert taken.holder == "app/b"
    # Expired: anyone's.
    later = T0 + timedelta(seconds=60)
    assert (await leases.claim(doc, "app/c", later, ttl)).holder == "app/c"
    await leases.release(doc, "app/b")  # not b's any more: nothing happens
    assert (await leases.claim(doc, "app/a", later, ttl)).holder == "app/c"
    await leases.release(doc, "app/c")
    assert (await leases.claim(doc, "app/a", later, ttl)).holder == "app/a"


async def test_leases_are_claimed_all_at_once_as_one_by_one(
    stores: tuple[VersionStore, LeaseStore, str],
) -> None:
    """``claim_all``: what an instance renews every few seconds, for every document it holds
    open. Each lease ends as ``claim`` would leave it: ours renewed, another's live one left
    alone, an expired one taken, a missing one made."""
    _, leases, doc = stores
    ttl = timedelta(seconds=15)
    ours, theirs, expired, missing = (f"{doc}-{name}" for name in ("o", "t", "e", "m"))
    await leases.claim(ours, "app/a", T0 - timedelta(seconds=5), ttl)
    await leases.claim(theirs, "app/b", T0, ttl)
    await leases.claim(expired, "app/b", T0 - timedelta(seconds=60), ttl)
    claimed = await leases.claim_all([ours, theirs, expired, missing], "app/a", T0, ttl)
    assert {d: lease.holder for d, lease in claimed.items()} == {
        ours: "app/a",
        theirs: "app/b",
        expired: "app/a",
        missing: "app/a",
    }
    assert all(lease.expires_at == T0 + ttl for lease in claimed.values())
    assert all(lease.doc_id == d for d, lease in claimed.items())
    # What was written is what a single claim then finds.
    assert (await leases.claim(missing, "app/b", T0, ttl)).holder == "app/a"
    assert (await leases.claim(theirs, "app/a", T0, ttl)).holder == "app/b"

    # More documents than one statement takes (SQLite's limit on bound parameters).
    many = [f"{doc}-{number}" for number in range(1_100)]
    claimed = await leases.claim_all(many, "app/c", T0, ttl)
    assert sorted(claimed) == sorted(many)
    assert {lease.holder for lease in claimed.values()} == {"app/c"}
    renewed = await leases.claim_all(many, "app/c", T0 + timedelta(seconds=5), ttl)
    assert {lease.expires_at for lease in renewed.values()} == {T0 + timedelta(seconds=20)}
