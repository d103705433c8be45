from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreditLedgerEntry


async def ledger_page(
    session: AsyncSession, tenant_id: uuid.UUID, limit: int, before: tuple[object, uuid.UUID] | None,
    *, kinds: Collection[str] | None = None, created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[CreditLedgerEntry]:
    """Newest first, keyset-paginated on (created_at, id); the date range bounds the walk of
    ix_credit_ledger_tenant_id_created_at, the kinds are checked on the rows it yields."""
    q = select(CreditLedgerEntry).where(CreditLedgerEntry.tenant_id == tenant_id)
    if kinds is not None:
        q = q.where(CreditLedgerEntry.kind.in_(list(kinds)))
    if created_after is not None:
        q = q.where(CreditLedgerEntry.created_at > created_after)
    if created_before is not None:
        q = q.where(CreditLedgerEntry.created_at < created_before)
    if before is not None:
        q = q.where(
            func.row(CreditLedgerEntry.created_at, CreditLedgerEntry.id)
            < func.row(before[0], before[1])
        )
    q = q.order_by(CreditLedgerEntry.created_at.desc(), CreditLedgerEntry.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())

