"""The dashboard's reads as hand-written statements returning plain rows.

A page of 50 conversations with their channels, contacts and last messages is four
statements on one pooled connection (asyncpg's own prepared-statement cache, no transaction:
each read is one round trip). No ORM objects are built: their construction and identity map
were a tenth of the page's CPU, for rows that are only ever turned into GraphQL nodes. Every
statement is scoped by tenant ($1).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.models.contact import SEARCH_TEXT

# Rows are asyncpg Records: read by column name, like a mapping.
Row = Any


def contact_matches(pattern: str) -> str:
    """The contact search's condition on `contacts` for the pattern parameter `pattern`: the
    trigram index over SEARCH_TEXT finds the rows, each column is checked on them."""
    return (f"{SEARCH_TEXT} ILIKE {pattern} AND (name ILIKE {pattern} "
            f"OR profile_name ILIKE {pattern} OR external_id ILIKE {pattern})")


# The conversations page. The cheap filters (channel, mode, archived) are `$n IS NULL OR ...`
# checked on the rows the index walk yields; the cursor and the search each have a statement
# of their own, so that a prepared statement's generic plan still bounds the index walk at
# the cursor and still uses the contacts' trigram index for a search.
_PAGE_SELECT = """
SELECT id, channel_id, contact_id, mode, last_seq, last_activity_at, last_inbound_at,
       created_at, archived_at, handoff_requested_at, handoff_reason,
       status, snoozed_until, status_changed_at, assignee_id, last_inbound_seq
FROM conversations
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR channel_id = $2)
  AND ($3::text IS NULL OR mode = $3)
  AND ($4::bool IS NULL OR (archived_at IS NOT NULL) = $4)
  AND ($9::uuid IS NULL OR id IN (SELECT conversation_id FROM conversation_labels
                                  WHERE label_id = $9 AND tenant_id = $1))
"""
_PAGE_SEARCH = f"""
  AND contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1 AND {contact_matches("$5")})
"""  # noqa: S608 - built from constants, never from input
_PAGE_AFTER = """
  AND (last_activity_at, id) < ($6, $7)
"""
_PAGE_ORDER = """
ORDER BY last_activity_at DESC, id DESC LIMIT $8
"""
CONVERSATION_PAGE = {
    (search, after): _PAGE_SELECT
    + (_PAGE_SEARCH if search else "  AND $5::text IS NULL\n")
    + (_PAGE_AFTER if after else "  AND $6::timestamptz IS NULL AND $7::uuid IS NULL\n")
    + _PAGE_ORDER
    for search in (False, True)
    for after in (False, True)
}
CONVERSATIONS_BY_ID = """
SELECT id, channel_id, contact_id, mode, last_seq, last_activity_at, last_inbound_at,
       created_at, archived_at, handoff_requested_at, handoff_reason,
       status, snoozed_until, status_changed_at, assignee_id, last_inbound_seq
FROM conversations WHERE tenant_id = $1 AND id = ANY($2::uuid[])
"""
CONTACTS_BY_ID = """
SELECT id, external_id, profile_name, wa_id, name, notes
FROM contacts WHERE tenant_id = $1 AND id = ANY($2::uuid[])
"""
# Deleted channels included: an archived conversation still shows where it happened.
CHANNELS_BY_ID = """
SELECT id, kind, provider_account_id, display_name, status, settings, created_at, deleted_at
FROM channels WHERE tenant_id = $1 AND id = ANY($2::uuid[])
"""
CHANNEL_OWNED = "SELECT true FROM channels WHERE id = $2 AND tenant_id = $1"
LABEL_OWNED = "SELECT true FROM labels WHERE id = $2 AND tenant_id = $1"
# A probe of the unique (conversation_id, seq) index per key.
MESSAGES_AT = """
SELECT m.id, m.conversation_id, m.seq, m.direction, m.sender_role, m.type, m.text, m.status,
       m.status_reason, m.error_code, m.error_title, m.provider_message_id, m.created_at,
       m.operator_id, m.meta->>'reaction' AS reaction
FROM unnest($2::uuid[], $3::int[]) AS k(conversation_id, seq)
JOIN messages m ON m.conversation_id = k.conversation_id AND m.seq = k.seq
WHERE m.tenant_id = $1
"""
_MESSAGES = """
SELECT id, conversation_id, seq, direction, sender_role, type, text, status, status_reason,
       error_code, error_title, provider_message_id, created_at, operator_id,
       meta->>'reaction' AS reaction
FROM messages WHERE conversation_id = $2 AND tenant_id = $1
"""
MESSAGE_COUNT = "SELECT count(*) FROM messages WHERE conversation_id = $2 AND tenant_id = $1"
# A chat view's page on the unique (conversation_id, seq) index: (backwards, from a cursor).
MESSAGES_PAGE = {
    (False, False): _MESSAGES + "ORDER BY seq LIMIT $3",
    (False, True): _MESSAGES + "AND seq > $4 ORDER BY seq LIMIT $3",
    (True, False): _MESSAGES + "ORDER BY seq DESC LIMIT $3",
    (True, True): _MESSAGES + "AND seq < $4 ORDER BY seq DESC LIMIT $3",
}
_LEADS = """
SELECT id, conversation_id, name, email, company, intent, urgency, budget, fit, engagement,
       demo_at, demo_timezone, notification, from_seq, to_seq, created_at
