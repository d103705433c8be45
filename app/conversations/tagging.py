"""Labels on conversations: put on, take off, and read for a page of conversations at once
(the mutations are in app/conversations/label_graphql.py).

A change is announced as ConversationUpdated (change `labels`) on the conversation's events.
Labels are the team's bookkeeping, so archived conversations can be labelled too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import events, service
from app.conversations.kinds import ConversationChange
from app.effects import emit
from app.errors import NotFound
from app.labels import service as labels
from app.labels.graphql import LabelType
from app.models import Conversation, ConversationLabel

# One statement for a page: every label of every conversation on it, by name.
LABELS_OF = """
SELECT cl.conversation_id, l.id AS label_id, l.name, l.color, l.created_at
FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id
WHERE cl.tenant_id = $1 AND cl.conversation_id = ANY($2::uuid[])
ORDER BY l.name, l.id
"""


async def labels_of(
    conn: Any, tenant_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LabelType]]:
    """Each conversation's labels (an empty list for one without), on a driver connection."""
    found: dict[uuid.UUID, list[LabelType]] = {cid: [] for cid in conversation_ids}
    for r in await conn.fetch(LABELS_OF, tenant_id, list(conversation_ids)):
        found[r["conversation_id"]].append(LabelType.from_record(r))
    return found


async def _conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    conv = await service.get_conversation(session, tenant_id, conversation_id)
    if conv is None:
        raise NotFound("conversation")
    return conv


async def add_label(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    label_id: uuid.UUID,
) -> Conversation:
    """Idempotent: a label already on the conversation stays, and nothing is announced."""
    conv = await _conversation(session, tenant_id, conversation_id)
    await labels.get_label(session, tenant_id, label_id)
    try:
        added = await session.scalar(
            insert(ConversationLabel)
            .values(conversation_id=conv.id, label_id=label_id, tenant_id=tenant_id)
            .on_conflict_do_nothing().returning(ConversationLabel.label_id)
        )
    except IntegrityError:
        # The label was deleted between the check and this write.
        raise NotFound("label") from None
    if added is not None:
        emit(session, str(tenant_id), events.conversation_updated(conv, ConversationChange.LABELS))
    return conv


async def remove_label(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    label_id: uuid.UUID,
) -> Conversation:
    """Idempotent: removing a label the conversation does not have changes nothing."""
    conv = await _conversation(session, tenant_id, conversation_id)
    await labels.get_label(session, tenant_id, label_id)
    removed = await session.scalar(
        delete(ConversationLabel)
        .where(ConversationLabel.conversation_id == conv.id,
               ConversationLabel.label_id == label_id,
               ConversationLabel.tenant_id == tenant_id)
        .returning(ConversationLabel.label_id)
    )
    if removed is not None:
        emit(session, str(tenant_id), events.conversation_updated(conv, ConversationChange.LABELS))
    return conv
