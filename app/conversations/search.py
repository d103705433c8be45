"""Message text search: the statement behind `searchMessages`, scoped by tenant.

A term matches a message's text anywhere, case-insensitively (`ILIKE '%term%'`, LIKE's
wildcards taken literally), newest first. Migration 0012's GIN trigram index (tenant id and
text) finds a rare term's rows; for a common one the planner walks
`ix_messages_tenant_id_created_at` newest first and stops at the page's end. A term shorter
than a trigram could use neither, so it is refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.conversations.pages import Row, like_pattern

MIN_TERM_CHARS = 3
MAX_TERM_CHARS = 200

_SEARCH = """
SELECT id, conversation_id, seq, direction, sender_role, type, text, status, status_reason,
       error_code, error_title, provider_message_id, created_at, operator_id,
       meta->>'reaction' AS reaction
FROM messages
WHERE tenant_id = $1 AND text ILIKE $2
  AND ($3::uuid IS NULL OR channel_id = $3)
"""
# The cursor has a statement of its own, so a prepared statement's generic plan still bounds
# the walk at it.
MESSAGE_SEARCH = {
    False: _SEARCH + "  AND $4::timestamptz IS NULL AND $5::uuid IS NULL\n"
                     "ORDER BY created_at DESC, id DESC LIMIT $6",
    True: _SEARCH + "  AND (created_at, id) < ($4, $5)\nORDER BY created_at DESC, id DESC LIMIT $6",
}


async def search_messages(
    conn: Any,
    tenant_id: uuid.UUID,
    term: str,
    limit: int,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    channel_id: uuid.UUID | None = None,
) -> list[Row]:
    """`limit` messages whose text contains `term`, newest first, after the cursor."""
    at, after_id = after if after is not None else (None, None)
    return list(await conn.fetch(
        MESSAGE_SEARCH[after is not None], tenant_id, like_pattern(term), channel_id, at,
        after_id, limit,
    ))
