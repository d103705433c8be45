"""Persist inbound traffic: every accepted message is in Postgres before the webhook answers.

Dedup is the unique (channel, provider message id): a redelivery seconds or days later finds
its row and changes nothing. Status reports only ever move an outbound message forward.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.adapters.base import InboundMessage, StatusUpdate
from app.channels.routing import ChannelRoute
from app.conversations import events
from app.conversations.service import next_seq, open_conversation, upsert_contact
from app.effects import emit, wake
from app.models import Message

# Which statuses each report may replace: forward only, and `failed` never after delivery.
FORWARD_FROM: dict[str, tuple[str, ...]] = {
    "sent": ("pending", "unknown"),
    "delivered": ("pending", "unknown", "sent"),
    "read": ("pending", "unknown", "sent", "delivered"),
    "failed": ("pending", "unknown", "sent"),
}


async def ingest_message(
    session: AsyncSession, channel: ChannelRoute, msg: InboundMessage
) -> Message | None:
    """Store one inbound message; None when it was already stored (a redelivery)."""
    seen = await session.scalar(
        select(Message.id).where(
            Message.channel_id == channel.id,
            Message.provider_message_id == msg.provider_message_id,
        )
    )
    if seen is not None:
        return None
    contact_id = await upsert_contact(
        session, channel, msg.external_id, wa_id=msg.wa_id,
        business_user_id=msg.business_user_id, profile_name=msg.profile_name,
    )
    conversation_id = await open_conversation(session, channel, channel.agent_id, contact_id)
    received_at = msg.timestamp or datetime.now(UTC)
    seq = await next_seq(session, conversation_id, inbound_at=received_at)
    answerable = msg.answerable
    row: Message | None = await session.scalar(
        pg_insert(Message)
        .values(
            id=uuid.uuid4(), tenant_id=channel.tenant_id, conversation_id=conversation_id,
            channel_id=channel.id, seq=seq, direction="inbound", sender_role="customer",
            type=msg.type, text=msg.text, provider_message_id=msg.provider_message_id,
            status="received" if answerable else "skipped",
            status_reason=None if answerable else "unsupported_type",
            raw=msg.raw, provider_timestamp=msg.timestamp,
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
        .returning(Message)
    )
    if row is None:
        # A concurrent delivery of the same message won; its seq number stays unused.
        return None
    emit(session, str(channel.tenant_id), events.message_created(row))
    if answerable:
        wake(session, str(conversation_id))
    return row


async def apply_status(session: AsyncSession, channel: ChannelRoute, st: StatusUpdate) -> bool:
    values: dict[str, object] = {"status": st.status}
    if st.status == "failed":
        values.update(
            error_code=st.error_code, error_title=st.error_title,
            status_reason="window_closed" if st.error_code == "131047" else "provider_error",
        )
    q = update(Message).where(
        Message.channel_id == channel.id,
        Message.direction == "outbound",
        Message.status.in_(FORWARD_FROM[st.status]),
    )
    row = await session.scalar(
        q.where(Message.provider_message_id == st.provider_message_id)
        .values(**values).returning(Message)
    )
    if row is None and st.our_message_id:
        # The report can beat our own commit of the provider id; our id rides along with it.
        try:
            ours = uuid.UUID(st.our_message_id)
        except ValueError:
            return False
        row = await session.scalar(
            q.where(Message.id == ours)
            .values(**values, provider_message_id=st.provider_message_id).returning(Message)
        )
    if row is None:
        return False
    emit(session, str(channel.tenant_id), events.message_status_changed(row))
    return True
