"""Message text search: the statement behind `searchMessages`, scoped by tenant.

A term matches a message's text anywhere, case-insensitively (`ILIKE '%term%'`, LIKE's
wildcards taken literally), newest first. Migration 0012's GIN trigram index (tenant id and
text) finds a rare term's rows; for a common one the planner walks
`ix_messages_tenant_id_created_at` newest first and stops at the page's end. A term shorter
than a trigram could use neither, so it is refused.

A term of several words is weighed word by word first. GIN looks up every trigram of the
pattern it is given, and a rare term made of common words ("order 4711") makes it read the
posting lists of the common words' trigrams nearly whole: tens of milliseconds over a million
messages, where the rare word alone is found in one or two. So one statement counts, for each
word, its matches up to a cap; the page is then read with the rarest word as the index's
pattern and the whole term checked on the rows it finds. Every message that contains the term
contains each of its words, so the hits are the same; a word found nowhere ends the search
without reading a page, and when every word is common the term is searched as it is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.conversations.pages import Row, like_pattern

MIN_TERM_CHARS = 3
MAX_TERM_CHARS = 200
# A word's matches are counted up to this many: past it, the word is common and its index
# lookup no cheaper than the newest-first walk.
PROBE_CAP = 500
# At most this many of a term's words are weighed (the first ones, once each).
MAX_PROBED_WORDS = 4

_COLUMNS = """
SELECT id, conversation_id, seq, direction, sender_role, type, text, status, status_reason,
       error_code, error_title, provider_message_id, created_at, operator_id,
       meta->>'reaction' AS reaction
FROM messages
"""
_PAGE_ORDER = {
    False: "  AND $4::timestamptz IS NULL AND $5::uuid IS NULL\n"
           "ORDER BY created_at DESC, id DESC LIMIT $6",
    True: "  AND (created_at, id) < ($4, $5)\nORDER BY created_at DESC, id DESC LIMIT $6",
}
_SEARCH = _COLUMNS + """
WHERE tenant_id = $1 AND text ILIKE $2
  AND ($3::uuid IS NULL OR channel_id = $3)
"""
# $2 is the rarest word's pattern, $7 the whole term's. `text || ''` keeps the whole term out
# of the index lookup (an indexable ILIKE would join its trigrams to the word's): it is
# checked on the rows the word's lookup finds.
_NARROWED = _COLUMNS + """
WHERE tenant_id = $1 AND text ILIKE $2 AND (text || '') ILIKE $7
  AND ($3::uuid IS NULL OR channel_id = $3)
"""
# The cursor has a statement of its own, so a prepared statement's generic plan still bounds
# the walk at it.
MESSAGE_SEARCH = {after: _SEARCH + _PAGE_ORDER[after] for after in (False, True)}
NARROWED_SEARCH = {after: _NARROWED + _PAGE_ORDER[after] for after in (False, True)}


def _probe(words: int) -> str:
    """Each word's matches counted up to the cap ($3), one column per word ($4...): built
    from a count, never from input; the words are parameters."""
    count = (
        "(SELECT count(*) FROM (SELECT 1 FROM messages WHERE tenant_id = $1 AND text ILIKE ${n}"
        " AND ($2::uuid IS NULL OR channel_id = $2) LIMIT $3) w{n})"
    )
    return "SELECT " + ", ".join(count.format(n=4 + i) for i in range(words))


WORD_PROBE = {n: _probe(n) for n in range(2, MAX_PROBED_WORDS + 1)}


def words_of(term: str) -> list[str]:
    """The term's words that a trigram index can look up (3 characters or more), each once
    (case-insensitively), at most MAX_PROBED_WORDS of them."""
    words: dict[str, str] = {}
    for word in term.split():
        if len(word) >= MIN_TERM_CHARS:
            words.setdefault(word.lower(), word)
    return list(words.values())[:MAX_PROBED_WORDS]


def rarest(words: list[str], counts: list[int]) -> tuple[str, int]:
    """The word with the fewest matches (the longer one on a tie) and its count."""
    count, _, word = min((c, -len(w), w) for w, c in zip(words, counts, strict=True))
    return word, count


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
    words = words_of(term)
    if len(words) > 1:
        counts = await conn.fetchrow(
            WORD_PROBE[len(words)], tenant_id, channel_id, PROBE_CAP,
            *(like_pattern(w) for w in words),
        )
        word, count = rarest(words, list(counts))
        if count == 0:
            return []
        if count < PROBE_CAP:
            return list(await conn.fetch(
                NARROWED_SEARCH[after is not None], tenant_id, like_pattern(word), channel_id,
                at, after_id, limit, like_pattern(term),
            ))
    return list(await conn.fetch(
        MESSAGE_SEARCH[after is not None], tenant_id, like_pattern(term), channel_id, at,
        after_id, limit,
    ))
