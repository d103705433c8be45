"""Context expiry: a conversation idle for CONTEXT_TTL_DAYS starts its next turn afresh.

The model context is two pointers on the conversation: `context_response_id` (the chain the
next turn continues) and `context_start_seq` (history rebuilt from our own rows starts after
it). Expiry clears the first and moves the second past a visible `context_reset` system
message, so the full history stays readable while the model only sees what follows it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations.service import add_message
from app.models import Conversation
from app.models.states import MessageDirection, MessageStatus, SenderRole

EXPIRY_BATCH = 500


def reset_text(ttl_days: int) -> str:
    return f"Context reset after {ttl_days} idle days"


async def expire_idle_contexts(
    session: AsyncSession, now: datetime, ttl_days: int, *, limit: int = EXPIRY_BATCH
) -> int:
    """Expire up to `limit` idle contexts in the caller's transaction; returns how many.

    SKIP LOCKED: a conversation the pipeline holds right now is busy, not idle, and another
    expiry run working in parallel takes different rows instead of waiting.
    """
    cutoff = now - timedelta(days=ttl_days)
    conversations = (await session.scalars(
        select(Conversation)
        .where(Conversation.archived_at.is_(None),
               Conversation.context_response_id.is_not(None),
               Conversation.last_activity_at < cutoff)
        .order_by(Conversation.last_activity_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )).all()
    for conv in conversations:
        idle_since = conv.last_activity_at
        previous = conv.context_response_id
        marker = await add_message(
            session, conv, direction=MessageDirection.SYSTEM, sender_role=SenderRole.SYSTEM,
            type="context_reset",
            text=reset_text(ttl_days), status=MessageStatus.RECORDED,
            meta={"idle_since": idle_since.isoformat(), "previous_response_id": previous},
        )
        conv.context_response_id = None
        conv.context_start_seq = marker.seq
        conv.last_seq = marker.seq
        # The marker is bookkeeping, not activity: keep the dashboard's "recent first" order
        # and the idle clocks where the customer left them.
        conv.last_activity_at = idle_since
    await session.flush()
    return len(conversations)
