"""Persist inbound traffic: every accepted message is in Postgres before the webhook answers.

Dedup is the unique (channel, provider message id): a redelivery seconds or days later finds
its row and changes nothing. Status reports only ever move an outbound message forward.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.adapters.base import InboundMessage, StatusUpdate
from app.channels.routing import ChannelRoute
from app.conversations import events
from app.effects import Effects, effects_of, emit
from app.models import Message
from app.models.states import MessageDirection, MessageStatus, SenderRole
from app.templates.sending import settle_failed_template

# Which statuses each report may replace: forward only, and `failed` never after delivery.
FORWARD_FROM: dict[str, tuple[str, ...]] = {
    "sent": ("pending", "unknown"),
    "delivered": ("pending", "unknown", "sent"),
    "read": ("pending", "unknown", "sent", "delivered"),
    "failed": ("pending", "unknown", "sent"),
}


# The whole usual case in one statement and one round trip: redelivery check, contact upsert
# (a non-empty value replaces the stored one, an empty one keeps it, as
# conversations.service.upsert_contact does; nothing is written for a message already stored),
# the open conversation's next seq (the UPDATE locks its row, as next_seq does; the same UPDATE
# reopens a resolved or snoozed conversation, and says so: only this statement stamps
# status_changed_at with its own start time), and the message row. It stores nothing but the
# contact when the customer has no open conversation (a first message, or one after
# archival): FAST_OPEN follows. A redelivery that loses a race to
# its twin leaves its seq unused.
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
    SET last_seq = c.last_seq + 1, last_inbound_seq = c.last_seq + 1, last_activity_at = now(),
        last_inbound_at = greatest(COALESCE(c.last_inbound_at, $9), $9),
        status = CASE WHEN c.status IN ('resolved', 'snoozed') THEN 'open' ELSE c.status END,
        snoozed_until = CASE WHEN c.status IN ('resolved', 'snoozed') THEN NULL
                             ELSE c.snoozed_until END,
        status_changed_at = CASE WHEN c.status IN ('resolved', 'snoozed')
                                 THEN statement_timestamp() ELSE c.status_changed_at END
    FROM contact
    WHERE c.channel_id = $1 AND c.contact_id = contact.id AND c.archived_at IS NULL
    RETURNING c.id, c.last_seq, c.status_changed_at = statement_timestamp() AS reopened
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
       (SELECT id FROM conv) AS open_conversation, (SELECT reopened FROM conv) AS reopened,
       msg.conversation_id, msg.seq, msg.created_at
FROM (SELECT 1) AS one LEFT JOIN msg ON true
"""

# The customer's first message (or first after archival): open the conversation at seq 1 with
# the message in it, in one statement. Nothing is stored when another request opened it first
# (the caller then goes round again and finds it open).
FAST_OPEN = """
WITH opened AS (
    INSERT INTO conversations (id, tenant_id, channel_id, agent_id, contact_id, mode, last_seq,
                               last_inbound_seq, last_activity_at, last_inbound_at)
    VALUES ($1, $2, $3, $4, $5, 'ai', 1, 1, now(), $6)
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


# Messages whose statement reopened their resolved or snoozed conversation, for announce():
# ingest() returns the message alone, and this says the rest without a column of its own.
REOPENED: weakref.WeakSet[Message] = weakref.WeakSet()
# A reaction (or its removal, emoji NULL) recorded on the message it reacts to.
_REACT = """
UPDATE messages SET meta = CASE WHEN $3::text IS NULL THEN meta - 'reaction'
                                ELSE meta || jsonb_build_object('reaction', $3::text) END
WHERE channel_id = $1 AND provider_message_id = $2
RETURNING id
"""


# Runs one statement with positional parameters and returns its first row (by column name) or
# None: a driver connection's fetchrow (each statement commits by itself), or in_session().
Fetch = Callable[..., Awaitable[Any]]


async def in_session(session: AsyncSession) -> Fetch:
    """A Fetch inside the session's transaction (statements sent as written)."""
    conn = await session.connection()

    async def fetch(sql: str, *args: Any) -> Any:
        return (await conn.exec_driver_sql(sql, args)).mappings().first()

    return fetch


