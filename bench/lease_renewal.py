"""What renewing its leases costs an instance that holds many documents open: one round of
``LeaseStore.claim_all`` against a ``claim`` per document (how rounds were made before), on
SQLite and on PostgreSQL.

    python -m bench.lease_renewal [--documents N] [--rounds R]

An instance renews every third of ``COLLAB_SEQUENCER_LEASE_SECONDS`` (every 5 s by default),
so N documents cost N / 5 transactions a second one by one. Prints the wall and CPU time of
one round each way, the better of R rounds, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.stores.sql.leases import SqlLeaseStore
from bench.databases import scratch_postgres, scratch_sqlite

TTL = timedelta(seconds=15)


async def timed(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    started, started_cpu = time.perf_counter(), time.process_time()
    await work()
    return (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


async def compare(
    engine: AsyncEngine, documents: int, rounds: int
) -> dict[str, tuple[float, float]]:
    leases = SqlLeaseStore(engine)
    doc_ids = [f"doc-{number}" for number in range(documents)]
    now = datetime.now(UTC)
    await leases.claim_all(doc_ids, "app/a", now, TTL)  # the rows exist, as while serving

    async def one_by_one() -> None:
        for doc_id in doc_ids:
            await leases.claim(doc_id, "app/a", datetime.now(UTC), TTL)

    async def all_at_once() -> None:
        await leases.claim_all(doc_ids, "app/a", datetime.now(UTC), TTL)

    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for name, work in (("a claim per document", one_by_one), ("claim_all", all_at_once)):
            wall, cpu = await timed(work)
            old = best.get(name)
            best[name] = (wall, cpu) if old is None else (min(old[0], wall), min(old[1], cpu))
    return best


async def on_sqlite(documents: int, rounds: int) -> dict[str, tuple[float, float]]:
    async with scratch_sqlite() as engine:
        return await compare(engine, documents, rounds)


async def on_postgres(documents: int, rounds: int) -> dict[str, tuple[float, float]]:
    async with scratch_postgres() as engine:
        return await compare(engine, documents, rounds)


async def main(documents: int, rounds: int) -> None:
    print(f"one renewal round of {documents} leases; ms (wall, cpu), best of {rounds}")
    for database, run in (("sqlite", on_sqlite), ("postgresql", on_postgres)):
        results = await run(documents, rounds)
        for name, (wall, cpu) in results.items():
            print(f"  {database:10} {name:22} {wall:9.1f} ms wall  {cpu:9.1f} ms cpu")
        ratio = results["claim_all"][1] / results["a claim per document"][1]
        print(f"  {database:10} claim_all / one by one, CPU: {ratio:.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.documents, arguments.rounds))
