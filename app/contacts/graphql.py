"""Contacts: the tenant's customers across its channels, searchable, with the team's name and
notes for each."""

from __future__ import annotations

from typing import Any

import strawberry

from app.contacts import repository, service
from app.conversations import pages
from app.conversations.nodes import ContactType
from app.db import driver_connection
from app.errors import NotFound
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    connection,
    decode_time_id,
    page_size,
    time_id_cursor,
)
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import write

CONTACT_CURSOR = "contact"
MAX_SEARCH_CHARS = 200


@strawberry.input
class UpdateContactInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description=(
        "At most 200 characters; null or blank clears it. Omitted: unchanged."
    ))
    notes: str | None = strawberry.field(default=strawberry.UNSET, description=(
        "At most 4,000 characters; null or blank clears them. Omitted: unchanged."
    ))


def _cursor(r: Any) -> str:
    return time_id_cursor(CONTACT_CURSOR, r["created_at"], r["id"])


@strawberry.type
class ContactQuery:
    @gql.field(
        "The tenant's contacts, newest first. `search` matches the team's name, the profile "
        "name or the external id (the phone number on WhatsApp) anywhere, case-insensitively; "
        "`channelId` keeps one channel's."
    )
    async def contacts(
        self, info: Info, first: int | None = None, after: str | None = None,
        search: str | None = None, channel_id: strawberry.ID | None = None,
    ) -> Connection[ContactType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        cursor = decode_time_id(after, CONTACT_CURSOR) if after is not None else None
        term = search.strip()[:MAX_SEARCH_CHARS] if search and search.strip() else None
        channel = parse_id(channel_id, "channel") if channel_id is not None else None
        async with driver_connection(info.context.rt.engine) as conn:
            if channel is not None and not await pages.channel_owned(conn, tenant_id, channel):
                raise NotFound("channel")
            rows = await repository.contact_page(
                conn, tenant_id, limit + 1, after=cursor, channel_id=channel, search=term)
        return connection(rows, limit, ContactType.from_record, _cursor,
                          has_previous=after is not None)


@strawberry.type
class ContactMutation:
    @gql.mutation("Set the name the team calls a contact by, and notes about them.")
    async def update_contact(
        self, info: Info, id: strawberry.ID, input: UpdateContactInput
    ) -> ContactType:
        tenant_id = await require_tenant(info)
        changes: dict[str, str | None] = {}
        if input.name is not strawberry.UNSET:
            changes["name"] = input.name
        if input.notes is not strawberry.UNSET:
            changes["notes"] = input.notes
        async with write(info) as session:
            row = await service.update_contact(
                session, tenant_id, parse_id(id, "contact"), **changes)
        return ContactType.from_row(row)
