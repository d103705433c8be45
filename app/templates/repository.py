"""Template queries, always scoped by tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Channel, MessageTemplate

APPROVED = "APPROVED"


async def list_templates(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, *, approved_only: bool = True
) -> list[MessageTemplate]:
    q = select(MessageTemplate).where(
        MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id
    )
    if approved_only:
        q = q.where(MessageTemplate.status == APPROVED)
    return list((await session.scalars(q.order_by(MessageTemplate.name,
                                                  MessageTemplate.language))).all())


async def get_template(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, name: str, language: str
) -> MessageTemplate | None:
    return await session.scalar(select(MessageTemplate).where(
        MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id,
        MessageTemplate.name == name, MessageTemplate.language == language,
    ))


async def channels_of_business_account(session: AsyncSession, waba_id: str) -> list[Channel]:
    """The live WhatsApp channels of a business account (a template webhook names only it):
    not tenant-scoped, as the routing lookup, since the tenant is what it finds."""
    q = select(Channel).where(
        Channel.kind == "whatsapp", Channel.deleted_at.is_(None),
        Channel.settings["waba_id"].astext == waba_id,
    )
    return list((await session.scalars(q)).all())
