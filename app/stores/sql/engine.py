"""The database engine: SQLite (WAL) by default, any SQLAlchemy async URL otherwise.

A SQLite database the app creates is private to its user: the file is made 0600 before
SQLite opens it (SQLite gives its -wal and -shm files the same mode), and a data directory
the app creates is 0700.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        _private_database(url, Path(settings.data_dir))
        engine = create_async_engine(url, connect_args={"timeout": 30})
        synchronous = settings.sqlite_synchronous.upper()

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers work while one writer commits; foreign keys make deletes
            # cascade; synchronous decides what a crash can cost.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _private_database(url: str, data_dir: Path) -> None:
    # An existing directory is the operator's choice (it may be shared); one we make is ours.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _, _, path = url.partition(":///")
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return
    database = Path(path)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created (or narrowed, if an earlier version made it 0644) before SQLite opens it.
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        companion = Path(f"{database}{suffix}")
        if companion.exists():
            companion.chmod(0o600)
