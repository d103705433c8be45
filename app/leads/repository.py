"""Lead queries for the extraction worker. (The API's lead reads live in app/leads/graphql.py
and app/graphql/loaders.py.) The scan is deliberately cross-tenant: it only decides *whether*
to work, and every write re-reads its conversation by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Conversation, Lead, Message
from app.models.message import WITHOUT_RAW

# How much of a conversation one extraction reads: enough for any real sales chat, bounded
# so one very long conversation cannot blow the model's context.
TRANSCRIPT_LIMIT = 200


async def due_for_extraction(
    session: AsyncSession, idle_since: datetime, limit: int
) -> list[tuple[uuid.UUID, int]]:
    """(conversation id, last seq) of conversations quiet since `idle_since` with messages
    not yet extracted, the longest-idle first. Archived conversations are included: their
    last messages before archival are still a lead."""
    rows = (await session.execute(
        select(Conversation.id, Conversation.last_seq)
        .where(Conversation.last_seq > Conversation.extracted_through_seq,
               Conversation.last_activity_at <= idle_since)
        .order_by(Conversation.last_activity_at, Conversation.id)
        .limit(limit)
    )).all()
    return [(cid, int(seq)) for cid, seq in rows]


async def transcript(
    session: AsyncSession, conversation_id: uuid.UUID, through_seq: int
) -> Sequence[Message]:
    """The conversation's readable messages up to `through_seq`, oldest first (bounded)."""
    rows = (await session.scalars(
        select(Message).options(WITHOUT_RAW)
        .where(Message.conversation_id == conversation_id, Message.seq <= through_seq,
               Message.direction != "system")
        .order_by(Message.seq.desc())
        .limit(TRANSCRIPT_LIMIT)
    )).all()
    return list(reversed(rows))


async def latest_lead(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Lead | None:
    """The conversation's most recent extraction (what the conversation exposes)."""
    return await session.scalar(
        select(Lead)
        .where(Lead.tenant_id == tenant_id, Lead.conversation_id == conversation_id)
        # The same order as the API's latest-lead loader, so both agree on "latest".
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(1)
    )
