"""The team inbox's reads as hand-written statements returning plain rows, like
app/conversations/pages.py: the filtered and ordered conversations page, its total count,
the counts behind the inbox's tabs, and the per-page rows of assignees and read markers (one
statement per kind for a whole page). Every statement is scoped by tenant ($1).

All the filters are `$n IS NULL OR ...` checked on the rows the index walk yields, so the
statement text depends only on the order, the cursor and the search: twelve prepared
statements for the pages in all.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.conversations.pages import Row, contact_matches, like_pattern

COLUMNS = """c.id, c.channel_id, c.contact_id, c.mode, c.last_seq, c.last_activity_at,
       c.last_inbound_at, c.created_at, c.archived_at, c.handoff_requested_at, c.handoff_reason,
       c.status, c.snoozed_until, c.status_changed_at, c.assignee_id, c.last_inbound_seq"""

# Unread for the calling operator ($2): the customer wrote after what they last read. With a
# machine key ($2 null) nothing has been read.
UNREAD = "(c.last_inbound_seq > COALESCE(r.last_read_seq, 0))"
# Needs a human: the agent asked for one, or an operator has the conversation and the
# customer's message is its latest.
NEEDS_HUMAN = ("(c.handoff_requested_at IS NOT NULL OR (c.mode = 'human' "
               "AND c.last_seq > 0 AND c.last_inbound_seq = c.last_seq))")

_FROM = """
FROM conversations c
LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.operator_id = $2
WHERE c.tenant_id = $1
  AND ($3::uuid[] IS NULL OR c.channel_id = ANY($3))
  AND ($4::text IS NULL OR c.mode = $4)
  AND ($5::bool IS NULL OR (c.archived_at IS NOT NULL) = $5)
  AND ($6::text[] IS NULL OR c.status = ANY($6))
  AND ($7::uuid IS NULL OR c.assignee_id = $7)
  AND ($8::bool IS NULL OR (c.assignee_id IS NULL) = $8)
  AND ($9::text IS NULL OR c.channel_id IN (
        SELECT id FROM channels WHERE tenant_id = $1 AND kind = $9))
  AND ($10::timestamptz IS NULL OR c.last_activity_at >= $10)
  AND ($11::timestamptz IS NULL OR c.last_activity_at < $11)
  AND ($12::bool IS NULL OR """ + NEEDS_HUMAN + """ = $12)
  AND ($13::bool IS NULL OR EXISTS (
        SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.tenant_id = $1
          AND m.status IN ('failed', 'skipped')) = $13)
  AND ($14::int IS NULL OR (
        SELECT l.fit FROM leads l WHERE l.conversation_id = c.id AND l.tenant_id = $1
        ORDER BY l.created_at DESC, l.id DESC LIMIT 1) >= $14)
  AND ($15::bool IS NULL OR """ + UNREAD + """ = $15)
  AND ($17::uuid IS NULL OR c.id IN (SELECT conversation_id FROM conversation_labels
                                     WHERE label_id = $17 AND tenant_id = $1))
"""  # noqa: S608 - built from the constants above, never from input
_SEARCH = f"""
  AND c.contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1
                       AND {contact_matches("$16")})
"""  # noqa: S608 - built from constants, never from input
_NO_SEARCH = "  AND $16::text IS NULL\n"
FILTER_PARAMS = 17


class Order(enum.Enum):
    LAST_ACTIVITY = "last_activity"
    CREATED = "created"
    UNREAD_FIRST = "unread_first"


# Each order's keyset, newest first, always ending in the id: a stable cursor.
_KEYSET = {
    Order.LAST_ACTIVITY: ("(c.last_activity_at, c.id) < ($18, $19) AND $20::int IS NULL",
                          "c.last_activity_at DESC, c.id DESC"),
    Order.CREATED: ("(c.created_at, c.id) < ($18, $19) AND $20::int IS NULL",
                    "c.created_at DESC, c.id DESC"),
    Order.UNREAD_FIRST: (f"({UNREAD}::int, c.last_activity_at, c.id) < ($20, $18, $19)",
                         f"{UNREAD}::int DESC, c.last_activity_at DESC, c.id DESC"),
}
PAGE = {
    (order, search, after): "SELECT " + COLUMNS + ", " + UNREAD + " AS unread" + _FROM
    + (_SEARCH if search else _NO_SEARCH)
    + ("  AND " + _KEYSET[order][0] + "\n" if after
       else "  AND $18::timestamptz IS NULL AND $19::uuid IS NULL AND $20::int IS NULL\n")
    + "ORDER BY " + _KEYSET[order][1] + " LIMIT $21"
    for order in Order
    for search in (False, True)
    for after in (False, True)
}
COUNT = {
    search: "SELECT count(*)" + _FROM + (_SEARCH if search else _NO_SEARCH)
    for search in (False, True)
}
# The inbox's tabs in one statement: per status, mode, channel and assignee, and in all.
COUNTS = {
    search: f"""
