"""``VersionStore`` on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.versions import Version
from app.stores.sql.models import VersionRow
from app.stores.sql.utc import aware


class SqlVersionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def name_version(self, version: Version) -> None:
        async with self.engine.begin() as connection:
            # Delete then insert, in one transaction: the same on both databases.
            await connection.execute(
                delete(VersionRow).where(
                    VersionRow.doc_id == version.doc_id, VersionRow.name == version.name
                )
            )
            await connection.execute(
                insert(VersionRow).values(
                    doc_id=version.doc_id,
                    name=version.name,
                    rev=version.rev,
                    created_by=version.created_by,
                    created_at=version.created_at,
                )
            )

    async def versions(self, doc_id: str) -> list[Version]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(
                    VersionRow.doc_id,
                    VersionRow.name,
                    VersionRow.rev,
                    VersionRow.created_by,
                    VersionRow.created_at,
                )
                .where(VersionRow.doc_id == doc_id)
                .order_by(VersionRow.rev.desc(), VersionRow.name)
            )
            return [
                Version(r.doc_id, r.name, r.rev, r.created_by, aware(r.created_at)) for r in rows
            ]

    async def count(self, doc_id: str) -> int:
        async with self.engine.connect() as connection:
            result = await connection.execute(
                select(func.count()).select_from(VersionRow).where(VersionRow.doc_id == doc_id)
            )
            return int(result.scalar_one())

    async def delete_version(self, doc_id: str, name: str) -> bool:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                delete(VersionRow).where(VersionRow.doc_id == doc_id, VersionRow.name == name)
            )
            return bool(result.rowcount)

    async def forget_document(self, doc_id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(VersionRow).where(VersionRow.doc_id == doc_id))