FROM leads WHERE tenant_id = $1
  AND ($5::uuid IS NULL OR conversation_id IN (
        SELECT id FROM conversations WHERE tenant_id = $1 AND channel_id = $5))
  AND ($6::int IS NULL OR fit >= $6)
  AND ($7::int IS NULL OR urgency >= $7)
  AND ($8::timestamptz IS NULL OR created_at > $8)
  AND ($9::bool IS NULL OR (COALESCE(email, '') <> '') = $9)
  AND ($10::int IS NULL OR fit <= $10)
  AND ($11::int IS NULL OR urgency <= $11)
  AND ($12::int IS NULL OR budget >= $12)
  AND ($13::int IS NULL OR budget <= $13)
  AND ($14::int IS NULL OR engagement >= $14)
  AND ($15::int IS NULL OR engagement <= $15)
  AND ($16::timestamptz IS NULL OR created_at < $16)
"""
# Newest first, on ix_leads_tenant_id_created_at backwards from the cursor; the filters are
# checked on the rows that walk yields (a channel's conversations through their primary key).
LEAD_PAGE = {
    False: _LEADS + "AND $3::timestamptz IS NULL AND $4::uuid IS NULL "
                    "ORDER BY created_at DESC, id DESC LIMIT $2",
    True: _LEADS + "AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $2",
}


@dataclass(frozen=True)
class LeadFilter:
    channel_id: uuid.UUID | None = None
    min_fit: int | None = None
    min_urgency: int | None = None
    updated_after: datetime | None = None
    has_email: bool | None = None
    max_fit: int | None = None
    max_urgency: int | None = None
    min_budget: int | None = None
    max_budget: int | None = None
    min_engagement: int | None = None
    max_engagement: int | None = None
    updated_before: datetime | None = None


def like_pattern(term: str) -> str:
    """`term` anywhere, with LIKE's wildcards taken literally (backslash is the escape)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def conversation_page(
    conn: Any,
    tenant_id: uuid.UUID,
    limit: int,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    channel_id: uuid.UUID | None = None,
    mode: str | None = None,
    archived: bool | None = None,
    search: str | None = None,
    label_id: uuid.UUID | None = None,
) -> list[Row]:
    """Most recent activity first, `limit` rows after the cursor. `search` matches the
    contact's profile name or external id anywhere; `label_id`: conversations with that label."""
    sql = CONVERSATION_PAGE[search is not None, after is not None]
    at, after_id = after if after is not None else (None, None)
    pattern = like_pattern(search) if search is not None else None
    return list(await conn.fetch(
        sql, tenant_id, channel_id, mode, archived, pattern, at, after_id, limit, label_id
    ))


async def channel_owned(conn: Any, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(CHANNEL_OWNED, tenant_id, channel_id))


async def label_owned(conn: Any, tenant_id: uuid.UUID, label_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(LABEL_OWNED, tenant_id, label_id))


async def conversations_by_id(
    conn: Any, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    return {r["id"]: r for r in await conn.fetch(CONVERSATIONS_BY_ID, tenant_id, list(ids))}


async def contacts_by_id(
    conn: Any, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    return {r["id"]: r for r in await conn.fetch(CONTACTS_BY_ID, tenant_id, list(ids))}


async def channels_by_id(
    conn: Any, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    return {r["id"]: r for r in await conn.fetch(CHANNELS_BY_ID, tenant_id, list(ids))}


async def messages_at(
    conn: Any, tenant_id: uuid.UUID, keys: Sequence[tuple[uuid.UUID, int]]
) -> dict[uuid.UUID, Row]:
    """The message at (conversation, seq) for each key, by conversation."""
    rows = await conn.fetch(
        MESSAGES_AT, tenant_id, [k[0] for k in keys], [k[1] for k in keys]
    )
    return {r["conversation_id"]: r for r in rows}


async def messages_page(
    conn: Any,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
    *,
    backwards: bool,
    from_seq: int | None,
) -> list[Row]:
    """`limit` messages in seq order after `from_seq` (or, `backwards`, the newest before
    it)."""
    sql = MESSAGES_PAGE[backwards, from_seq is not None]
    args: tuple[Any, ...] = (tenant_id, conversation_id, limit)
    if from_seq is not None:
        args = (*args, from_seq)
    return list(await conn.fetch(sql, *args))


async def lead_page(
    conn: Any, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None,
    f: LeadFilter | None = None,
) -> list[Row]:
    f = f or LeadFilter()
    at, lead_id = after if after is not None else (None, None)
    return list(await conn.fetch(
        LEAD_PAGE[after is not None], tenant_id, limit, at, lead_id, f.channel_id, f.min_fit,
        f.min_urgency, f.updated_after, f.has_email, f.max_fit, f.max_urgency, f.min_budget,
        f.max_budget, f.min_engagement, f.max_engagement, f.updated_before,
    ))


async def message_count(conn: Any, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int:
    return int(await conn.fetchval(MESSAGE_COUNT, tenant_id, conversation_id))
