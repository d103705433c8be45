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

from app.channels.adapters.registry import (
    HUMAN_AGENT_KINDS,
    HUMAN_AGENT_WINDOW,
    REPLY_WINDOW,
    human_agent_window_open,
    reply_window_closes_at,
    window_open,
)
from app.conversations import events
from app.conversations.service import add_message, get_conversation, set_mode
from app.credits.service import move_credits
from app.effects import emit
from app.errors import BadUserInput, NotFound, ValidationFailed, WindowClosed, present
from app.models import Agent, Attachment, Channel, Conversation, Message
from app.models.states import MessageDirection, MessageStatus, SenderRole

MAX_TEXT_CHARS = 4096
SEND_JOB = "send_message"
_PENDING_SENDS = "mca_outbox_sends"


def check_window(kind: str, last_inbound_at: datetime | None, *, operator: bool = False) -> None:
    # Meta accepts free-form replies only within 24 hours of the customer's last message;
    # on Instagram a person's reply may go out for 7 days, with the HUMAN_AGENT tag.
    if window_open(kind, last_inbound_at) or (
        operator and human_agent_window_open(kind, last_inbound_at)
    ):
        return
    closes = reply_window_closes_at(kind, last_inbound_at)
    if closes is None:
        raise WindowClosed("the customer has not written yet, so the 24-hour reply window is closed")
    if operator and kind in HUMAN_AGENT_KINDS:
        raise WindowClosed(
            f"the 7-day window for a person's reply closed at "
            f"{(closes - REPLY_WINDOW + HUMAN_AGENT_WINDOW).isoformat()}; Instagram accepts "
            "nothing more until the customer writes again"
        )
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


def queue_send(session: AsyncSession, message_id: uuid.UUID) -> None:
    """Send `message_id` once the session's transaction has committed (see enqueue_sends)."""
    _queue_send(session, message_id)


async def enqueue_sends(session: AsyncSession, redis: Any) -> None:
    """After commit: hand every message this session recorded to the `send_message` job."""
    for message_id in session.info.pop(_PENDING_SENDS, []):
        await redis.enqueue_job(SEND_JOB, message_id)


async def send_operator_message(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, text: str,
    attachment_ids: list[uuid.UUID] | None = None,
    *, operator_id: uuid.UUID | None = None,
) -> Message:
    """Take the conversation over (mode HUMAN) and queue the operator's text (and files, from
    POST /media/uploads) for sending. `operator_id`: who wrote it (an operator's key); an
    unassigned conversation becomes theirs."""
    if not text.strip() and not attachment_ids:
        raise ValidationFailed("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BadUserInput(f"text must be at most {MAX_TEXT_CHARS} characters")
    if attachment_ids and len(attachment_ids) > MAX_ATTACHMENTS:
        raise BadUserInput(f"at most {MAX_ATTACHMENTS} attachments per message")
    conv, channel = await writable_conversation(session, tenant_id, conversation_id)
    # Refused here, before anything is stored or sent, rather than failed later by Meta.
    check_window(channel.kind, conv.last_inbound_at, operator=True)
    files = await _uploads(session, conv, channel, attachment_ids or [])
    conv = await set_mode(session, tenant_id, conv.id, "human")
    if conv.handoff_requested_at is not None:
        # An operator answered: the customer is no longer waiting for one.
        conv.handoff_requested_at = None
        conv.handoff_reason = None
    if operator_id is not None and conv.assignee_id is None:
        conv.assignee_id = operator_id
        await session.flush()
        emit(session, str(tenant_id), events.conversation_status(conv, "assignee"))
    msg = await add_message(
        session, conv, direction=MessageDirection.OUTBOUND, sender_role=SenderRole.OPERATOR,
        type=files[0].kind if files else "text", text=text.strip() or None if files else text,
        status=MessageStatus.PENDING, operator_id=operator_id,
    )
    for position, att in enumerate(files):
        att.message_id, att.position = msg.id, position
    _queue_send(session, msg.id)
    return msg


MAX_ATTACHMENTS = 10


async def _uploads(session: AsyncSession, conv: Conversation, channel: Channel,
                   ids: list[uuid.UUID]) -> list[Attachment]:
    """The operator's uploads for this conversation, not sent before, in the order given."""
    if not ids:
        return []
    if channel.kind == "instagram":
        raise BadUserInput("sending files on Instagram is not supported; send text instead")
    found = {a.id: a for a in (await session.scalars(
        select(Attachment).where(Attachment.id.in_(ids), Attachment.tenant_id == conv.tenant_id,
                                 Attachment.conversation_id == conv.id,
                                 Attachment.message_id.is_(None)).with_for_update()
    )).all()}
    missing = [str(i) for i in ids if i not in found]
    if missing or len(set(ids)) != len(ids):
        # Another tenant's, another conversation's or already sent: as if there were none.
        raise NotFound("attachment")
    return [found[i] for i in ids]


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
    if msg.type != "template":
        # A template is what Meta accepts outside the window.
        check_window(channel.kind, conv.last_inbound_at,
                     operator=msg.sender_role == SenderRole.OPERATOR)
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
    charge = int(msg.meta.get("credits") or 0) if msg.type == "template" else 0
    if msg.type == "template":
        # The failed attempt's credits were given back; this attempt is charged on its own.
        msg.meta = {**msg.meta, "charge": int(msg.meta.get("charge", 0)) + 1}
    await session.flush()
    await session.refresh(msg, ["updated_at"])
    emit(session, str(tenant_id), events.message_status_changed(msg))
    if charge > 0:
        await move_credits(session, tenant_id, -charge, "template",
                           template_charge_key(msg.id, int(msg.meta["charge"])),
                           "template sent again", conv.id)
    _queue_send(session, msg.id)
    return msg


def template_charge_key(message_id: uuid.UUID, n: int) -> str:
    """The ledger key of a template message's n-th attempt (its refund adds `:release`)."""
    return f"template:{message_id}:{n}"
