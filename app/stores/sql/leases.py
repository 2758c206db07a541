"""``LeaseStore`` on SQLite and PostgreSQL: one conditional UPDATE, or an INSERT when the
document has no lease row yet; whatever the row says afterwards is the answer."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.leases import Lease
from app.stores.sql.models import LeaseRow
from app.stores.sql.utc import aware


class SqlLeaseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(
        self, doc_id: str, holder: str, now: datetime, ttl: timedelta, *, take_from: str = ""
    ) -> Lease:
        expires = now + ttl
        claimable = [LeaseRow.holder == holder, LeaseRow.expires_at <= now]
        if take_from:
            claimable.append(LeaseRow.holder == take_from)
        async with self.engine.begin() as connection:
            taken = await connection.execute(
                update(LeaseRow)
                .where(LeaseRow.doc_id == doc_id, or_(*claimable))
                .values(holder=holder, expires_at=expires)
            )
            if not taken.rowcount:
                try:
                    async with connection.begin_nested():
                        await connection.execute(
                            insert(LeaseRow).values(
                                doc_id=doc_id, holder=holder, expires_at=expires
                            )
                        )
                except IntegrityError:
                    pass  # someone holds it: the row says who
            row = (
                await connection.execute(
                    select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.doc_id == doc_id)
                )
            ).one()
        return Lease(doc_id, row.holder, aware(row.expires_at))

    async def release(self, doc_id: str, holder: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(LeaseRow).where(LeaseRow.doc_id == doc_id, LeaseRow.holder == holder)
            )
