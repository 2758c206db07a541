"""Several processes migrating one fresh database at once all succeed (``collab migrate``, as
several instances starting together would), on PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from tests.app.stores.conftest import DEFAULT_POSTGRES_URL, POSTGRES_URL_VARIABLE, run_aside

PROCESSES = 3
TRIALS = 3  # before the lock, 7 of 8 trials of 3 processes failed at least one


def migrate_at_once(database_url: str, data_dir: Path) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "COLLAB_DATA_DIR": str(data_dir), "COLLAB_DATABASE_URL": database_url}
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    finished = []
    for process in started:
        stdout, stderr = process.communicate(timeout=120)
        finished.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return finished


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


def assert_all_migrated(results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.startswith("database up to date"), result.stdout


@pytest.mark.parametrize("trial", range(TRIALS))
def test_concurrent_migrations_on_a_fresh_postgresql(
    fresh_postgres: str, tmp_path: Path, trial: int
) -> None:
    assert_all_migrated(migrate_at_once(fresh_postgres, tmp_path))
    # And once more on the now migrated database: nothing to do, still fine.
    assert_all_migrated(migrate_at_once(fresh_postgres, tmp_path))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_concurrent_migrations_on_a_fresh_sqlite_file(tmp_path: Path, trial: int) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    assert_all_migrated(migrate_at_once(url, tmp_path))
    lock = tmp_path / "shared.sqlite3.migrate-lock"
    assert lock.stat().st_mode & 0o777 == 0o600
