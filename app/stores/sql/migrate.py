"""Bringing a database's schema up to date with Alembic.

Several instances may start (and migrate) at once against one database. Alembic itself does
not guard against that: two processes that both find no ``alembic_version`` table both try to
create it, and one fails (seen: 1 or 2 of 3 concurrent ``collab migrate`` on a fresh
PostgreSQL database failed with UniqueViolation in 7 of 8 trials). So a migration first takes
a lock that only one process holds at a time, and the others, once they get it, find the
schema up to date and do nothing:

* PostgreSQL: a transaction-level advisory lock, released by the commit (or by the server if
  the process dies);
* SQLite: an exclusive ``flock`` on a file beside the database (one machine by nature), also
  released by the kernel if the process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# Any 64-bit number, the same in every process: "the collab schema is being migrated".
ADVISORY_LOCK_KEY = 0x636F6C6C6162  # "collab" in ASCII


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _locked_descriptor(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive lock (waits for the holder)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every migration not yet applied (a no-op on an up-to-date database). Safe to run
    from several processes at once: they take turns."""

    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")

    database = engine.url.database if engine.dialect.name == "sqlite" else None
    lock: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if database and database != ":memory:":
        lock = _async_file_lock(Path(database).with_name(Path(database).name + ".migrate-lock"))
    async with lock, engine.begin() as connection:
        await connection.run_sync(run)


@contextlib.asynccontextmanager
async def _async_file_lock(path: Path) -> AsyncIterator[None]:
    # flock blocks: wait for it in a thread, so that the event loop keeps running meanwhile.
    descriptor = await asyncio.to_thread(_locked_descriptor, path)
    try:
        yield
    finally:
        os.close(descriptor)  # releases the lock
