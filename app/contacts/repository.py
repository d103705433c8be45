"""The contacts list as hand-written statements returning plain rows, scoped by tenant ($1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.conversations.pages import contact_matches, like_pattern

_SELECT = """
SELECT id, channel_id, external_id, wa_id, profile_name, name, notes, created_at
FROM contacts
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR channel_id = $2)
"""
# A search has a statement of its own so that a prepared statement's generic plan still uses
# the trigram index (ix_contacts_tenant_id_search_trgm).
_SEARCH = f"""
  AND {contact_matches("$3")}
"""
_AFTER = """
  AND (created_at, id) < ($4, $5)
"""
_ORDER = """
ORDER BY created_at DESC, id DESC LIMIT $6
"""
CONTACT_PAGE = {
    (search, after): _SELECT
    + (_SEARCH if search else "  AND $3::text IS NULL\n")
    + (_AFTER if after else "  AND $4::timestamptz IS NULL AND $5::uuid IS NULL\n")
    + _ORDER
    for search in (False, True)
    for after in (False, True)
}


async def contact_page(
    conn: Any, tenant_id: uuid.UUID, limit: int, *,
    after: tuple[datetime, uuid.UUID] | None, channel_id: uuid.UUID | None,
    search: str | None,
) -> list[Any]:
    """Newest first; `search` matches the name, profile name or external id anywhere."""
    at, after_id = after if after is not None else (None, None)
    pattern = like_pattern(search) if search is not None else None
    return list(await conn.fetch(
        CONTACT_PAGE[search is not None, after is not None],
        tenant_id, channel_id, pattern, at, after_id, limit,
    ))
