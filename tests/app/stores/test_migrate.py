"""Several processes migrating one fresh database at once all succeed (``collab migrate``, as
several instances starting together would), on PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
