"""The team inbox: operators, assignment, status, read markers, typing, and the counts behind
the inbox's tabs. Conversations' own fields (status, assignee, unreadCount) live on
Conversation (app/conversations/graphql.py); the events on conversationEvents."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.conversations.graphql import ConversationFilter, ConversationType
from app.db import driver_connection
from app.effects import Effects, flush
from app.errors import Forbidden, NotFound
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import Connection
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.inbox import lists, pages, service
from app.inbox.lists import inbox_filter
from app.inbox.nodes import ConversationOrder, OperatorRole, OperatorType
from app.models import Conversation
from app.models.states import ConversationMode, ConversationStatus
from app.tenants.graphql import ApiKeyType


async def require_operator(info: Info) -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant id, operator id) of a caller using an operator's key."""
    tenant_id = await require_tenant(info)
    operator_id = (await info.context.principal()).operator_id
    if operator_id is None:
        raise Forbidden("this needs an operator's API key (this key is not an operator's; "
                        "createOperator makes one)")
    return tenant_id, operator_id


async def _operator_id(info: Info) -> uuid.UUID | None:
    return (await info.context.principal()).operator_id


def _node(info: Info, row: Conversation) -> ConversationType:
    return ConversationType.from_row(row, info.context.loaders)


@strawberry.type
class CreatedOperator:
    operator: OperatorType
    api_key: ApiKeyType
    key: str = strawberry.field(description="The operator's secret key. Shown once.")


@strawberry.type
class CreatedOperatorKey:
    api_key: ApiKeyType
    key: str = strawberry.field(description="The secret key. Shown once.")


@strawberry.type
class StatusCount:
    status: ConversationStatus
    count: int


@strawberry.type
class ChannelCount:
    channel_id: strawberry.ID
    count: int


@strawberry.type
class AssigneeCount:
    assignee_id: strawberry.ID | None = strawberry.field(description="Null: unassigned.")
    count: int


@strawberry.type
class ModeCount:
    mode: ConversationMode
    count: int


@strawberry.type(description=(
    "How many conversations match a filter, in all and per status, mode, channel and "
    "assignee: the inbox's tabs, in one statement. Groups with no conversation are left out."
))
class ConversationCounts:
    total: int
    mine: int | None = strawberry.field(description=(
        "Assigned to the calling operator; null with a key that is not an operator's."
    ))
    unassigned: int
    unread: int | None = strawberry.field(description=(
        "With customer messages the calling operator has not read; null with a key that is "
        "not an operator's."
    ))
    needs_human: int
    by_status: list[StatusCount]
    by_mode: list[ModeCount]
    by_channel: list[ChannelCount]
    by_assignee: list[AssigneeCount]


