"""Usage figures in two statements (messages, credits), grouped by day, channel or agent,
always for one tenant; both walk their (tenant_id, created_at) index over the period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class UsageGroup(StrEnum):
    DAY = "day"
    CHANNEL = "channel"
    AGENT = "agent"


# The grouping key of each kind, for messages (m) joined to their conversation (c).
_KEY = {
    UsageGroup.DAY: "(({t}.created_at AT TIME ZONE 'UTC')::date)::text",
    UsageGroup.CHANNEL: "c.channel_id::text",
    UsageGroup.AGENT: "c.agent_id::text",
}

_MESSAGES = """
SELECT {key} AS k,
       count(*) FILTER (WHERE m.direction = 'inbound' AND m.sender_role = 'customer') AS inbound,
       count(*) FILTER (WHERE m.sender_role = 'ai') AS ai_replies,
       count(*) FILTER (WHERE m.sender_role = 'operator' AND m.type <> 'template') AS operator,
       count(*) FILTER (WHERE m.direction = 'outbound' AND m.type = 'template') AS templates,
       count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'failed') AS failed,
       COALESCE(sum((m.meta -> 'usage' ->> 'input_tokens')::bigint)
                FILTER (WHERE m.sender_role = 'ai'), 0) AS input_tokens,
       COALESCE(sum((m.meta -> 'usage' ->> 'output_tokens')::bigint)
                FILTER (WHERE m.sender_role = 'ai'), 0) AS output_tokens
FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
WHERE m.tenant_id = :tenant_id AND m.created_at >= :start AND m.created_at < :end
GROUP BY 1
"""

# Debited: reservations kept (reserved minus released); grants are not usage.
_CREDITS = """
SELECT {key} AS k, COALESCE(-sum(l.delta), 0) AS debited
FROM credit_ledger AS l LEFT JOIN conversations AS c ON c.id = l.conversation_id
WHERE l.tenant_id = :tenant_id AND l.created_at >= :start AND l.created_at < :end
  AND l.kind IN ('reserve', 'release')
GROUP BY 1
"""


@dataclass
class UsageRow:
    key: str | None
    inbound_messages: int = 0
    ai_replies: int = 0
    operator_messages: int = 0
    template_sends: int = 0
    failed_sends: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    credits_debited: int = 0


async def usage(session: AsyncSession, tenant_id: uuid.UUID, start: datetime, end: datetime,
                group: UsageGroup) -> list[UsageRow]:
    params = {"tenant_id": tenant_id, "start": start, "end": end}
    rows: dict[str | None, UsageRow] = {}
    for r in (await session.execute(
            text(_MESSAGES.format(key=_KEY[group].format(t="m"))), params)).mappings():
        rows[r["k"]] = UsageRow(
            key=r["k"], inbound_messages=r["inbound"], ai_replies=r["ai_replies"],
            operator_messages=r["operator"], template_sends=r["templates"],
            failed_sends=r["failed"], input_tokens=int(r["input_tokens"]),
            output_tokens=int(r["output_tokens"]))
    for r in (await session.execute(
            text(_CREDITS.format(key=_KEY[group].format(t="l"))), params)).mappings():
        rows.setdefault(r["k"], UsageRow(key=r["k"])).credits_debited = int(r["debited"])
    return sorted(rows.values(), key=lambda u: (u.key is None, u.key or ""))
