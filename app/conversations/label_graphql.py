"""The mutations that put labels on conversations and take them off."""

from __future__ import annotations

import strawberry

from app.conversations import tagging
from app.conversations.graphql import ConversationType
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import write


async def _change(
    info: Info, conversation_id: strawberry.ID, label_id: strawberry.ID, *, add: bool
) -> ConversationType:
    tenant_id = await require_tenant(info)
    cid, lid = parse_id(conversation_id, "conversation"), parse_id(label_id, "label")
    change = tagging.add_label if add else tagging.remove_label
    async with write(info) as session:
        conv = await change(session, tenant_id, cid, lid)
    return ConversationType.from_row(conv, info.context.loaders)


@strawberry.type
class ConversationLabelMutation:
    @gql.mutation(
        "Put a label on a conversation (already there: nothing changes). ConversationUpdated "
        "with change LABELS follows."
    )
    async def add_conversation_label(
        self, info: Info, conversation_id: strawberry.ID, label_id: strawberry.ID
    ) -> ConversationType:
        return await _change(info, conversation_id, label_id, add=True)

    @gql.mutation(
        "Take a label off a conversation (not there: nothing changes). ConversationUpdated with "
        "change LABELS follows."
    )
    async def remove_conversation_label(
        self, info: Info, conversation_id: strawberry.ID, label_id: strawberry.ID
    ) -> ConversationType:
        return await _change(info, conversation_id, label_id, add=False)
