"""Fixtures for the store tests: every ``DocumentStore`` adapter, each on a real backend.

``store`` is parametrized over the three adapters, so a test that takes it runs three times:

* ``memory``: ``MemoryStore``;
* ``sqlite``: ``SqlStore`` on a SQLite file in the test's ``tmp_path`` (``make_engine`` and
  ``upgrade``, as the app opens it);
* ``postgresql``: ``SqlStore`` on a throwaway PostgreSQL database.

``sql_backend`` is the same for the SQL adapter alone (``sqlite`` and ``postgresql``), for tests
that open several stores on one database. Pick one backend with ``-k memory``, ``-k sqlite`` or
``-k postgresql``.

PostgreSQL: once per test session the suite connects to an admin database, creates its own
database ``collab_contract_<random hex>``, brings its schema up to date, empties its tables
before every test (so each test sees only its own documents) and drops it at the end with
``DROP DATABASE ... WITH (FORCE)``. The admin connection is taken from the environment:

    COLLAB_TEST_POSTGRES_URL=postgresql://USER[:PASSWORD]@HOST:PORT/ADMIN_DB

(default ``postgresql://postgres@127.0.0.1:5432/postgres``; the user must be allowed to create
databases, and PostgreSQL must be 13 or newer for ``WITH (FORCE)``). The stores reach the new
database through the same server and user with ``postgresql+asyncpg://``.

If that server cannot be reached, the PostgreSQL cases FAIL with a message saying so: a
missing database must not pass for a green suite. To leave them out on purpose (a machine
without PostgreSQL), set ``COLLAB_TEST_POSTGRES_URL=off``; only then are they skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from app.core.store import DocumentStore
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import upgrade
from sync.protocol import Revision
from tests.app.stores.support import ADAPTER_MODULES, Backend, Clock, sql_settings

POSTGRES_URL_VARIABLE = "COLLAB_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    # Also in tests/app/conftest.py; repeated so these tests need nothing from the app above.
    return "asyncio"


def run_aside(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a fresh event loop in another thread: the admin work on PostgreSQL
    happens in synchronous fixtures, which may be set up while a test's loop is running."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


# -- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresDatabase:
    name: str
    admin_dsn: str  # for asyncpg
    url: str  # for SqlStore: postgresql+asyncpg://...


_TABLES = ("snapshots", "revisions", "documents")  # children first


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabase]:
    """A migrated database of its own on the PostgreSQL server, for this test session."""
    configured = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    if configured == "off":
        pytest.skip(f"{POSTGRES_URL_VARIABLE}=off: the PostgreSQL cases are not run")
    admin = make_url(configured)
    admin_dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"collab_contract_{secrets.token_hex(6)}"

    async def create() -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            # template0 and UTF8: the text must hold any Unicode, whatever template1 is.
            await connection.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            )
        finally:
            await connection.close()

    failure = ""
    try:
        run_aside(create)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
    if failure:  # failed outside the except block, so pytest shows the message alone
        shown = admin.render_as_string(hide_password=True)
        pytest.fail(
            f"the store tests need PostgreSQL, and could not create a database through "
            f"{shown}: {failure}\n"
            f"Start PostgreSQL there, or point {POSTGRES_URL_VARIABLE} at an admin connection "
            f"of another server (postgresql://USER[:PASSWORD]@HOST:PORT/DB, a user allowed to "
            f"create databases), or set {POSTGRES_URL_VARIABLE}=off to skip the PostgreSQL "
            f"cases.",
            pytrace=False,
        )

    url = admin.set(drivername="postgresql+asyncpg", database=name)
    database = PostgresDatabase(name, admin_dsn, url.render_as_string(hide_password=False))

    async def migrate() -> None:
        settings = sql_settings(tmp_path_factory.mktemp("postgres"), database.url)
        engine = make_engine(settings)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    async def drop() -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    try:
        run_aside(migrate)
        yield database
    finally:
        run_aside(drop)


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    configured = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    if configured == "off":
        pytest.skip(f"{POSTGRES_URL_VARIABLE}=off: the PostgreSQL cases are not run")
    admin = make_url(configured)
    admin_dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"collab_migrate_{secrets.token_hex(6)}"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    run_aside(lambda: execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
    try:
        url = admin.set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        run_aside(lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_postgres(database: PostgresDatabase) -> None:
    async def empty() -> None:
        dsn = make_url(database.admin_dsn).set(database=database.name)
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
        try:
            for table in _TABLES:
                await connection.execute(f"DELETE FROM {table}")
        finally:
            await connection.close()

    run_aside(empty)


# -- the backends ---------------------------------------------------------------------------


def make_backend(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Backend:
    if kind == "postgresql":
        database: PostgresDatabase = request.getfixturevalue("postgres_database")
        empty_postgres(database)
        return Backend(kind, sql_settings(tmp_path, database.url))
    return Backend(kind, sql_settings(tmp_path))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request, request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request, request.param, tmp_path)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[DocumentStore]:
    """A store of the test's backend, taking snapshots every ``SNAPSHOT_EVERY`` revisions."""
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


# -- looking inside ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Time as the adapters see it; it stands still until the test calls ``tick``."""
    fake = Clock()
    for module in ADAPTER_MODULES:
        monkeypatch.setattr(module, "now", fake)
    return fake


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many revisions each replay (in any adapter) applied onto a snapshot, in order."""
    counts: list[int] = []
    for module in ADAPTER_MODULES:
        original: Callable[[str, Sequence[Revision]], str] = module.replay

        def counting(
            text: str,
            revisions: Sequence[Revision],
            original: Callable[[str, Sequence[Revision]], str] = original,
        ) -> str:
            counts.append(len(revisions))
            return original(text, revisions)

        monkeypatch.setattr(module, "replay", counting)
    return counts
