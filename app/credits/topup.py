"""After a top-up: customers who were met with silence for lack of credits get their answer.

Messages skipped for `no_credits` go back to `received` and their conversations are woken, so
the worker answers them as one batch, in order, once, if the customer can still be answered
(the reply window is open, the agent is in charge). Only messages after the conversation's last
answered one: an earlier question never gets an answer after a later one.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.effects import emit, wake
from app.models import Tenant

MAX_CONVERSATIONS = 1000

_REQUEUE = text("""
WITH conv AS (
    SELECT c.id FROM conversations AS c JOIN channels AS ch ON ch.id = c.channel_id
    WHERE c.tenant_id = :tenant_id AND c.archived_at IS NULL AND c.mode = 'ai'
      AND (ch.kind = 'webchat' OR c.last_inbound_at > now() - interval '24 hours')
      AND EXISTS (SELECT 1 FROM messages AS s WHERE s.conversation_id = c.id
                  AND s.status = 'skipped' AND s.status_reason = 'no_credits')
    ORDER BY c.last_activity_at DESC
    LIMIT :limit
), done AS (
    SELECT conv.id, COALESCE(max(a.seq), 0) AS seq FROM conv
    LEFT JOIN messages AS a ON a.conversation_id = conv.id AND a.direction = 'inbound'
        AND a.status IN ('answered', 'processing', 'received')
    GROUP BY conv.id
)
UPDATE messages AS m SET status = 'received', status_reason = NULL, updated_at = now()
FROM done
WHERE m.conversation_id = done.id AND m.direction = 'inbound' AND m.status = 'skipped'
  AND m.status_reason = 'no_credits' AND m.seq > done.seq
RETURNING m.id, m.conversation_id, m.seq, m.type, m.text, m.provider_message_id, m.created_at
""")


async def answer_skipped(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Requeue the tenant's answerable `no_credits` messages; how many."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or not tenant.answer_after_top_up:
        return 0
    rows = (await session.execute(_REQUEUE, {"tenant_id": tenant_id,
                                             "limit": MAX_CONVERSATIONS})).all()
    for conversation_id in sorted({r.conversation_id for r in rows}, key=str):
        wake(session, str(conversation_id))
    for r in rows:
        message = {
            "id": str(r.id), "conversationId": str(r.conversation_id), "seq": r.seq,
            "direction": "inbound", "senderRole": "customer", "type": r.type, "text": r.text,
            "status": "received", "statusReason": None, "errorCode": None, "errorTitle": None,
            "providerMessageId": r.provider_message_id, "createdAt": r.created_at.isoformat(),
        }
        emit(session, str(tenant_id), {"type": "MessageStatusChanged",
                                        "conversationId": str(r.conversation_id),
                                        "message": message})
    return len(rows)
