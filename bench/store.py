"""What one append costs the server: SQLAlchemy with aiosqlite against the SQLite writer
thread (app/stores/sql/sqlite_writer.py), on SQLite with synchronous=FULL, and PostgreSQL
through asyncpg directly (app/stores/sql/postgres_append.py; it was SQLAlchemy's session,
1.2 ms of CPU per append).

    python -m bench.store [--appends N] [--batch B]

Prints milliseconds of wall and CPU time per append, each path measured twice, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from app.core.store import Commit
from app.stores.sql.store import SqlStore
from bench.databases import scratch_postgres, scratch_sqlite
from sync import ops, patches
from sync.protocol import Edit, OpId
from sync.server import Sequencer


async def measure(store: SqlStore, appends: int, batch: int) -> tuple[float, float]:
    await store.create("bench", "Bench", "")
    sequencer = Sequencer("", history_limit=batch + 1)
    seq = 0
    wall = cpu = 0.0
    for _ in range(appends):
        sequencer.checkpoint()
        commits = []
        for _ in range(batch):
            seq += 1
            current = sequencer.text
            op = ops.replace(len(current), len(current), "", "x")
            edit = Edit(sequencer.rev, OpId("c", seq), patches.patch_text(current, op))
            outcome = sequencer.accept(sequencer.propose(edit, "a"))
            commits.append(Commit(outcome.revision, outcome.op, outcome.text))
        sequencer.keep()
        started, started_cpu = time.perf_counter(), time.process_time()
        await store.append("bench", commits)
        wall += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
    return wall / appends * 1000, cpu / appends * 1000


async def sqlite(appends: int, batch: int, *, writer_thread: bool) -> tuple[float, float]:
    async with scratch_sqlite() as engine:
        store = SqlStore(engine)
        if not writer_thread:
            store._writer = None  # the SQLAlchemy path, as PostgreSQL takes it
        try:
            return await measure(store, appends, batch)
        finally:
            await store.close()


async def postgres(appends: int, batch: int) -> tuple[float, float]:
    async with scratch_postgres() as engine:
        store = SqlStore(engine)
        try:
            return await measure(store, appends, batch)
        finally:
            await store.close()


async def main(appends: int, batch: int) -> None:
    print(f"{appends} appends of {batch} revision(s) each; ms per append (wall, cpu)")
    results: dict[str, list[tuple[float, float]]] = {}
    for _round in range(2):
        for name, run in (
            ("sqlite, SQLAlchemy + aiosqlite", sqlite(appends, batch, writer_thread=False)),
            ("sqlite, writer thread", sqlite(appends, batch, writer_thread=True)),
            ("postgresql, asyncpg directly", postgres(appends, batch)),
        ):
            results.setdefault(name, []).append(await run)
    for name, runs in results.items():
        wall = min(r[0] for r in runs)
        cpu = min(r[1] for r in runs)
        print(f"  {name:34} {wall:7.3f} ms wall  {cpu:7.3f} ms cpu")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=400)
    parser.add_argument("--batch", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.appends, arguments.batch))
