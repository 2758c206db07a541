"""Throwaway databases for the storage benchmarks: a fresh SQLite file in a temporary
directory, or a fresh database on the local PostgreSQL (dropped afterwards), each migrated to
the project's schema."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import upgrade

POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@contextlib.asynccontextmanager
async def scratch_sqlite() -> AsyncIterator[AsyncEngine]:
    """An engine on a new SQLite database, configured as ``collab serve`` configures it."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(Settings(_env_file=None, data_dir=Path(folder)))
        await upgrade(engine)
        try:
            yield engine
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def scratch_postgres() -> AsyncIterator[AsyncEngine]:
    """An engine on a new PostgreSQL database, dropped (with its connections) afterwards."""
    name = f"collab_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = create_async_engine(POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name)
        await upgrade(engine)
        try:
            yield engine
        finally:
            await engine.dispose()
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