@strawberry.type
class InboxQuery:
    @gql.field(
        "Most recent activity first, or in `orderBy`'s order; `filter` narrows the list (the "
        "team inbox's tabs)."
    )
    async def conversations(
        self, info: Info, first: int | None = None, after: str | None = None,
        filter: ConversationFilter | None = None,
        order_by: ConversationOrder = ConversationOrder.LAST_ACTIVITY,
    ) -> Connection[ConversationType]:
        return await lists.conversations(info, first, after, filter, order_by)

    @gql.field("The tenant's operators, by name.")
    async def operators(self, info: Info) -> list[OperatorType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await service.list_operators(session, tenant_id)
        return [OperatorType.from_row(r) for r in rows]

    @gql.field("The operator whose key is calling; null for a key that is not an operator's.")
    async def me(self, info: Info) -> OperatorType | None:
        tenant_id = await require_tenant(info)
        operator_id = await _operator_id(info)
        if operator_id is None:
            return None
        async with read(info) as session:
            row = await service.get_operator(session, tenant_id, operator_id)
        return OperatorType.from_row(row) if row is not None else None

    @gql.field(
        "Counts of the conversations that match `filter` (the same filter as conversations), "
        "for the inbox's tabs and badges."
    )
    async def conversation_counts(
        self, info: Info, filter: ConversationFilter | None = None
    ) -> ConversationCounts:
        tenant_id = await require_tenant(info)
        operator_id = await _operator_id(info)
        async with driver_connection(info.context.rt.engine) as conn:
            flt = await inbox_filter(info, conn, tenant_id, filter)
            rows = await pages.counts(conn, tenant_id, operator_id, flt)
        total = next(r for r in rows if r["no_status"] and r["no_mode"] and r["no_channel"]
                     and r["no_assignee"])
        by_assignee = [r for r in rows if not r["no_assignee"]]
        return ConversationCounts(
            total=int(total["n"]),
            mine=(sum(int(r["n"]) for r in by_assignee if r["assignee_id"] == operator_id)
                  if operator_id is not None else None),
            unassigned=sum(int(r["n"]) for r in by_assignee if r["assignee_id"] is None),
            unread=int(total["unread"]) if operator_id is not None else None,
            needs_human=int(total["needs_human"]),
            by_status=[StatusCount(status=ConversationStatus(r["status"]), count=int(r["n"]))
                       for r in rows if not r["no_status"]],
            by_mode=[ModeCount(mode=ConversationMode(r["mode"]), count=int(r["n"]))
                     for r in rows if not r["no_mode"]],
            by_channel=[ChannelCount(channel_id=strawberry.ID(str(r["channel_id"])),
                                     count=int(r["n"])) for r in rows if not r["no_channel"]],
            by_assignee=[AssigneeCount(
                assignee_id=strawberry.ID(str(r["assignee_id"])) if r["assignee_id"] else None,
                count=int(r["n"])) for r in by_assignee],
        )


@strawberry.type
class InboxMutation:
    @gql.mutation(
        "A new operator (a person, with a role) and their first API key, shown once. For a "
        "tenant key without an operator or an ADMIN operator; CONFLICT when the e-mail is "
        "taken in this tenant."
    )
    async def create_operator(
        self, info: Info, name: str, email: str, role: OperatorRole = OperatorRole.AGENT
    ) -> CreatedOperator:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.require_manager(session, tenant_id, await _operator_id(info))
            op, key, plain = await service.create_operator(
                session, tenant_id, name=name, email=email, role=role.value,
                max_keys=info.context.rt.settings.max_api_keys_per_tenant,
            )
        return CreatedOperator(operator=OperatorType.from_row(op),
                               api_key=ApiKeyType.from_row(key), key=plain)

    @gql.mutation("Another API key for an operator (shown once); revoke with revokeApiKey.")
    async def create_operator_api_key(
        self, info: Info, operator_id: strawberry.ID
    ) -> CreatedOperatorKey:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.require_manager(session, tenant_id, await _operator_id(info))
            key, plain = await service.create_operator_key(
                session, tenant_id, parse_id(operator_id, "operator"),
                max_keys=info.context.rt.settings.max_api_keys_per_tenant,
            )
        return CreatedOperatorKey(api_key=ApiKeyType.from_row(key), key=plain)

    @gql.mutation(
        "The operator left the team: their keys are revoked (their websockets close) and their "
        "open conversations unassigned; what they wrote still names them. Same permissions "
        "as createOperator."
    )
    async def deactivate_operator(self, info: Info, id: strawberry.ID) -> OperatorType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.require_manager(session, tenant_id, await _operator_id(info))
            op = await service.deactivate_operator(session, tenant_id, parse_id(id, "operator"))
        return OperatorType.from_row(op)

    @gql.mutation(
        "Assign a conversation to an operator (operatorId omitted: to the calling operator). "
        "ConversationUpdated(change: assignee) follows."
    )
    async def assign_conversation(
        self, info: Info, id: strawberry.ID, operator_id: strawberry.ID | None = None
    ) -> ConversationType:
        tenant_id = await require_tenant(info)
        if operator_id is not None:
            assignee = parse_id(operator_id, "operator")
        else:
            assignee = (await require_operator(info))[1]
        async with write(info) as session:
            row = await service.assign(session, tenant_id, parse_id(id, "conversation"), assignee)
        return _node(info, row)

    @gql.mutation("Leave a conversation unassigned.")
    async def unassign_conversation(self, info: Info, id: strawberry.ID) -> ConversationType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.assign(session, tenant_id, parse_id(id, "conversation"), None)
        return _node(info, row)

    @gql.mutation("RESOLVED: done. A customer message reopens it.")
    async def resolve_conversation(self, info: Info, id: strawberry.ID) -> ConversationType:
        return await _set_status(info, id, "resolved")

    @gql.mutation("OPEN again (from RESOLVED, PENDING or SNOOZED).")
    async def reopen_conversation(self, info: Info, id: strawberry.ID) -> ConversationType:
        return await _set_status(info, id, "open")

    @gql.mutation("PENDING: waiting on something else than the team.")
    async def mark_conversation_pending(
        self, info: Info, id: strawberry.ID
    ) -> ConversationType:
        return await _set_status(info, id, "pending")

    @gql.mutation(
        "SNOOZED until `until` (in the future, within a year): OPEN again then, or at the "
        "customer's next message."
    )
    async def snooze_conversation(
        self, info: Info, id: strawberry.ID, until: datetime
    ) -> ConversationType:
        return await _set_status(info, id, "snoozed", until)

    @gql.mutation(
        "The calling operator has read the conversation up to `seq` (omitted: all of it). "
        "A marker never moves back. Needs an operator's key."
    )
    async def mark_conversation_read(
        self, info: Info, id: strawberry.ID, seq: int | None = None
    ) -> ConversationType:
        tenant_id, operator_id = await require_operator(info)
        async with write(info) as session:
            row = await service.mark_read(
                session, tenant_id, operator_id, parse_id(id, "conversation"), seq)
        return _node(info, row)

    @gql.mutation(
        "Tell the others watching that the calling operator is typing in a conversation "
        "(active false: stopped). Repeat it every few seconds while typing: a Typing event "
        "lasts expiresInSeconds. Nothing is stored. Needs an operator's key."
    )
    async def set_typing(
        self, info: Info, conversation_id: strawberry.ID, active: bool = True
    ) -> bool:
        tenant_id, operator_id = await require_operator(info)
        conv_id = parse_id(conversation_id, "conversation")
        async with read(info) as session:
            conv = await session.get(Conversation, conv_id)
            if conv is None or conv.tenant_id != tenant_id:
                raise NotFound("conversation")
            me = await service.get_operator(session, tenant_id, operator_id)
            if me is None:
                raise NotFound("operator")
        event = service.typing_event(conv_id, me, active)
        await flush(Effects(events=[(str(tenant_id), event)]), info.context.rt.redis)
        return True


async def _set_status(
    info: Info, id: strawberry.ID, status: str, until: datetime | None = None
) -> ConversationType:
    tenant_id = await require_tenant(info)
    async with write(info) as session:
        row = await service.set_status(session, tenant_id, parse_id(id, "conversation"), status,
                                       snoozed_until=until)
    return _node(info, row)
