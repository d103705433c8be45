"""Lead business rules: a validated extraction is stored whole, with the message range it
covered, and the conversation's extraction pointer moves in the same transaction.

The pointer moves with a compare-and-set on the value the extraction started from, so two
runs over the same range (a duplicated job, an overlapping scan) store one lead, not two.
"""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import events
from app.effects import emit
from app.leads.extraction import LeadExtraction
from app.models import Conversation, Lead


async def _advance(
    session: AsyncSession, conversation_id: uuid.UUID, expected: int, to_seq: int
) -> Conversation | None:
    return await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id,
               Conversation.extracted_through_seq == expected)
        .values(extracted_through_seq=to_seq)
        .returning(Conversation)
    )


async def record_extraction(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    *,
    expected_through: int,
    to_seq: int,
    result: LeadExtraction,
    model: str,
) -> Lead | None:
    """Store one extraction of messages (expected_through, to_seq]. None when another run
    already moved the pointer (the caller's transaction then stores nothing)."""
    conv = await _advance(session, conversation_id, expected_through, to_seq)
    if conv is None:
        return None
    lead = Lead(
        id=uuid.uuid4(), tenant_id=conv.tenant_id, conversation_id=conv.id,
        name=result.name, email=result.email, company=result.company, intent=result.intent,
        urgency=result.urgency, budget=result.budget, fit=result.fit,
        engagement=result.engagement, demo_at=result.demo_at,
        demo_timezone=result.demo_timezone, notification=result.notification,
        from_seq=expected_through + 1, to_seq=to_seq, model=model[:100],
    )
    session.add(lead)
    await session.flush()
    emit(session, str(conv.tenant_id),
         {**events.conversation_updated(conv, "lead"), "leadId": str(lead.id)})
    return lead


async def skip_range(
    session: AsyncSession, conversation_id: uuid.UUID, *, expected_through: int, to_seq: int
) -> bool:
    """Mark a range with nothing to read (only system markers) as done, without a model call."""
    return await _advance(session, conversation_id, expected_through, to_seq) is not None
