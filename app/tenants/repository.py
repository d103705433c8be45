from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
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


async def tenant_id_for_api_key(conn: Any, key: str) -> uuid.UUID | None:
    """The tenant of a live key, on a driver connection (app.db.driver_connection): every
    API request asks this once, so it is one hand-written statement and no ORM object."""
    tenant_id: uuid.UUID | None = await conn.fetchval(
        "SELECT t.id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        hash_api_key(key),
    )
    return tenant_id


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())


async def revoke_key(session: AsyncSession, tenant_id: uuid.UUID | None, key_id: uuid.UUID) -> bool:
    from sqlalchemy import func

    q = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if tenant_id is not None:
        q = q.where(ApiKey.tenant_id == tenant_id)
    res = await session.execute(q.values(revoked_at=func.now()).returning(ApiKey.id))
    return res.first() is not None


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
