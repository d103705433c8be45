from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import hash_api_key
from app.models import ApiKey, Tenant


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def tenant_for_api_key(session: AsyncSession, key: str) -> Tenant | None:
    return await session.scalar(
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    )


# Every GraphQL request (and every websocket operation): one index read, no join.
KEY_IDENTITY = """
SELECT tenant_id, id, operator_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
"""


async def key_identity(
    conn: Any, key_hash: str
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID | None] | None:
    """(tenant id, key id, operator id or None) of a live key, by its hash, on a driver
    connection (`app.db.driver_connection`): no session, no ORM statement to build for every
    request."""
    row = await conn.fetchrow(KEY_IDENTITY, key_hash)
    return (row[0], row[1], row[2]) if row is not None else None


async def revoked_among(session: AsyncSession, key_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """Which of these keys are revoked or gone."""
    if not key_ids:
        return []
    live = set((await session.scalars(
        select(ApiKey.id).where(ApiKey.id.in_(list(key_ids)), ApiKey.revoked_at.is_(None))
    )).all())
    return [k for k in key_ids if k not in live]


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant row, locked until commit: serialises quota checks of one tenant."""
    return await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())


async def count_live_keys(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
    ) or 0)


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())


async def revoke_key(
    session: AsyncSession, tenant_id: uuid.UUID | None, key_id: uuid.UUID
) -> uuid.UUID | None:
    """Revoke a live key (of this tenant; any tenant's for None); the key's tenant id, or None."""
    q = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if tenant_id is not None:
        q = q.where(ApiKey.tenant_id == tenant_id)
    res = await session.execute(q.values(revoked_at=func.now()).returning(ApiKey.tenant_id))
    row = res.first()
    return row[0] if row is not None else None


async def get_api_key(
    session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id)
    )


async def list_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKey]:
    q = (
        select(ApiKey)
        .where(ApiKey.tenant_id == tenant_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return list((await session.scalars(q)).all())
