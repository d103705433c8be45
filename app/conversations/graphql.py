"""Conversations and their messages: the dashboard's lists, take-over, operator replies."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry

from app.channels.adapters.registry import reply_window_closes_at
from app.channels.graphql import ChannelType
from app.conversations import outbox, pages, retry, search, service, tagging
from app.conversations.nodes import ContactType, MessageType
from app.db import driver_connection
from app.errors import NotFound, ValidationFailed, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.enums import of
from app.graphql.loaders import Loaders
from app.graphql.pagination import (
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    decode_time_id,
    encode_cursor,
    invalid_cursor,
    node_fields,
    page_size,
    time_id_cursor,
)
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.inbox import pages as inbox_pages
from app.inbox.nodes import AssigneeScope, OperatorType
from app.labels.graphql import LabelType
from app.models import Conversation
from app.models.states import ChannelKind, ConversationMode, ConversationStatus
from app.notes.graphql import NoteType, notes_page

if TYPE_CHECKING:
    from app.leads.graphql import LeadType

CONVERSATION_CURSOR = "conv"
MESSAGE_CURSOR = "msg"
MESSAGE_SEARCH_CURSOR = "msgsearch"


strawberry.enum(ConversationMode)  # the state's own StrEnum, as a GraphQL enum


@dataclass
class Related:
    """Nodes a page built for all its conversations at once; None: that kind was not asked
    for (its field then loads its own through the request's DataLoaders)."""

    channels: dict[uuid.UUID, ChannelType] | None = None
    contacts: dict[uuid.UUID, ContactType] | None = None
    last_messages: dict[uuid.UUID, MessageType] | None = None
    labels: dict[uuid.UUID, list[LabelType]] | None = None
    operators: dict[uuid.UUID, OperatorType] | None = None
    reads: dict[uuid.UUID, pages.Row] | None = None


RELATED_FIELDS = frozenset({"channel", "contact", "lastMessage", "replyWindowClosesAt", "labels",
                            "assignee", "unreadCount", "lastReadSeq"})


async def load_related(
    conn: Any, tenant_id: uuid.UUID, rows: Collection[pages.Row], wanted: Collection[str],
    operator_id: uuid.UUID | None = None,
) -> Related:
    """One statement per kind the page asks for, on the page's connection. Read markers are
    the calling operator's (none for a machine key)."""
    related = Related()
    if not rows:
        return related
    if "channel" in wanted or "replyWindowClosesAt" in wanted:
        found = await pages.channels_by_id(conn, tenant_id, list({r["channel_id"] for r in rows}))
        related.channels = {k: ChannelType.from_record(v) for k, v in found.items()}
    if "contact" in wanted:
        found = await pages.contacts_by_id(conn, tenant_id, list({r["contact_id"] for r in rows}))
        related.contacts = {k: ContactType.from_record(v) for k, v in found.items()}
    if "lastMessage" in wanted:
        keys = [(r["id"], r["last_seq"]) for r in rows if r["last_seq"]]
        found = await pages.messages_at(conn, tenant_id, keys) if keys else {}
        related.last_messages = {k: MessageType.from_record(v) for k, v in found.items()}
    if "labels" in wanted:
        related.labels = await tagging.labels_of(conn, tenant_id, [r["id"] for r in rows])
    if "assignee" in wanted:
        ids = list({r["assignee_id"] for r in rows if r["assignee_id"] is not None})
        found = await inbox_pages.operators_by_id(conn, tenant_id, ids) if ids else {}
        related.operators = {k: OperatorType.from_record(v) for k, v in found.items()}
    if operator_id is not None and ("unreadCount" in wanted or "lastReadSeq" in wanted):
        related.reads = await inbox_pages.reads(conn, tenant_id, operator_id,
                                                [r["id"] for r in rows])
    return related


@strawberry.type(name="Conversation")
class ConversationType:
    id: strawberry.ID
    mode: ConversationMode
    archived: bool
    archived_at: datetime | None
    last_activity_at: datetime
    last_inbound_at: datetime | None = strawberry.field(description=(
        "When the customer last wrote."
    ))
    created_at: datetime
    handoff_requested_at: datetime | None = strawberry.field(description=(
        "Set when the agent handed the conversation to a person: waiting for an operator until "
        "one answers or hands it back."
    ))
    handoff_reason: str | None
    pk: strawberry.Private[uuid.UUID]
    channel_pk: strawberry.Private[uuid.UUID]
    contact_pk: strawberry.Private[uuid.UUID]
    last_seq: strawberry.Private[int]
    loaders: strawberry.Private[Loaders]
    related: strawberry.Private[Related | None] = None
    status: ConversationStatus = strawberry.field(default=ConversationStatus.OPEN, description=(
        "The team inbox's status; see ConversationStatus."
    ))
    snoozed_until: datetime | None = strawberry.field(default=None, description=(
        "SNOOZED: when the conversation opens again by itself."
    ))
    status_changed_at: datetime | None = strawberry.field(default=None, description=(
        "When the status last changed (null: OPEN since it began)."
    ))
    assignee_pk: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_row(cls, row: Conversation, loaders: Loaders) -> ConversationType:
        return cls(
            id=strawberry.ID(str(row.id)), mode=of(ConversationMode, row.mode),
            archived=row.archived_at is not None, archived_at=row.archived_at,
            last_activity_at=row.last_activity_at, last_inbound_at=row.last_inbound_at,
            created_at=row.created_at, handoff_requested_at=row.handoff_requested_at,
            handoff_reason=row.handoff_reason, pk=row.id, channel_pk=row.channel_id,
            contact_pk=row.contact_id, last_seq=row.last_seq, loaders=loaders,
            status=of(ConversationStatus, row.status), snoozed_until=row.snoozed_until,
            status_changed_at=row.status_changed_at, assignee_pk=row.assignee_id,
        )

    @classmethod
    def from_record(
        cls, r: pages.Row, loaders: Loaders, related: Related | None
    ) -> ConversationType:
        return cls(
            id=strawberry.ID(str(r["id"])), mode=of(ConversationMode, r["mode"]),
            archived=r["archived_at"] is not None, archived_at=r["archived_at"],
            last_activity_at=r["last_activity_at"], last_inbound_at=r["last_inbound_at"],
            created_at=r["created_at"], handoff_requested_at=r["handoff_requested_at"],
            handoff_reason=r["handoff_reason"], pk=r["id"], channel_pk=r["channel_id"],
            contact_pk=r["contact_id"], last_seq=r["last_seq"], loaders=loaders,
            related=related, status=of(ConversationStatus, r["status"]),
            snoozed_until=r["snoozed_until"], status_changed_at=r["status_changed_at"],
            assignee_pk=r["assignee_id"],
        )

    # channel, contact, last_message and reply_window_closes_at take only `self`, so the
    # executor reads them like attributes (app/graphql/executor.py): a node of a page returns
    # what the page loaded; one on its own returns an awaitable that loads it.
    @strawberry.field
    def channel(self) -> Annotated[ChannelType, strawberry.lazy("app.channels.graphql")]:
        if self.related is not None and self.related.channels is not None:
            return self.related.channels[self.channel_pk]
        return cast(ChannelType, self._channel())

    async def _channel(self) -> ChannelType:
        # Channels are soft-deleted: the row is always there.
        channel = present(await self.loaders.channel.load(self.channel_pk), "channel")
        return ChannelType.from_row(channel)

    @strawberry.field
    def contact(self) -> ContactType:
        if self.related is not None and self.related.contacts is not None:
            return self.related.contacts[self.contact_pk]
        return cast(ContactType, self._contact())

    async def _contact(self) -> ContactType:
        contact = present(await self.loaders.contact.load(self.contact_pk), "contact")
        return ContactType.from_row(contact)

    @gql.field(
        "WhatsApp and Instagram: when free-form replies stop being accepted (24 hours after "
        "the customer's last message). Null for web chat, or before the customer wrote."
    )
    def reply_window_closes_at(self) -> datetime | None:
        if self.related is not None and self.related.channels is not None:
            kind = self.related.channels[self.channel_pk].kind.value
            return reply_window_closes_at(kind, self.last_inbound_at)
        return cast(datetime | None, self._reply_window_closes_at())

    async def _reply_window_closes_at(self) -> datetime | None:
        channel = present(await self.loaders.channel.load(self.channel_pk), "channel")
        return reply_window_closes_at(channel.kind, self.last_inbound_at)

    @gql.field("The operator the conversation is assigned to; null: unassigned.")
    def assignee(self) -> OperatorType | None:
        if self.assignee_pk is None:
            return None
        if self.related is not None and self.related.operators is not None:
            return self.related.operators.get(self.assignee_pk)
        return cast(OperatorType | None, self._assignee())

    async def _assignee(self) -> OperatorType | None:
        if self.assignee_pk is None:
            return None
        row = await self.loaders.operator.load(self.assignee_pk)
        return OperatorType.from_row(row) if row is not None else None

    @gql.field(
        "Customer messages the calling operator has not read (see markConversationRead). "
        "Null with a key that is not an operator's."
    )
    def unread_count(self) -> int | None:
        if self.loaders.operator_id is None:
            return None
        if self.related is not None and self.related.reads is not None:
            found = self.related.reads.get(self.pk)
            return int(found["unread"]) if found is not None else 0
        return cast(int | None, self._read_state(1))

    @gql.field(
        "The seq the calling operator has read up to (0: nothing yet). Null with a key that "
        "is not an operator's."
    )
    def last_read_seq(self) -> int | None:
        if self.loaders.operator_id is None:
            return None
        if self.related is not None and self.related.reads is not None:
            found = self.related.reads.get(self.pk)
            return int(found["last_read_seq"]) if found is not None else 0
        return cast(int | None, self._read_state(0))

    async def _read_state(self, which: int) -> int:
        state = await self.loaders.read_state.load(self.pk)
        return state[which] if state is not None else 0

    @gql.field("The latest lead extracted from this conversation.")
    async def lead(
        self
    ) -> Annotated[LeadType, strawberry.lazy("app.leads.graphql")] | None:
        # Leads sit above conversations: the one reference back, resolved as strawberry does.
        lead_type: type[LeadType] = gql.back_reference("app.leads.graphql", "LeadType")
        row = await self.loaders.latest_lead.load(self.pk)
        return lead_type.from_row(row, self.loaders) if row is not None else None

    @gql.field("The conversation's labels, by name.")
    def labels(self) -> list[LabelType]:
        if self.related is not None and self.related.labels is not None:
            return self.related.labels.get(self.pk, [])
        return cast(list[LabelType], self._labels())

    async def _labels(self) -> list[LabelType]:
        return [LabelType.from_row(r) for r in await self.loaders.labels.load(self.pk)]

    @gql.field(
        "The team's private notes on this conversation, newest first: never sent to the "
        "customer, never shown to the model."
    )
    async def notes(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[NoteType]:
        return await notes_page(info, self.pk, first, after)

    @strawberry.field
    def last_message(self) -> MessageType | None:
        if not self.last_seq:
            return None
        if self.related is not None and self.related.last_messages is not None:
            return self.related.last_messages.get(self.pk)
        return cast(MessageType, self._last_message())

    async def _last_message(self) -> MessageType | None:
        row = await self.loaders.message_at.load((self.pk, self.last_seq))
        return MessageType.from_row(row) if row is not None else None

    @gql.field(
        "In seq order. `first`/`after` pages forwards from the oldest; `last`/`before` "
        "pages backwards from the newest (what a chat view opens with)."
    )
    async def messages(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[MessageType]:
        tenant_id = await require_tenant(info)
        backwards = last is not None or before is not None
        if backwards:
            if first is not None or after is not None:
                raise ValidationFailed("use first/after or last/before, not both")
            limit = page_size(last, "last")
            cursor = before
        else:
            limit = page_size(first)
            cursor = after
        from_seq = _seq(cursor, "before" if backwards else "after") if cursor is not None else None
        async with driver_connection(info.context.rt.engine) as conn:
            rows = await pages.messages_page(
                conn, tenant_id, self.pk, limit + 1, backwards=backwards, from_seq=from_seq
            )
        page = connection(
            rows, limit, MessageType.from_record, _message_cursor,
            has_previous=cursor is not None, reverse=backwards,
        )
        engine, conversation_id = info.context.rt.engine, self.pk

        async def count() -> int:
            async with driver_connection(engine) as conn:
                return await pages.message_count(conn, tenant_id, conversation_id)

        page.counter = count
        return page


def _message_cursor(r: pages.Row) -> str:
    return encode_cursor(MESSAGE_CURSOR, r["seq"])


def _seq(cursor: str, name: str = "after") -> int:
    values = decode_cursor(cursor, MESSAGE_CURSOR, name)
    if len(values) != 1:
        raise invalid_cursor(name)
    return cursor_int(values[0], name)


@strawberry.input
class ConversationFilter:
    channel_id: strawberry.ID | None = None
    mode: ConversationMode | None = None
    search: str | None = strawberry.field(default=None, description=(
        "Matches the contact's name, profile name or external id (e.g. the phone number)."
    ))
    archived: bool | None = strawberry.field(default=None, description=(
        "true: archived only; false: open only; null: both."
    ))
    channel_ids: list[strawberry.ID] | None = strawberry.field(default=None, description=(
        "Any of these channels (at most 100)."
    ))
    channel_kind: ChannelKind | None = None
    status: list[ConversationStatus] | None = strawberry.field(default=None, description=(
        "Any of these statuses."
    ))
    assignee: AssigneeScope | None = None
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "Assigned to this operator."
    ))
    needs_human: bool | None = strawberry.field(default=None, description=(
        "true: the agent asked for a person, or the conversation is HUMAN and the customer's "
        "message is its latest; false: neither."
    ))
    has_failed_messages: bool | None = strawberry.field(default=None, description=(
        "true: some message is FAILED or SKIPPED; false: none is."
    ))
    unread: bool | None = strawberry.field(default=None, description=(
        "true: with customer messages the calling operator has not read (needs an operator's "
        "key); false: read up to date."
    ))
    active_from: datetime | None = strawberry.field(default=None, description=(
        "Last activity at or after this time."
    ))
    active_to: datetime | None = strawberry.field(default=None, description=(
        "Last activity before this time."
    ))
    min_lead_fit: int | None = strawberry.field(default=None, description=(
        "1-3: the latest lead's fit is at least this."
    ))
    label: strawberry.ID | None = strawberry.field(default=None, description=(
        "Only conversations carrying this label."
    ))


def conversation_cursor(r: pages.Row) -> str:
    return time_id_cursor(CONVERSATION_CURSOR, r["last_activity_at"], r["id"])


async def conversation_page(
    info: Info, tenant_id: uuid.UUID, first: int | None, after: str | None,
    f: ConversationFilter | None,
) -> Connection[ConversationType]:
    """The page without the team inbox's filters and orders (app/inbox/lists.py has those):
    the statements of app/conversations/pages.py, tuned for the plain list."""
    limit = page_size(first)
    cursor = decode_time_id(after, CONVERSATION_CURSOR) if after is not None else None
    channel_id = parse_id(f.channel_id, "channel") if f and f.channel_id is not None else None
    search = f.search.strip()[:200] if f and f.search and f.search.strip() else None
    label_id = parse_id(f.label, "label") if f and f.label is not None else None
    wanted = node_fields(info, "edges", "node") & RELATED_FIELDS
    async with driver_connection(info.context.rt.engine) as conn:
        if channel_id is not None and not await pages.channel_owned(conn, tenant_id, channel_id):
            raise NotFound("channel")
        if label_id is not None and not await pages.label_owned(conn, tenant_id, label_id):
            raise NotFound("label")
        rows = await pages.conversation_page(
            conn, tenant_id, limit + 1, after=cursor, channel_id=channel_id,
            mode=f.mode.value if f and f.mode is not None else None,
            archived=f.archived if f else None, search=search, label_id=label_id,
        )
        related = await load_related(conn, tenant_id, rows[:limit], wanted,
                                     info.context.loaders.operator_id)
    loaders = info.context.loaders
    page = connection(rows, limit, lambda r: ConversationType.from_record(r, loaders, related),
                      conversation_cursor, has_previous=after is not None)
    page.counter = total_counter(info, tenant_id, inbox_pages.Filter(
        channel_ids=[channel_id] if channel_id is not None else None,
        mode=f.mode.value if f and f.mode is not None else None,
        archived=f.archived if f else None, search=search, label_id=label_id,
    ))
    return page


def total_counter(
    info: Info, tenant_id: uuid.UUID, f: inbox_pages.Filter
) -> Callable[[], Awaitable[int]]:
    """totalCount, counted only when the query asks for it."""
    engine, operator_id = info.context.rt.engine, info.context.loaders.operator_id

    async def count() -> int:
        async with driver_connection(engine) as conn:
            return await inbox_pages.total(conn, tenant_id, operator_id, f)

    return count


@strawberry.type
class MessageSearchHit:
    message: MessageType
    conversation: ConversationType


def _search_cursor(r: pages.Row) -> str:
    return time_id_cursor(MESSAGE_SEARCH_CURSOR, r["created_at"], r["id"])


async def message_search(
    info: Info, text: str, first: int | None, after: str | None, channel: strawberry.ID | None
) -> Connection[MessageSearchHit]:
    """A page of matches, their conversations and what the query asks of those (channel,
    contact, last message): one statement each, on one connection."""
    tenant_id = await require_tenant(info)
    limit = page_size(first)
    term = text.strip()[:search.MAX_TERM_CHARS]
    if len(term) < search.MIN_TERM_CHARS:
        raise ValidationFailed(f"text must have at least {search.MIN_TERM_CHARS} characters")
    cursor = decode_time_id(after, MESSAGE_SEARCH_CURSOR) if after is not None else None
    channel_id = parse_id(channel, "channel") if channel is not None else None
    wanted = node_fields(info, "edges", "node", "conversation") & RELATED_FIELDS
    async with driver_connection(info.context.rt.engine) as conn:
        if channel_id is not None and not await pages.channel_owned(conn, tenant_id, channel_id):
            raise NotFound("channel")
        rows = await search.search_messages(
            conn, tenant_id, term, limit + 1, after=cursor, channel_id=channel_id
        )
        found = await pages.conversations_by_id(
            conn, tenant_id, list({r["conversation_id"] for r in rows[:limit]})
        ) if rows else {}
        related = await load_related(conn, tenant_id, list(found.values()), wanted)
    loaders = info.context.loaders
    nodes = {k: ConversationType.from_record(r, loaders, related) for k, r in found.items()}
    return connection(
        rows, limit,
        lambda r: MessageSearchHit(message=MessageType.from_record(r),
                                   conversation=nodes[r["conversation_id"]]),
        _search_cursor, has_previous=after is not None,
    )


@strawberry.type
class ConversationQuery:
    @gql.field(
        "Messages whose text contains `text` (at least 3 characters; case-insensitive), "
        "newest first, each with its conversation. `channelId` narrows it to one channel."
    )
    async def search_messages(
        self, info: Info, text: str, first: int | None = None, after: str | None = None,
        channel_id: strawberry.ID | None = None,
    ) -> Connection[MessageSearchHit]:
        return await message_search(info, text, first, after, channel_id)

    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> ConversationType | None:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            row = await service.get_conversation(session, tenant_id, parse_id(id, "conversation"))
        if row is None:
            raise NotFound("conversation")
        return ConversationType.from_row(row, info.context.loaders)


@strawberry.type
class ConversationMutation:
    @gql.mutation("HUMAN stops the AI; AI hands back (the model is told).")
    async def set_conversation_mode(
        self, info: Info, id: strawberry.ID, mode: ConversationMode
    ) -> ConversationType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.set_mode(session, tenant_id, parse_id(id, "conversation"), mode.value)
        return ConversationType.from_row(row, info.context.loaders)

    @gql.mutation(
        "Reply as an operator: the conversation switches to HUMAN and the text goes out through "
        "its channel. With an operator's key the message names them (Message.operator), and an "
        "unassigned conversation is assigned to them. The message is returned PENDING; "
        "MessageStatusChanged follows. WhatsApp and Instagram refuse with WINDOW_CLOSED once "
        "the 24-hour window has closed. `attachments`: ids from POST /media/uploads (images, "
        "documents; WhatsApp and web chat), sent with the text as their caption."
    )
    async def send_operator_message(
        self, info: Info, conversation_id: strawberry.ID, text: str = "",
        attachments: list[strawberry.ID] | None = None,
    ) -> MessageType:
        tenant_id = await require_tenant(info)
        operator_id = (await info.context.principal()).operator_id
        files = [parse_id(a, "attachment") for a in attachments or ()]
        async with write(info) as session:
            msg = await outbox.send_operator_message(
                session, tenant_id, parse_id(conversation_id, "conversation"), text, files,
                operator_id=operator_id,
            )
        return MessageType.from_row(msg)

    @gql.mutation(
        "Retry a FAILED message (see Message.retryable). Outbound: sent again, as the same "
        "message. Inbound, when its model call failed: its whole batch goes back to RECEIVED "
        "and is answered again, in order, charged once when the reply is sent."
    )
    async def retry_message(self, info: Info, id: strawberry.ID) -> MessageType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            msg = await retry.retry_failed(session, tenant_id, parse_id(id, "message"))
        return MessageType.from_row(msg)
