"""Fixtures the core's tests share: a data directory, and a migrated SQLite store in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.stores.sql.store import SqlStore
from tests.app.core.test_rooms import make_settings, open_store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[SqlStore]:
    store = await open_store(make_settings(data_dir))
    yield store
    await store.engine.dispose()
