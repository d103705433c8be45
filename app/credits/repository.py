from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreditLedgerEntry


async def ledger_page(
    session: AsyncSession, tenant_id: uuid.UUID, limit: int, before: tuple[object, uuid.UUID] | None
) -> list[CreditLedgerEntry]:
    """Newest first, keyset-paginated on (created_at, id)."""
    q = select(CreditLedgerEntry).where(CreditLedgerEntry.tenant_id == tenant_id)
    if before is not None:
        q = q.where(
            func.row(CreditLedgerEntry.created_at, CreditLedgerEntry.id)
            < func.row(before[0], before[1])
        )
    q = q.order_by(CreditLedgerEntry.created_at.desc(), CreditLedgerEntry.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())