async def ingest(fetch: Fetch, channel: ChannelRoute, msg: InboundMessage) -> Message | None:
    """Store one inbound message in one round trip (two for a customer's first message); None
    when it was stored before (a redelivery). The Message returned is detached: the row's
    columns an event needs."""
    received_at = msg.timestamp or datetime.now(UTC)
    status, reason = ("received", None) if msg.answerable else ("skipped", "unsupported_type")
    message_id = uuid.uuid4()
    raw = orjson.dumps(msg.raw).decode() if msg.raw is not None else None
    # A conversation opened concurrently by another request is found open the next time round;
    # one also archived meanwhile needs a third.
    for _ in range(3):
        found = await fetch(
            FAST_INGEST, channel.id, msg.provider_message_id, uuid.uuid4(), channel.tenant_id,
            msg.external_id[:128], msg.wa_id, msg.business_user_id,
            (msg.profile_name or None) and msg.profile_name[:200], received_at, message_id,
            msg.type, msg.text, status, reason, raw, msg.timestamp,
        )
        if found["seen"] is not None:
            return None
        row = found if found["open_conversation"] is not None else await fetch(
            FAST_OPEN, uuid.uuid4(), channel.tenant_id, channel.id, channel.agent_id,
            found["contact_id"], received_at, message_id, msg.type, msg.text,
            msg.provider_message_id, status, reason, raw, msg.timestamp,
        )
        if row is not None:
            break
    else:
        raise RuntimeError("no open conversation for the message after three attempts")
    if row["seq"] is None:
        # A concurrent delivery of the same message won; its seq number stays unused.
        return None
    if msg.reacts_to is not None:
        # Shown on the message it reacts to (one of ours, by its provider id), not answered.
        await fetch(_REACT, channel.id, msg.reacts_to, msg.reaction)
    stored = Message(
        id=message_id, tenant_id=channel.tenant_id, conversation_id=row["conversation_id"],
        channel_id=channel.id, seq=row["seq"], direction=MessageDirection.INBOUND,
        sender_role=SenderRole.CUSTOMER,
        type=msg.type, text=msg.text, provider_message_id=msg.provider_message_id,
        status=status, status_reason=reason, created_at=row["created_at"],
    )
    if row is found and found["reopened"]:
        REOPENED.add(stored)
    return stored


def announce(effects: Effects, channel: ChannelRoute, msg: InboundMessage, row: Message) -> None:
    """What a stored message sets off once committed: its event, and a wake-up if answered."""
    effects.events.append((str(channel.tenant_id), events.message_created(row)))
    if row.seq == 1:
        # The first message of a conversation is stored with it (FAST_OPEN).
        effects.events.append((str(channel.tenant_id), events.conversation_created(row)))
    elif row in REOPENED:
        effects.events.append((str(channel.tenant_id), events.conversation_reopened(row)))
    if msg.answerable:
        effects.wake(str(row.conversation_id))


async def ingest_message(
    session: AsyncSession, channel: ChannelRoute, msg: InboundMessage
) -> Message | None:
    """ingest() inside the session's transaction, its event and wake-up after the commit."""
    row = await ingest(await in_session(session), channel, msg)
    if row is not None:
        announce(effects_of(session), channel, msg, row)
    return row


async def apply_status(session: AsyncSession, channel: ChannelRoute, st: StatusUpdate) -> bool:
    values: dict[str, object] = {"status": st.status}
    if st.status == MessageStatus.FAILED:
        values.update(
            error_code=st.error_code, error_title=st.error_title,
            status_reason="window_closed" if st.error_code == "131047" else "provider_error",
        )
    q = update(Message).where(
        Message.channel_id == channel.id,
        Message.direction == MessageDirection.OUTBOUND,
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
    if row.type == "template" and st.status == "failed":
        # Refused after it was accepted: explained, and its credits given back, as when the
        # send call itself is refused.
        await settle_failed_template(session, row)
    emit(session, str(channel.tenant_id), events.message_status_changed(row))
    return True
