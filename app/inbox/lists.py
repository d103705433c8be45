"""The conversations list with the team inbox's filters and orders: the input checked into
the statement's filter (app/inbox/pages.py), one cursor kind per order, and the plain list
(app/conversations/graphql.py) when none of them is asked for."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.conversations import pages
from app.conversations.graphql import (
    CONVERSATION_CURSOR,
    RELATED_FIELDS,
    ConversationFilter,
    ConversationType,
    conversation_cursor,
    conversation_page,
    load_related,
    total_counter,
)
from app.db import driver_connection
from app.errors import BadUserInput, Forbidden, NotFound
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    connection,
    cursor_int,
    cursor_time,
    decode_cursor,
    decode_time_id,
    encode_cursor,
    invalid_cursor,
    node_fields,
    page_size,
)
from app.graphql.permissions import parse_id, require_tenant
from app.inbox import pages as inbox_pages
from app.inbox.nodes import AssigneeScope, ConversationOrder


async def conversations(
    info: Info, first: int | None, after: str | None, f: ConversationFilter | None,
    order: ConversationOrder,
) -> Connection[ConversationType]:
    tenant_id = await require_tenant(info)
    if order is not ConversationOrder.LAST_ACTIVITY or (
        f is not None and any(getattr(f, name) is not None for name in INBOX_FILTERS)
    ):
        return await inbox_page(info, tenant_id, first, after, f, order)
    return await conversation_page(info, tenant_id, first, after, f)


INBOX_FILTERS = ("channel_ids", "channel_kind", "status", "assignee", "assignee_id",
                 "needs_human", "has_failed_messages", "unread", "active_from", "active_to",
                 "min_lead_fit")


MAX_CHANNEL_IDS = 100


async def inbox_filter(
    info: Info, conn: Any, tenant_id: uuid.UUID, f: ConversationFilter | None
) -> inbox_pages.Filter:
    """The statement's filter from the GraphQL input, each value checked."""
    if f is None:
        return inbox_pages.Filter()
    operator_id = info.context.loaders.operator_id
    ids: list[uuid.UUID] | None = None
    if f.channel_ids is not None or f.channel_id is not None:
        given = [*(f.channel_ids or []), *([f.channel_id] if f.channel_id is not None else [])]
        if len(given) > MAX_CHANNEL_IDS:
            raise BadUserInput(f"channelIds: at most {MAX_CHANNEL_IDS}")
        ids = list({parse_id(c, "channel") for c in given})
        if not await inbox_pages.channels_owned(conn, tenant_id, ids):
            raise NotFound("channel")
    assignee_id = parse_id(f.assignee_id, "operator") if f.assignee_id is not None else None
    if f.assignee is AssigneeScope.MINE:
        if operator_id is None:
            raise Forbidden("assignee MINE needs an operator's API key")
        if assignee_id is not None and assignee_id != operator_id:
            raise BadUserInput("assignee MINE and another assigneeId match nothing together")
        assignee_id = operator_id
    if f.unread is not None and operator_id is None:
        raise Forbidden("the unread filter needs an operator's API key")
    if f.min_lead_fit is not None and not 1 <= f.min_lead_fit <= 3:
        raise BadUserInput("minLeadFit must be between 1 and 3")
    if f.active_from and f.active_to and f.active_from >= f.active_to:
        raise BadUserInput("activeFrom must be before activeTo")
    search = f.search.strip()[:200] if f.search and f.search.strip() else None
    label_id = parse_id(f.label, "label") if f.label is not None else None
    if label_id is not None and not await pages.label_owned(conn, tenant_id, label_id):
        raise NotFound("label")
    unassigned = None
    if f.assignee is AssigneeScope.UNASSIGNED:
        unassigned = True
    elif f.assignee is AssigneeScope.ASSIGNED:
        unassigned = False
    return inbox_pages.Filter(
        channel_ids=ids, mode=f.mode.value if f.mode is not None else None,
        archived=f.archived, statuses=[s.value for s in f.status] if f.status else None,
        assignee_id=assignee_id, unassigned=unassigned,
        channel_kind=f.channel_kind.value if f.channel_kind is not None else None,
        active_from=f.active_from, active_to=f.active_to, needs_human=f.needs_human,
        has_failed=f.has_failed_messages, min_lead_fit=f.min_lead_fit, unread=f.unread,
        search=search, label_id=label_id,
    )


def _inbox_cursor(order: ConversationOrder) -> Callable[[pages.Row], str]:
    tag = f"{CONVERSATION_CURSOR}:{order.value}"
    if order is ConversationOrder.CREATED:
        return lambda r: encode_cursor(tag, r["created_at"].isoformat(), str(r["id"]))
    if order is ConversationOrder.UNREAD_FIRST:
        return lambda r: encode_cursor(tag, r["last_activity_at"].isoformat(), str(r["id"]),
                                       int(r["unread"]))
    return conversation_cursor


def _decode_inbox_cursor(
    cursor: str, order: ConversationOrder
) -> tuple[datetime, uuid.UUID, int]:
    if order is ConversationOrder.LAST_ACTIVITY:
        at, row_id = decode_time_id(cursor, CONVERSATION_CURSOR)
        return at, row_id, 0
    values = decode_cursor(cursor, f"{CONVERSATION_CURSOR}:{order.value}")
    want = 3 if order is ConversationOrder.UNREAD_FIRST else 2
    if len(values) != want or not isinstance(values[1], str):
        raise invalid_cursor()
    try:
        row_id = uuid.UUID(values[1])
    except ValueError:
        raise invalid_cursor() from None
    unread = 0
    if order is ConversationOrder.UNREAD_FIRST:
        unread = cursor_int(values[2])
        if unread > 1:
            raise invalid_cursor()
    return cursor_time(values[0]), row_id, unread


async def inbox_page(
    info: Info, tenant_id: uuid.UUID, first: int | None, after: str | None,
    f: ConversationFilter | None, order: ConversationOrder,
) -> Connection[ConversationType]:
    """The conversations page with the team inbox's filters and orders (app/inbox/pages.py)."""
    limit = page_size(first)
    operator_id = info.context.loaders.operator_id
    if order is ConversationOrder.UNREAD_FIRST and operator_id is None:
        raise Forbidden("orderBy UNREAD_FIRST needs an operator's API key")
    cursor = _decode_inbox_cursor(after, order) if after is not None else None
    wanted = node_fields(info, "edges", "node") & RELATED_FIELDS
    async with driver_connection(info.context.rt.engine) as conn:
        flt = await inbox_filter(info, conn, tenant_id, f)
        rows = await inbox_pages.page(conn, tenant_id, operator_id, flt,
                                      inbox_pages.Order(order.value), limit + 1, cursor)
        related = await load_related(conn, tenant_id, rows[:limit], wanted, operator_id)
    loaders = info.context.loaders
    page = connection(rows, limit, lambda r: ConversationType.from_record(r, loaders, related),
                      _inbox_cursor(order), has_previous=after is not None)
    page.counter = total_counter(info, tenant_id, flt)
    return page
