"""Persist inbound traffic: every accepted message is in Postgres before the webhook answers.

Dedup is the unique (channel, provider message id): a redelivery seconds or days later finds
its row and changes nothing. Status reports only ever move an outbound message forward.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.adapters.base import InboundMessage, StatusUpdate
from app.channels.routing import ChannelRoute
from app.conversations import events
from app.conversations.service import next_seq, open_conversation
from app.effects import emit, wake
from app.models import Conversation, Message

# Which statuses each report may replace: forward only, and `failed` never after delivery.
FORWARD_FROM: dict[str, tuple[str, ...]] = {
    "sent": ("pending", "unknown"),
    "delivered": ("pending", "unknown", "sent"),
    "read": ("pending", "unknown", "sent", "delivered"),
    "failed": ("pending", "unknown", "sent"),
}


# The redelivery check and the contact upsert in one round trip (the hot path of every
# webhook). Same rules as conversations.service.upsert_contact: a non-empty value replaces the
# stored one, an empty one keeps it, and nothing is written for a message already stored.
_SEEN_OR_UPSERT_CONTACT = text("""
WITH seen AS (
    SELECT id FROM messages
    WHERE channel_id = CAST(:channel_id AS uuid) AND provider_message_id = CAST(:pmid AS varchar)
), contact AS (
    INSERT INTO contacts (id, tenant_id, channel_id, external_id, wa_id, business_user_id, profile_name)
    SELECT CAST(:id AS uuid), CAST(:tenant_id AS uuid), CAST(:channel_id AS uuid),
           CAST(:external_id AS varchar), CAST(:wa_id AS varchar),
           CAST(:business_user_id AS varchar), CAST(:profile_name AS varchar)
    WHERE NOT EXISTS (SELECT 1 FROM seen)
    ON CONFLICT (channel_id, external_id) DO UPDATE SET
        wa_id = COALESCE(NULLIF(excluded.wa_id, ''), contacts.wa_id),
        business_user_id = COALESCE(NULLIF(excluded.business_user_id, ''), contacts.business_user_id),
        profile_name = COALESCE(excluded.profile_name, contacts.profile_name),
        updated_at = CASE WHEN NULLIF(excluded.wa_id, '') IS NOT NULL
                            OR NULLIF(excluded.business_user_id, '') IS NOT NULL
                            OR excluded.profile_name IS NOT NULL
                          THEN now() ELSE contacts.updated_at END
    RETURNING id
)
SELECT (SELECT id FROM seen LIMIT 1), (SELECT id FROM contact)
""")


# The whole usual case in one statement and one round trip, committed on its own: redelivery
# check, contact upsert, the open conversation's next seq, and the message row. It stores
# nothing but the contact when the customer has no open conversation (a first message, or one
# after archival); the caller then takes the long way (ingest_message). Same rules as the
# statements below; the seq a lost redelivery race bumps stays unused, as there.
FAST_INGEST = """
WITH seen AS (
    SELECT id FROM messages WHERE channel_id = $1 AND provider_message_id = $2
), contact AS (
    INSERT INTO contacts (id, tenant_id, channel_id, external_id, wa_id, business_user_id, profile_name)
    SELECT $3, $4, $1, $5, $6, $7, $8
    WHERE NOT EXISTS (SELECT 1 FROM seen)
    ON CONFLICT (channel_id, external_id) DO UPDATE SET
        wa_id = COALESCE(NULLIF(excluded.wa_id, ''), contacts.wa_id),
        business_user_id = COALESCE(NULLIF(excluded.business_user_id, ''), contacts.business_user_id),
        profile_name = COALESCE(excluded.profile_name, contacts.profile_name),
        updated_at = CASE WHEN NULLIF(excluded.wa_id, '') IS NOT NULL
                            OR NULLIF(excluded.business_user_id, '') IS NOT NULL
                            OR excluded.profile_name IS NOT NULL
                          THEN now() ELSE contacts.updated_at END
    RETURNING id
), conv AS (
    UPDATE conversations AS c
    SET last_seq = c.last_seq + 1, last_activity_at = now(),
        last_inbound_at = greatest(COALESCE(c.last_inbound_at, $9), $9)
    FROM contact
    WHERE c.channel_id = $1 AND c.contact_id = contact.id AND c.archived_at IS NULL
    RETURNING c.id, c.last_seq
), msg AS (
    INSERT INTO messages (id, tenant_id, conversation_id, channel_id, seq, direction, sender_role,
                          type, text, provider_message_id, status, status_reason, raw,
                          provider_timestamp)
    SELECT $10, $4, conv.id, $1, conv.last_seq, 'inbound', 'customer',
           $11, $12, $2, $13, $14, $15, $16
    FROM conv
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING conversation_id, seq, created_at
)
SELECT (SELECT id FROM seen LIMIT 1) AS seen, (SELECT id FROM contact) AS contact_id,
       (SELECT id FROM conv) AS open_conversation, msg.conversation_id, msg.seq, msg.created_at
