"""``LeaseStore`` on SQLite and PostgreSQL: one conditional UPDATE, or an INSERT when the
document has no lease row yet; whatever the row says afterwards is the answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.leases import Lease
from app.stores.sql.models import LeaseRow
from app.stores.sql.utc import aware

# Documents per statement when claiming many: well under SQLite's oldest limit on bound
# parameters (999).
CLAIM_CHUNK = 500


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

    async def claim_all(
        self, doc_ids: Sequence[str], holder: str, now: datetime, ttl: timedelta
    ) -> dict[str, Lease]:
        leases: dict[str, Lease] = {}
        for first in range(0, len(doc_ids), CLAIM_CHUNK):
            leases.update(
                await self._claim_chunk(doc_ids[first : first + CLAIM_CHUNK], holder, now, ttl)
            )
        return leases

    async def _claim_chunk(
        self, doc_ids: Sequence[str], holder: str, now: datetime, ttl: timedelta
    ) -> dict[str, Lease]:
        expires = now + ttl
        async with self.engine.begin() as connection:
            await connection.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.doc_id.in_(doc_ids),
                    or_(LeaseRow.holder == holder, LeaseRow.expires_at <= now),
                )
                .values(holder=holder, expires_at=expires)
            )
            rows = {
                row.doc_id: row
                for row in await connection.execute(
                    select(LeaseRow.doc_id, LeaseRow.holder, LeaseRow.expires_at).where(
                        LeaseRow.doc_id.in_(doc_ids)
                    )
                )
            }
            leases = {
                doc_id: Lease(doc_id, row.holder, aware(row.expires_at))
                for doc_id, row in rows.items()
            }
            for doc_id in doc_ids:
                if doc_id in rows:
                    continue
                # No row (released meanwhile, or never claimed): as ``claim`` does, one insert,
                # and whoever raced us to it holds it.
                try:
                    async with connection.begin_nested():
                        await connection.execute(
                            insert(LeaseRow).values(
                                doc_id=doc_id, holder=holder, expires_at=expires
                            )
                        )
                    leases[doc_id] = Lease(doc_id, holder, expires)
                except IntegrityError:
                    row = (
                        await connection.execute(
                            select(LeaseRow.holder, LeaseRow.expires_at).where(
                                LeaseRow.doc_id == doc_id
                            )
                        )
                    ).one()
                    leases[doc_id] = Lease(doc_id, row.holder, aware(row.expires_at))
        return leases

    async def release(self, doc_id: str, holder: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(LeaseRow).where(LeaseRow.doc_id == doc_id, LeaseRow.holder == holder)
            )
