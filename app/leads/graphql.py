"""Leads: what the extraction worker learnt from conversations, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, cast

import strawberry

from app.conversations import pages
from app.conversations.graphql import RELATED_FIELDS, ConversationType, load_related
from app.db import driver_connection
from app.errors import BadUserInput, NotFound, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.loaders import Loaders
from app.graphql.pagination import (
    Connection,
    connection,
    decode_time_id,
    node_fields,
    page_size,
    time_id_cursor,
)
from app.graphql.permissions import parse_id, require_tenant
from app.models import Lead

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
    conversation_pk: strawberry.Private[uuid.UUID]
    loaders: strawberry.Private[Loaders]
    # The conversation a page loaded with its leads; None: loaded when asked.
    conversation_node: strawberry.Private[ConversationType | None] = None

    @classmethod
    def from_row(cls, row: Lead, loaders: Loaders) -> LeadType:
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)), name=row.name,
            email=row.email, company=row.company, intent=row.intent, urgency=row.urgency,
            budget=row.budget, fit=row.fit, engagement=row.engagement, demo_at=row.demo_at,
            demo_timezone=row.demo_timezone, notification=row.notification or "",
            from_seq=row.from_seq, to_seq=row.to_seq, created_at=row.created_at,
            conversation_pk=row.conversation_id, loaders=loaders,
        )

    @classmethod
    def from_record(
        cls, r: pages.Row, loaders: Loaders, conversation: ConversationType | None
    ) -> LeadType:
        return cls(
            id=strawberry.ID(str(r["id"])),
            conversation_id=strawberry.ID(str(r["conversation_id"])), name=r["name"],
            email=r["email"], company=r["company"], intent=r["intent"], urgency=r["urgency"],
            budget=r["budget"], fit=r["fit"], engagement=r["engagement"], demo_at=r["demo_at"],
            demo_timezone=r["demo_timezone"], notification=r["notification"] or "",
            from_seq=r["from_seq"], to_seq=r["to_seq"], created_at=r["created_at"],
            conversation_pk=r["conversation_id"], loaders=loaders,
            conversation_node=conversation,
        )

    # Takes only `self`: the executor reads it like an attribute (app/graphql/executor.py).
    @strawberry.field
    def conversation(
        self
    ) -> Annotated[ConversationType, strawberry.lazy("app.conversations.graphql")]:
        if self.conversation_node is not None:
            return self.conversation_node
        return cast(ConversationType, self._conversation())

    async def _conversation(self) -> ConversationType:
        # A lead is deleted with its conversation.
        conv = present(await self.loaders.conversation.load(self.conversation_pk), "conversation")
        return ConversationType.from_row(conv, self.loaders)


def _cursor(r: pages.Row) -> str:
    return time_id_cursor(LEAD_CURSOR, r["created_at"], r["id"])


@strawberry.input(name="LeadFilter")
class LeadFilterInput:
    channel_id: strawberry.ID | None = None
    min_fit: int | None = strawberry.field(default=None, description="1-3: at least this fit.")
    min_urgency: int | None = strawberry.field(default=None, description="1-3.")
    updated_after: datetime | None = strawberry.field(default=None, description=(
        "Extractions stored after this time."
    ))
    has_email: bool | None = strawberry.field(default=None, description=(
        "true: with an email; false: without one."
    ))
    max_fit: int | None = strawberry.field(default=None, description="1-3: at most this fit.")
    max_urgency: int | None = strawberry.field(default=None, description="1-3.")
    min_budget: int | None = strawberry.field(default=None, description="1-3.")
    max_budget: int | None = strawberry.field(default=None, description="1-3.")
    min_engagement: int | None = strawberry.field(default=None, description="1-3.")
    max_engagement: int | None = strawberry.field(default=None, description="1-3.")
    updated_before: datetime | None = strawberry.field(default=None, description=(
        "Extractions stored before this time (with updatedAfter: a date range)."
    ))


def _lead_filter(f: LeadFilterInput | None) -> pages.LeadFilter:
    if f is None:
        return pages.LeadFilter()
    ranges = (("Fit", f.min_fit, f.max_fit), ("Urgency", f.min_urgency, f.max_urgency),
              ("Budget", f.min_budget, f.max_budget),
              ("Engagement", f.min_engagement, f.max_engagement))
    for score, low, high in ranges:
        for name, value in ((f"min{score}", low), (f"max{score}", high)):
            if value is not None and not 1 <= value <= 3:
                raise BadUserInput(f"filter.{name} must be 1, 2 or 3")
        if low is not None and high is not None and low > high:
            raise BadUserInput(f"filter.min{score} must not be above filter.max{score}")
    for name, at in (("updatedAfter", f.updated_after), ("updatedBefore", f.updated_before)):
        if at is not None and at.tzinfo is None:
            raise BadUserInput(f"filter.{name} needs a time zone")
    if f.updated_after is not None and f.updated_before is not None and (
            f.updated_after >= f.updated_before):
        raise BadUserInput("filter.updatedBefore must be later than filter.updatedAfter")
    return pages.LeadFilter(
        channel_id=parse_id(f.channel_id, "channel") if f.channel_id is not None else None,
        min_fit=f.min_fit, min_urgency=f.min_urgency, updated_after=f.updated_after,
        has_email=f.has_email, max_fit=f.max_fit, max_urgency=f.max_urgency,
        min_budget=f.min_budget, max_budget=f.max_budget, min_engagement=f.min_engagement,
        max_engagement=f.max_engagement, updated_before=f.updated_before,
    )


@strawberry.type
class LeadQuery:
    @gql.field("Every extraction of the tenant's conversations, newest first.")
    async def leads(
        self, info: Info, first: int | None = None, after: str | None = None,
        filter: LeadFilterInput | None = None,
    ) -> Connection[LeadType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        cursor = decode_time_id(after, LEAD_CURSOR) if after is not None else None
        f = _lead_filter(filter)
        with_conversation = "conversation" in node_fields(info, "edges", "node")
        wanted = node_fields(info, "edges", "node", "conversation") & RELATED_FIELDS
        loaders = info.context.loaders
        conversations: dict[uuid.UUID, ConversationType] = {}
        async with driver_connection(info.context.rt.engine) as conn:
            if f.channel_id is not None and not await pages.channel_owned(
                    conn, tenant_id, f.channel_id):
                raise NotFound("channel")
            rows = await pages.lead_page(conn, tenant_id, limit + 1, cursor, f)
            if with_conversation and rows:
                found = await pages.conversations_by_id(
                    conn, tenant_id, list({r["conversation_id"] for r in rows[:limit]})
                )
                related = await load_related(conn, tenant_id, list(found.values()), wanted)
                conversations = {
                    k: ConversationType.from_record(v, loaders, related) for k, v in found.items()
                }
        return connection(
            rows, limit,
            lambda r: LeadType.from_record(r, loaders, conversations.get(r["conversation_id"])),
            _cursor, has_previous=after is not None,
        )
