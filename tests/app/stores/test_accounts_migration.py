"""Upgrading a database from before accounts (revision 0001) keeps every document, and the
documents it kept have no owner (so they belong to the first administrator)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from app.core.accounts import Role
from app.stores.sql.accounts import SqlAccountStore
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import alembic_config, upgrade
from app.stores.sql.store import SqlStore
from tests.app.stores.support import sql_settings

pytestmark = pytest.mark.anyio


async def test_an_installation_from_before_accounts_keeps_its_documents(tmp_path: Path) -> None:
    engine = make_engine(sql_settings(tmp_path))

    def to_0001(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0001")

    async with engine.begin() as connection:
        await connection.run_sync(to_0001)
    store = SqlStore(engine)
    try:
        await store.create("old", "From before", "kept text")
        async with engine.connect() as connection:
            tables = await connection.run_sync(
                lambda c: set(c.dialect.get_table_names(c))  # type: ignore[attr-defined]
            )
        assert "accounts" not in tables
        await upgrade(engine)
        assert await store.text_at("old", 0) == "kept text"
        accounts = SqlAccountStore(engine)
        assert await accounts.owner_of("old") is None
        await accounts.set_role("old", "root", Role.OWNER)
        assert await accounts.documents_of("root") == ["old"]
        async with engine.connect() as connection:
            tables = await connection.run_sync(
                lambda c: set(c.dialect.get_table_names(c))  # type: ignore[attr-defined]
            )
        assert {"accounts", "sessions", "api_tokens", "invites", "grants", "share_links"} <= tables
    finally:
        await store.close()
