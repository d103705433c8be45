"""Retrying a failed turn: the customer's messages whose model call failed are answered again.

A batch whose model call failed (breaker open, timeout, error, refusal) is marked `failed` and
its reservation released; nothing was stored or sent. `retry_turn` puts the whole batch back to
`received`, in the caller's transaction, and wakes the conversation after commit: the worker
claims it like any pending batch, in seq order, with whatever else is pending. The claim
reserves under a key of its own for this attempt (`attempt_of`), so the released reservation is
never reused: the eventual reply is charged exactly once, and a retry that fails again is
released again. The rows move from `failed` under the conversation's lock, so a retry that is
sent twice re-queues the batch once; the second finds nothing failed.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import events, outbox
from app.effects import emit, wake
from app.errors import NotFound, ValidationFailed, present
from app.models import Message
from app.models.message import WITHOUT_RAW
from app.models.states import ConversationMode, MessageDirection, MessageStatus

# Keys in an inbound message's `meta`: the reservation key of the batch whose model call
# failed (which rows go back together), and how often the row was retried.
BATCH = "failed_batch"
ATTEMPT = "retry"


class TurnFailure(StrEnum):
    """Why a batch failed before any reply existed: the model call. Only these are retried
    as a turn; a batch whose reply failed to send is retried through that reply."""

    MODEL_ERROR = "model_error"
    MODEL_UNREACHABLE = "model_unreachable"
    MODEL_FAILED = "model_failed"
    MODEL_EMPTY = "model_empty"
    BREAKER_OPEN = "breaker_open"


def is_retryable(direction: str, status: str, reason: str | None) -> bool:
    if status != MessageStatus.FAILED:
        return False
    if direction == MessageDirection.OUTBOUND:
        return True
    return direction == MessageDirection.INBOUND and reason in set(TurnFailure)


def attempt_of(meta: dict[str, Any]) -> int:
    return int(meta.get(ATTEMPT) or 0)


async def retry_failed(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    """`retryMessage`: a failed outbound message is sent again (outbox.retry_message); a failed
    inbound one is answered again with its batch (retry_turn)."""
    direction = await session.scalar(
        select(Message.direction).where(Message.id == message_id, Message.tenant_id == tenant_id)
    )
    if direction is None:
        raise NotFound("message")
    if direction == MessageDirection.INBOUND:
        return await retry_turn(session, tenant_id, message_id)
    return await outbox.retry_message(session, tenant_id, message_id)


async def retry_turn(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    conversation_id = await session.scalar(
        select(Message.conversation_id).where(Message.id == message_id,
                                              Message.tenant_id == tenant_id)
    )
    if conversation_id is None:
        raise NotFound("message")
    # The conversation's lock first, as the worker's claim takes it, then the rows.
    conv, channel = await outbox.writable_conversation(session, tenant_id, conversation_id)
    msg = present(await session.scalar(
        select(Message).options(WITHOUT_RAW).where(Message.id == message_id).with_for_update()
    ), "message")
    if not is_retryable(msg.direction, msg.status, msg.status_reason):
        hint = (" (its reply failed to send: retry the reply)"
                if msg.status_reason == "send_failed" else "")
        raise ValidationFailed(
            f"only a failed message can be retried; this inbound message is {msg.status}"
            f"{', ' + msg.status_reason if msg.status_reason else ''}{hint}"
        )
    if conv.mode != ConversationMode.AI:
        raise ValidationFailed("an operator is handling this conversation: hand it back to "
                               "the AI (setConversationMode AI) before retrying")
    outbox.check_window(channel.kind, conv.last_inbound_at)
    batch = msg.meta.get(BATCH)
    rows = [msg]
    if batch is not None:
        rows = list((await session.scalars(
            select(Message).options(WITHOUT_RAW)
            .where(Message.conversation_id == conv.id, Message.direction == MessageDirection.INBOUND,
                   Message.status == MessageStatus.FAILED, Message.meta[BATCH].astext == str(batch))
            .order_by(Message.seq).with_for_update()
        )).all())
    attempt = max(attempt_of(m.meta) for m in rows) + 1
    for m in rows:
        m.status, m.status_reason = "received", None
        m.meta = {**{k: v for k, v in m.meta.items() if k != BATCH}, ATTEMPT: attempt}
    await session.flush()
    for m in rows:
        emit(session, str(tenant_id), events.message_status_changed(m))
    wake(session, str(conv.id))
    return msg
