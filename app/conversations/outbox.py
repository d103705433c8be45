"""Operator replies and retries: the API's half of an outbound message.

Both operations only record the message as `pending` (and announce it) inside the caller's
transaction; the pipeline's `send_message` job sends it. The job is enqueued after commit, so a
rolled-back transaction never sends anything: callers run `enqueue_sends(session, redis)` once
their transaction has committed (the GraphQL mutations do it in app/graphql/writes.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.adapters.registry import reply_window_closes_at, window_open
from app.conversations import events
from app.conversations.service import add_message, get_conversation, set_mode
from app.effects import emit
from app.errors import BadUserInput, NotFound, ValidationFailed, WindowClosed, present
from app.models import Agent, Channel, Conversation, Message
from app.models.states import MessageDirection, MessageStatus, SenderRole

MAX_TEXT_CHARS = 4096
SEND_JOB = "send_message"
_PENDING_SENDS = "mca_outbox_sends"


def check_window(kind: str, last_inbound_at: datetime | None) -> None:
    # Meta accepts free-form replies only within 24 hours of the customer's last message.
    if window_open(kind, last_inbound_at):
        return
    closes = reply_window_closes_at(kind, last_inbound_at)
    if closes is None:
        raise WindowClosed("the customer has not written yet, so the 24-hour reply window is closed")
    raise WindowClosed(
        f"the 24-hour reply window closed at {closes.isoformat()}; "
        "only template messages can reach this customer until they write again"
    )


async def writable_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> tuple[Conversation, Channel]:
    conv = await get_conversation(session, tenant_id, conversation_id, for_update=True)
    if conv is None:
        raise NotFound("conversation")
    if conv.archived_at is not None:
        raise ValidationFailed("conversation is archived")
    channel = present(await session.get(Channel, conv.channel_id), "conversation's channel")
    return conv, channel


def _queue_send(session: AsyncSession, message_id: uuid.UUID) -> None:
    session.info.setdefault(_PENDING_SENDS, []).append(str(message_id))


async def enqueue_sends(session: AsyncSession, redis: Any) -> None:
    """After commit: hand every message this session recorded to the `send_message` job."""
    for message_id in session.info.pop(_PENDING_SENDS, []):
        await redis.enqueue_job(SEND_JOB, message_id)


async def send_operator_message(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, text: str
) -> Message:
    """Take the conversation over (mode HUMAN) and queue the operator's text for sending."""
    if not text.strip():
        raise ValidationFailed("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BadUserInput(f"text must be at most {MAX_TEXT_CHARS} characters")
    conv, channel = await writable_conversation(session, tenant_id, conversation_id)
    # Refused here, before anything is stored or sent, rather than failed later by Meta.
    check_window(channel.kind, conv.last_inbound_at)
    conv = await set_mode(session, tenant_id, conv.id, "human")
    if conv.handoff_requested_at is not None:
        # An operator answered: the customer is no longer waiting for one.
        conv.handoff_requested_at = None
        conv.handoff_reason = None
    msg = await add_message(
        session, conv, direction=MessageDirection.OUTBOUND, sender_role=SenderRole.OPERATOR,
        type="text", text=text,
        status=MessageStatus.PENDING,
    )
    _queue_send(session, msg.id)
    return msg


async def retry_message(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    """Queue a failed outbound message for sending again, as the same message."""
    msg = await session.scalar(
        select(Message)
        .where(Message.id == message_id, Message.tenant_id == tenant_id)
        .with_for_update()
    )
    if msg is None:
        raise NotFound("message")
    if msg.direction != MessageDirection.OUTBOUND or msg.status != MessageStatus.FAILED:
        raise ValidationFailed(
            f"only a failed outbound message can be retried (this one is {msg.direction}, "
            f"{msg.status})"
        )
    conv, channel = await writable_conversation(session, tenant_id, msg.conversation_id)
    check_window(channel.kind, conv.last_inbound_at)
    msg.status = MessageStatus.PENDING
    msg.status_reason = msg.error_code = msg.error_title = None
    if msg.sender_role == SenderRole.AI:
        # The failed attempt's credits were released; the send job charges this attempt
        # once, under a key of its own (see app/pipeline/send.py).
        price = None
        if conv.agent_id is not None:
            price = await session.scalar(
                select(Agent.credits_per_reply).where(Agent.id == conv.agent_id)
            )
        msg.meta = {**msg.meta, "retry_charge": int(price or 0),
                    "retry_n": int(msg.meta.get("retry_n", 0)) + 1}
    await session.flush()
    await session.refresh(msg, ["updated_at"])
    emit(session, str(tenant_id), events.message_status_changed(msg))
    _queue_send(session, msg.id)
    return msg
