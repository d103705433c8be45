"""Leads: what the extraction worker learnt from conversations, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import select, tuple_

from app.errors import present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import Connection, connection, decode_time_id, page_size, time_id_cursor
from app.graphql.permissions import require_tenant
from app.graphql.writes import read
from app.models import Lead

if TYPE_CHECKING:
    from app.conversations.graphql import ConversationType

LEAD_CURSOR = "lead"


@strawberry.type(name="Lead", description=(
    "One extraction over the messages fromSeq..toSeq of a conversation. Scores are 1 (low) to 3."
))
class LeadType:
    id: strawberry.ID
    conversation_id: strawberry.ID
    name: str | None
    email: str | None
    company: str | None
    intent: str | None
    urgency: int
    budget: int
    fit: int
    engagement: int
    demo_at: datetime | None
    demo_timezone: str | None = strawberry.field(description=(
        'The time zone the customer named, e.g. "America/Mexico_City" or "+02:00".'
    ))
    notification: str = strawberry.field(description="A short note for the business.")
    from_seq: int
    to_seq: int
    created_at: datetime
    row: strawberry.Private[Lead]

    @classmethod
    def from_row(cls, row: Lead) -> LeadType:
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)), name=row.name,
            email=row.email, company=row.company, intent=row.intent, urgency=row.urgency,
            budget=row.budget, fit=row.fit, engagement=row.engagement, demo_at=row.demo_at,
            demo_timezone=row.demo_timezone, notification=row.notification or "",
            from_seq=row.from_seq, to_seq=row.to_seq, created_at=row.created_at, row=row,
        )

    @strawberry.field
    async def conversation(
        self, info: Info
    ) -> Annotated[ConversationType, strawberry.lazy("app.conversations.graphql")]:
        from app.conversations.graphql import ConversationType

        # A lead is deleted with its conversation.
        conv = present(
            await info.context.loaders.conversation.load(self.row.conversation_id), "conversation"
        )
        return ConversationType.from_row(conv)


def _cursor(row: Lead) -> str:
    return time_id_cursor(LEAD_CURSOR, row.created_at, row.id)


@strawberry.type
class LeadQuery:
    @gql.field("Every extraction of the tenant's conversations, newest first.")
    async def leads(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[LeadType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        q = select(Lead).where(Lead.tenant_id == tenant_id)
        if after is not None:
            at, lead_id = decode_time_id(after, LEAD_CURSOR)
            q = q.where(tuple_(Lead.created_at, Lead.id) < tuple_(at, lead_id))
        q = q.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit + 1)
        async with read(info) as session:
            rows = list((await session.scalars(q)).all())
        return connection(rows, limit, LeadType.from_row, _cursor, has_previous=after is not None)