SELECT c.status, c.mode, c.channel_id, c.assignee_id,
       GROUPING(c.status) AS no_status, GROUPING(c.mode) AS no_mode,
       GROUPING(c.channel_id) AS no_channel, GROUPING(c.assignee_id) AS no_assignee,
       count(*) AS n, count(*) FILTER (WHERE {UNREAD}) AS unread,
       count(*) FILTER (WHERE {NEEDS_HUMAN}) AS needs_human"""
    + _FROM + (_SEARCH if search else _NO_SEARCH)
    + "GROUP BY GROUPING SETS ((c.status), (c.mode), (c.channel_id), (c.assignee_id), ())"
    for search in (False, True)
}
CHANNELS_OWNED = "SELECT count(*) FROM channels WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
# Per page: the operators assigned, and the calling operator's read markers with the
# customer messages after each (a range of the unique (conversation_id, seq) index).
OPERATORS_BY_ID = """
SELECT id, name, email, role, created_at, deactivated_at FROM operators
WHERE tenant_id = $1 AND id = ANY($2::uuid[])
"""
READS = """
SELECT k.id AS conversation_id, COALESCE(r.last_read_seq, 0) AS last_read_seq,
       (SELECT count(*) FROM messages m
        WHERE m.conversation_id = k.id AND m.tenant_id = $1 AND m.direction = 'inbound'
          AND m.seq > COALESCE(r.last_read_seq, 0)) AS unread
FROM unnest($2::uuid[]) AS k(id)
LEFT JOIN conversation_reads r ON r.conversation_id = k.id AND r.operator_id = $3
"""


@dataclass(frozen=True)
class Filter:
    channel_ids: list[uuid.UUID] | None = None
    mode: str | None = None
    archived: bool | None = None
    statuses: list[str] | None = None
    assignee_id: uuid.UUID | None = None
    unassigned: bool | None = None
    channel_kind: str | None = None
    active_from: datetime | None = None
    active_to: datetime | None = None
    needs_human: bool | None = None
    has_failed: bool | None = None
    min_lead_fit: int | None = None
    unread: bool | None = None
    search: str | None = None
    label_id: uuid.UUID | None = None

    def params(self, tenant_id: uuid.UUID, operator_id: uuid.UUID | None) -> tuple[Any, ...]:
        pattern = like_pattern(self.search) if self.search is not None else None
        return (
            tenant_id, operator_id, self.channel_ids, self.mode, self.archived, self.statuses,
            self.assignee_id, self.unassigned, self.channel_kind, self.active_from,
            self.active_to, self.needs_human, self.has_failed, self.min_lead_fit, self.unread,
            pattern, self.label_id,
        )


async def page(
    conn: Any, tenant_id: uuid.UUID, operator_id: uuid.UUID | None, f: Filter, order: Order,
    limit: int, after: tuple[datetime, uuid.UUID, int] | None,
) -> list[Row]:
    """`limit` rows after the cursor (time, id, unread) in `order`."""
    at, after_id, unread = after if after is not None else (None, None, None)
    if order is not Order.UNREAD_FIRST:
        unread = None
    sql = PAGE[order, f.search is not None, after is not None]
    return list(await conn.fetch(sql, *f.params(tenant_id, operator_id), at, after_id, unread,
                                 limit))


async def total(conn: Any, tenant_id: uuid.UUID, operator_id: uuid.UUID | None,
                f: Filter) -> int:
    return int(await conn.fetchval(COUNT[f.search is not None],
                                   *f.params(tenant_id, operator_id)))


async def counts(conn: Any, tenant_id: uuid.UUID, operator_id: uuid.UUID | None,
                 f: Filter) -> list[Row]:
    return list(await conn.fetch(COUNTS[f.search is not None],
                                 *f.params(tenant_id, operator_id)))


async def operators_by_id(
    conn: Any, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    return {r["id"]: r for r in await conn.fetch(OPERATORS_BY_ID, tenant_id, list(ids))}


async def reads(
    conn: Any, tenant_id: uuid.UUID, operator_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    """Per conversation: the operator's last read seq and the customer messages after it."""
    rows = await conn.fetch(READS, tenant_id, list(ids), operator_id)
    return {r["conversation_id"]: r for r in rows}


async def channels_owned(conn: Any, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> bool:
    """Whether every one of these (distinct) channels is the tenant's."""
    return int(await conn.fetchval(CHANNELS_OWNED, tenant_id, list(ids))) == len(ids)
