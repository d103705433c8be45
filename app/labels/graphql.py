"""Labels: the tenant's set (name, colour). Putting them on conversations is in
app/conversations/tagging.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.labels import service
from app.models import Label


@strawberry.type(name="Label")
class LabelType:
    id: strawberry.ID
    name: str
    color: str = strawberry.field(description='"#rrggbb".')
    created_at: datetime

    @classmethod
    def from_row(cls, row: Label) -> LabelType:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, color=row.color,
                   created_at=row.created_at)

    @classmethod
    def from_record(cls, r: Any) -> LabelType:
        return cls(id=strawberry.ID(str(r["label_id"])), name=r["name"], color=r["color"],
                   created_at=r["created_at"])


@strawberry.type
class LabelQuery:
    @gql.field("The tenant's labels, by name.")
    async def labels(self, info: Info) -> list[LabelType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await service.list_labels(session, tenant_id)
        return [LabelType.from_row(r) for r in rows]


@strawberry.type
class LabelMutation:
    @gql.mutation(
        "A new label: name 1-50 characters, unique in the tenant (CONFLICT otherwise); color "
        '"#rrggbb" (default a grey).'
    )
    async def create_label(self, info: Info, name: str, color: str | None = None) -> LabelType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.create_label(session, tenant_id, name, color)
        return LabelType.from_row(row)

    @gql.mutation("Rename or recolour a label; conversations that carry it show the change.")
    async def update_label(
        self, info: Info, id: strawberry.ID, name: str | None = None, color: str | None = None
    ) -> LabelType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.update_label(
                session, tenant_id, parse_id(id, "label"), name, color)
        return LabelType.from_row(row)

    @gql.mutation("Delete a label: it leaves every conversation that had it. Returns its id.")
    async def delete_label(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.delete_label(session, tenant_id, parse_id(id, "label"))
        return id
