"""Conversations: contacts, the open conversation of a customer, ordered messages, archival."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import events
from app.effects import emit
from app.errors import NotFound, ValidationFailed
from app.models import Channel, Contact, Conversation, ConversationArchive, Message
from app.models.states import ConversationMode


class ChannelRef(Protocol):
    """A Channel row or a cached ChannelRoute: all that contacts and conversations need."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...


async def upsert_contact(
    session: AsyncSession,
    channel: ChannelRef,
    external_id: str,
    *,
    wa_id: str | None = None,
    business_user_id: str | None = None,
    profile_name: str | None = None,
) -> uuid.UUID:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "tenant_id": channel.tenant_id, "channel_id": channel.id,
        "external_id": external_id[:128], "wa_id": wa_id, "business_user_id": business_user_id,
        "profile_name": (profile_name or None) and profile_name[:200],
    }
    changes = {k: values[k] for k in ("wa_id", "business_user_id", "profile_name") if values[k]}
    stmt = (
        pg_insert(Contact).values(**values)
        .on_conflict_do_update(
            index_elements=["channel_id", "external_id"],
            set_={**changes, "updated_at": func.now()} if changes else {"external_id": external_id},
        )
        .returning(Contact.id)
    )
    # An upsert returns its row whether it inserted or updated.
    contact_id: uuid.UUID = (await session.execute(stmt)).scalar_one()
    return contact_id


async def open_conversation(
    session: AsyncSession, channel: ChannelRef, agent_id: uuid.UUID | None, contact_id: uuid.UUID
) -> uuid.UUID:
    """The customer's open conversation on this channel, created if there is none."""
    existing: uuid.UUID | None = await session.scalar(
        select(Conversation.id).where(
            Conversation.channel_id == channel.id,
            Conversation.contact_id == contact_id,
            Conversation.archived_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    created: uuid.UUID | None = await session.scalar(
        pg_insert(Conversation)
        .values(id=uuid.uuid4(), tenant_id=channel.tenant_id, channel_id=channel.id,
                agent_id=agent_id, contact_id=contact_id, mode=ConversationMode.AI)
        .on_conflict_do_nothing(
            index_elements=["channel_id", "contact_id"],
            index_where=Conversation.archived_at.is_(None),
        )
        .returning(Conversation.id)
    )
    if created is not None:
        return created
    # Created concurrently by another request: read theirs.
    again: uuid.UUID = (await session.execute(
        select(Conversation.id).where(
            Conversation.channel_id == channel.id,
            Conversation.contact_id == contact_id,
            Conversation.archived_at.is_(None),
        )
    )).scalar_one()
    return again


async def next_seq(
    session: AsyncSession, conversation_id: uuid.UUID, *, inbound_at: datetime | None = None
) -> int:
    """Allocate the next per-conversation sequence number (locks the conversation row)."""
    values: dict[str, Any] = {"last_seq": Conversation.last_seq + 1, "last_activity_at": func.now()}
    if inbound_at is not None:
        values["last_inbound_seq"] = Conversation.last_seq + 1
        values["last_inbound_at"] = func.greatest(
            func.coalesce(Conversation.last_inbound_at, inbound_at), inbound_at
        )
    seq = (await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(**values)
        .returning(Conversation.last_seq)
    )).scalar_one()
    return int(seq)


async def add_message(
    session: AsyncSession, conversation: Conversation, **fields: Any
) -> Message:
    """Append a message at the next seq and announce it after commit."""
    inbound_at = fields.get("provider_timestamp") if fields.get("direction") == "inbound" else None
    seq = await next_seq(session, conversation.id, inbound_at=inbound_at)
    msg = Message(
        id=uuid.uuid4(), tenant_id=conversation.tenant_id, conversation_id=conversation.id,
        channel_id=conversation.channel_id, seq=seq, **fields,
    )
    session.add(msg)
    await session.flush()
    await session.refresh(msg, ["created_at", "updated_at"])
    emit(session, str(conversation.tenant_id), events.message_created(msg))
    return msg


async def archive_channel_conversations(
    session: AsyncSession, channel: Channel, *, reason: str
) -> int:
    """Archive every open conversation of the channel, recording each in the archives table."""
    rows = (
        await session.execute(
            update(Conversation)
            .where(Conversation.channel_id == channel.id, Conversation.archived_at.is_(None))
            .values(archived_at=func.now())
            .returning(Conversation.id, Conversation.agent_id, Conversation.last_seq)
        )
    ).all()
    if not rows:
        return 0
    await session.execute(
        insert(ConversationArchive),
        [
            {"id": uuid.uuid4(), "tenant_id": channel.tenant_id, "conversation_id": cid,
             "channel_id": channel.id, "agent_id": agent_id, "reason": reason,
             "message_count": last_seq}
            for cid, agent_id, last_seq in rows
        ],
    )
    for cid, _, _ in rows:
        emit(session, str(channel.tenant_id), {
            "type": "ConversationUpdated", "conversationId": str(cid), "change": "archived",
            "archived": True,
        })
    return len(rows)


async def get_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    *, for_update: bool = False,
) -> Conversation | None:
    q = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.tenant_id == tenant_id
    )
    if for_update:
        q = q.with_for_update()
    return await session.scalar(q)


async def set_mode(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, mode: str
) -> Conversation:
    mode = mode.lower()
    if mode not in ("ai", "human"):
        raise ValidationFailed("mode must be AI or HUMAN")
    conv = await get_conversation(session, tenant_id, conversation_id, for_update=True)
    if conv is None:
        raise NotFound("conversation")
    if conv.archived_at is not None:
        raise ValidationFailed("conversation is archived")
    if conv.mode != mode:
        if mode == ConversationMode.AI:
            conv.handed_back_at = func.now()
            # Handed back: nobody is waiting for an operator any more.
            conv.handoff_requested_at = None
            conv.handoff_reason = None
        conv.mode = mode
        await session.flush()
        await session.refresh(conv)
        emit(session, str(tenant_id), events.conversation_updated(conv, "mode"))
    return conv
