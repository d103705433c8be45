"""Endpoint and delivery queries, always scoped by tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EventDelivery, WebhookEndpoint


async def list_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> list[WebhookEndpoint]:
    q = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id) \
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return list((await session.scalars(q)).all())


async def count_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    q = select(func.count()).select_from(WebhookEndpoint) \
        .where(WebhookEndpoint.tenant_id == tenant_id)
    return int(await session.scalar(q) or 0)


async def get_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    q = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                      WebhookEndpoint.tenant_id == tenant_id)
    return await session.scalar(q.with_for_update() if for_update else q)


async def list_deliveries(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, first: int,
    status: str | None = None,
) -> list[EventDelivery]:
    q = select(EventDelivery).where(EventDelivery.tenant_id == tenant_id,
                                    EventDelivery.endpoint_id == endpoint_id)
    if status is not None:
        q = q.where(EventDelivery.status == status)
    q = q.order_by(EventDelivery.created_at.desc(), EventDelivery.id.desc()).limit(first)
    return list((await session.scalars(q)).all())


async def get_delivery(
    session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID
) -> EventDelivery | None:
    q = select(EventDelivery).where(EventDelivery.id == delivery_id,
                                    EventDelivery.tenant_id == tenant_id).with_for_update()
    return await session.scalar(q)
