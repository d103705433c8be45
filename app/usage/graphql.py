"""`usage`: inbound messages, AI replies, operator messages, template sends, failed sends,
model tokens and credits debited over a period, by day, channel or agent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from app.errors import ValidationFailed
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import require_tenant
from app.graphql.writes import read
from app.usage import repository
from app.usage.repository import UsageGroup

MAX_RANGE = timedelta(days=366)

UsageGroupBy = strawberry.enum(UsageGroup, name="UsageGroupBy")


@strawberry.type(name="UsageRow")
class UsageRowType:
    day: str | None = strawberry.field(description="YYYY-MM-DD (UTC) when grouped by DAY.")
    channel_id: strawberry.ID | None = strawberry.field(description="When grouped by CHANNEL.")
    agent_id: strawberry.ID | None = strawberry.field(
        description="When grouped by AGENT; null for conversations without an agent.")
    inbound_messages: int
    ai_replies: int
    operator_messages: int
    template_sends: int
    failed_sends: int
    input_tokens: int
    output_tokens: int
    credits_debited: int = strawberry.field(description="Credits kept for replies (reserved "
                                                        "minus released), grants excluded.")


def _row(r: repository.UsageRow, group: UsageGroup) -> UsageRowType:
    key = strawberry.ID(r.key) if r.key is not None else None
    return UsageRowType(
        day=r.key if group == UsageGroup.DAY else None,
        channel_id=key if group == UsageGroup.CHANNEL else None,
        agent_id=key if group == UsageGroup.AGENT else None,
        inbound_messages=r.inbound_messages, ai_replies=r.ai_replies,
        operator_messages=r.operator_messages, template_sends=r.template_sends,
        failed_sends=r.failed_sends, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
        credits_debited=r.credits_debited,
    )


@strawberry.type
class UsageQuery:
    @gql.field("What the tenant's agents and operators did in [from, to), at most 366 days.")
    async def usage(
        self, info: Info, from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime | None = None,
        group_by: UsageGroupBy = UsageGroup.DAY,  # type: ignore[valid-type]
    ) -> list[UsageRowType]:
        tenant_id = await require_tenant(info)
        end = to or datetime.now(from_.tzinfo)
        if from_.tzinfo is None or end.tzinfo is None:
            raise ValidationFailed("from and to need a time zone")
        if not from_ < end or end - from_ > MAX_RANGE:
            raise ValidationFailed("from must be before to, at most 366 days apart")
        group = UsageGroup(group_by)
        async with read(info) as session:
            rows = await repository.usage(session, tenant_id, from_, end, group)
        return [_row(r, group) for r in rows]
