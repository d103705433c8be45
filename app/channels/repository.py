from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Agent, Channel


async def get_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, *, for_update: bool = False
) -> Channel | None:
    q = select(Channel).where(
        Channel.id == channel_id, Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None)
    )
    if for_update:
        q = q.with_for_update()
    return await session.scalar(q)


async def list_channels(session: AsyncSession, tenant_id: uuid.UUID) -> list[Channel]:
    q = (
        select(Channel)
        .where(Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None))
        .order_by(Channel.created_at, Channel.id)
    )
    return list((await session.scalars(q)).all())


async def live_channel_by_account(
    session: AsyncSession, kind: str, provider_account_id: str
) -> tuple[Channel, Agent | None] | None:
    """The routing lookup for inbound traffic (not tenant-scoped: the tenant is what it finds)."""
    row = (
        await session.execute(
            select(Channel, Agent)
            .outerjoin(Agent, (Agent.channel_id == Channel.id) & Agent.deleted_at.is_(None))
            .where(
                Channel.kind == kind,
                Channel.provider_account_id == provider_account_id,
                Channel.deleted_at.is_(None),
            )
        )
    ).first()
    return (row[0], row[1]) if row else None
