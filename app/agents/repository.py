from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Agent


async def get_agent(session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> Agent | None:
    return await session.scalar(
        select(Agent).where(
            Agent.id == agent_id, Agent.tenant_id == tenant_id, Agent.deleted_at.is_(None)
        )
    )


async def live_agent_for_channel(session: AsyncSession, channel_id: uuid.UUID) -> Agent | None:
    return await session.scalar(
        select(Agent).where(Agent.channel_id == channel_id, Agent.deleted_at.is_(None))
    )


async def list_agents(session: AsyncSession, tenant_id: uuid.UUID) -> list[Agent]:
    q = (
        select(Agent)
        .where(Agent.tenant_id == tenant_id, Agent.deleted_at.is_(None))
        .order_by(Agent.created_at, Agent.id)
    )
    return list((await session.scalars(q)).all())