FROM (SELECT 1) AS one LEFT JOIN msg ON true
"""

# The customer's first message (or first after archival): open the conversation at seq 1 with
# the message in it, in one statement. Nothing is stored when another request opened it first
# (the caller then goes round again and finds it open).
FAST_OPEN = """
WITH opened AS (
    INSERT INTO conversations (id, tenant_id, channel_id, agent_id, contact_id, mode, last_seq,
                               last_activity_at, last_inbound_at)
    VALUES ($1, $2, $3, $4, $5, 'ai', 1, now(), $6)
    ON CONFLICT (channel_id, contact_id) WHERE archived_at IS NULL DO NOTHING
    RETURNING id, last_seq
)
INSERT INTO messages (id, tenant_id, conversation_id, channel_id, seq, direction, sender_role,
                      type, text, provider_message_id, status, status_reason, raw,
                      provider_timestamp)
SELECT $7, $2, opened.id, $3, opened.last_seq, 'inbound', 'customer',
       $8, $9, $10, $11, $12, $13, $14
FROM opened
ON CONFLICT (channel_id, provider_message_id) DO NOTHING
RETURNING conversation_id, seq, created_at
"""


@dataclass(frozen=True)
class FastIngest:
    """What the one-statement path did: stored (with the row's event), duplicate, or neither
    (no open conversation: take the long way)."""

    outcome: str  # stored | duplicate | no_open_conversation
    conversation_id: uuid.UUID | None = None
    event: dict[str, Any] | None = None
    answerable: bool = False


async def ingest_fast(conn: Any, channel: ChannelRoute, msg: InboundMessage) -> FastIngest:
    """Store one inbound message in one round trip (two for a customer's first message)."""
    received_at = msg.timestamp or datetime.now(UTC)
    answerable = msg.answerable
    status, reason = ("received", None) if answerable else ("skipped", "unsupported_type")
    message_id = uuid.uuid4()
    raw = orjson.dumps(msg.raw).decode() if msg.raw is not None else None
    row = None
    # Twice at most: a conversation opened concurrently by another request is found open the
    # second time round.
    for _ in range(2):
        found = await conn.fetchrow(
            FAST_INGEST, channel.id, msg.provider_message_id, uuid.uuid4(), channel.tenant_id,
            msg.external_id[:128], msg.wa_id, msg.business_user_id,
            (msg.profile_name or None) and msg.profile_name[:200], received_at, message_id,
            msg.type, msg.text, status, reason, raw, msg.timestamp,
        )
        if found["seen"] is not None:
            return FastIngest("duplicate")
        if found["open_conversation"] is not None:
            row = found
            break
        row = await conn.fetchrow(
            FAST_OPEN, uuid.uuid4(), channel.tenant_id, channel.id, channel.agent_id,
            found["contact_id"], received_at, message_id, msg.type, msg.text,
            msg.provider_message_id, status, reason, raw, msg.timestamp,
        )
        if row is not None:
            break
    else:
        return FastIngest("no_open_conversation")
    if row is None or row["seq"] is None:
        # A concurrent delivery of the same message won; its seq number stays unused.
        return FastIngest("duplicate")
    stored = Message(
        id=message_id, tenant_id=channel.tenant_id, conversation_id=row["conversation_id"],
        channel_id=channel.id, seq=row["seq"], direction="inbound", sender_role="customer",
        type=msg.type, text=msg.text, provider_message_id=msg.provider_message_id,
        status=status, status_reason=reason, created_at=row["created_at"],
    )
    return FastIngest("stored", row["conversation_id"], events.message_created(stored), answerable)


async def ingest_message(
    session: AsyncSession, channel: ChannelRoute, msg: InboundMessage
) -> Message | None:
    """Store one inbound message; None when it was already stored (a redelivery)."""
    seen, contact_id = (await session.execute(_SEEN_OR_UPSERT_CONTACT, {
        "channel_id": channel.id, "pmid": msg.provider_message_id, "id": uuid.uuid4(),
        "tenant_id": channel.tenant_id, "external_id": msg.external_id[:128],
        "wa_id": msg.wa_id, "business_user_id": msg.business_user_id,
        "profile_name": (msg.profile_name or None) and msg.profile_name[:200],
    })).one()
    if seen is not None:
        return None
    assert contact_id is not None
    received_at = msg.timestamp or datetime.now(UTC)
    # Usually the customer's conversation is open: find it and take its next seq in one
    # statement (the UPDATE locks the row exactly as next_seq does). Only a first message, or
    # one after archival, opens a conversation the long way.
    bumped = (await session.execute(
        update(Conversation)
        .where(Conversation.channel_id == channel.id, Conversation.contact_id == contact_id,
               Conversation.archived_at.is_(None))
        .values(last_seq=Conversation.last_seq + 1, last_activity_at=func.now(),
                last_inbound_at=func.greatest(
                    func.coalesce(Conversation.last_inbound_at, received_at), received_at))
        .returning(Conversation.id, Conversation.last_seq)
    )).first()
    if bumped is not None:
        conversation_id, seq = bumped[0], int(bumped[1])
    else:
        conversation_id = await open_conversation(session, channel, channel.agent_id, contact_id)
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
            # Only while the id is unknown: a reply split in parts keeps its first part's id,
            # and reports about later parts must not replace it.
            q.where(Message.id == ours, Message.provider_message_id.is_(None))
            .values(**values, provider_message_id=st.provider_message_id).returning(Message)
        )
    if row is None:
        return False
    emit(session, str(channel.tenant_id), events.message_status_changed(row))
    return True
