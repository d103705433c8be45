"""Conversations and their messages: the dashboard's lists, take-over, operator replies."""

from __future__ import annotations

import asyncio
import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from sqlalchemy import Select, or_, select, tuple_
from strawberry.types.nodes import SelectedField

from app.channels.adapters.registry import reply_window_closes_at
from app.conversations import outbox, service
from app.errors import NotFound, ValidationFailed, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    connection,
    decode_cursor,
    decode_time_id,
    encode_cursor,
    page_size,
    time_id_cursor,
)
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.models import Channel, Contact, Conversation, Message
from app.models.message import WITHOUT_RAW

if TYPE_CHECKING:
    from app.channels.graphql import ChannelType
    from app.leads.graphql import LeadType

CONVERSATION_CURSOR = "conv"
MESSAGE_CURSOR = "msg"


@strawberry.enum
class ConversationMode(enum.Enum):
    AI = "ai"
    HUMAN = "human"


@strawberry.enum
class MessageDirection(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    SYSTEM = "system"


@strawberry.enum
class SenderRole(enum.Enum):
    CUSTOMER = "customer"
    AI = "ai"
    OPERATOR = "operator"
    SYSTEM = "system"


@strawberry.enum(description=(
    "Inbound: RECEIVED → PROCESSING → ANSWERED, or SKIPPED / FAILED (see statusReason). "
    "Outbound: PENDING → SENT → DELIVERED → READ, or FAILED (errorCode, errorTitle) or UNKNOWN. "
    "System markers (e.g. a context reset): RECORDED."
))
class MessageStatus(enum.Enum):
    RECEIVED = "received"
    PROCESSING = "processing"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    FAILED = "failed"
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNKNOWN = "unknown"
    RECORDED = "recorded"


@strawberry.type(name="Contact")
class ContactType:
    id: strawberry.ID
    external_id: str = strawberry.field(description="The id replies are addressed to.")
    profile_name: str | None
    wa_id: str | None = strawberry.field(description="WhatsApp only: the customer's number.")

    @classmethod
    def from_row(cls, row: Contact) -> ContactType:
        return cls(id=strawberry.ID(str(row.id)), external_id=row.external_id,
                   profile_name=row.profile_name, wa_id=row.wa_id)


@strawberry.type(name="Message")
class MessageType:
    id: strawberry.ID
    conversation_id: strawberry.ID
    seq: int = strawberry.field(description="Position in the conversation, from 1.")
    direction: MessageDirection
    sender_role: SenderRole
    type: str = strawberry.field(description="text, image, ... or a system marker: context_reset.")
    text: str | None
    status: MessageStatus
    status_reason: str | None = strawberry.field(description=(
        "Why a message was skipped or failed: human_mode, no_credits, window_closed, ..."
    ))
    error_code: str | None = strawberry.field(description="The provider's error code.")
    error_title: str | None
    provider_message_id: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, m: Message) -> MessageType:
        return cls(
            id=strawberry.ID(str(m.id)), conversation_id=strawberry.ID(str(m.conversation_id)),
            seq=m.seq, direction=MessageDirection(m.direction),
            sender_role=SenderRole(m.sender_role), type=m.type, text=m.text,
            status=MessageStatus(m.status), status_reason=m.status_reason,
            error_code=m.error_code, error_title=m.error_title,
            provider_message_id=m.provider_message_id, created_at=m.created_at,
        )

    @classmethod
    def from_event(cls, m: dict[str, Any]) -> MessageType:
        """From the payload of app/conversations/events.py (published after commit)."""
        return cls(
            id=strawberry.ID(m["id"]), conversation_id=strawberry.ID(m["conversationId"]),
            seq=m["seq"], direction=MessageDirection(m["direction"]),
            sender_role=SenderRole(m["senderRole"]), type=m.get("type") or "text",
            text=m.get("text"), status=MessageStatus(m["status"]),
            status_reason=m.get("statusReason"), error_code=m.get("errorCode"),
            error_title=m.get("errorTitle"), provider_message_id=m.get("providerMessageId"),
            created_at=datetime.fromisoformat(m["createdAt"]),
        )


@dataclass
class Related:
    """Rows a conversations page loaded for all its nodes; None: that kind was not asked for."""

    channels: dict[uuid.UUID, Channel] | None = None
    contacts: dict[uuid.UUID, Contact] | None = None
    last_messages: dict[uuid.UUID, Message] | None = None


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
    row: strawberry.Private[Conversation]
    # Related rows a page loaded for all its nodes at once (see _prefetch): their fields then
    # resolve without a coroutine per node. None: each field loads its own.
    related: strawberry.Private[Related | None] = None

    @classmethod
    def from_row(cls, row: Conversation, related: Related | None = None) -> ConversationType:
        return cls(
            id=strawberry.ID(str(row.id)), mode=ConversationMode(row.mode),
            archived=row.archived_at is not None, archived_at=row.archived_at,
            last_activity_at=row.last_activity_at, last_inbound_at=row.last_inbound_at,
            created_at=row.created_at, row=row, related=related,
        )

    # channel, contact and last_message return their value when the page prefetched it, else
    # an awaitable that the executor awaits (a synchronous resolver may return either).
    @strawberry.field
    def channel(
        self, info: Info
    ) -> Annotated[ChannelType, strawberry.lazy("app.channels.graphql")]:
        from app.channels.graphql import ChannelType

        if self.related is not None and self.related.channels is not None:
            return ChannelType.from_row(self.related.channels[self.row.channel_id])
        return cast(ChannelType, self._channel(info))

    async def _channel(self, info: Info) -> Any:
        from app.channels.graphql import ChannelType

        # Channels are soft-deleted: the row is always there.
        channel = present(await info.context.loaders.channel.load(self.row.channel_id), "channel")
        return ChannelType.from_row(channel)

    @strawberry.field
    def contact(self, info: Info) -> ContactType:
        if self.related is not None and self.related.contacts is not None:
            return ContactType.from_row(self.related.contacts[self.row.contact_id])
        return cast(ContactType, self._contact(info))

    async def _contact(self, info: Info) -> ContactType:
        contact = present(await info.context.loaders.contact.load(self.row.contact_id), "contact")
        return ContactType.from_row(contact)

    @gql.field(
        "WhatsApp and Instagram: when free-form replies stop being accepted (24 hours after "
        "the customer's last message). Null for web chat, or before the customer wrote."
    )
    async def reply_window_closes_at(self, info: Info) -> datetime | None:
        channel = present(await info.context.loaders.channel.load(self.row.channel_id), "channel")
        return reply_window_closes_at(channel.kind, self.row.last_inbound_at)

    @gql.field("The latest lead extracted from this conversation.")
    async def lead(
        self, info: Info
    ) -> Annotated[LeadType, strawberry.lazy("app.leads.graphql")] | None:
        from app.leads.graphql import LeadType

        row = await info.context.loaders.latest_lead.load(self.row.id)
        return LeadType.from_row(row) if row is not None else None

    @strawberry.field
    def last_message(self, info: Info) -> MessageType | None:
        if not self.row.last_seq:
            return None
        if self.related is not None and self.related.last_messages is not None:
            row = self.related.last_messages.get(self.row.id)
            return MessageType.from_row(row) if row is not None else None
        return cast(MessageType, self._last_message(info))

    async def _last_message(self, info: Info) -> MessageType | None:
        row = await info.context.loaders.message_at.load((self.row.id, self.row.last_seq))
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
        if last is not None or before is not None:
            if first is not None or after is not None:
                raise ValidationFailed("use first/after or last/before, not both")
            limit = page_size(last, "last")
            q = _messages(tenant_id, self.row.id)
            if before is not None:
                q = q.where(Message.seq < _seq(before))
            q = q.order_by(Message.seq.desc()).limit(limit + 1)
        else:
            limit = page_size(first)
            q = _messages(tenant_id, self.row.id)
            if after is not None:
                q = q.where(Message.seq > _seq(after))
            q = q.order_by(Message.seq).limit(limit + 1)
        async with read(info) as session:
            rows: list[Message] = list((await session.scalars(q)).all())
        backwards = last is not None or before is not None
        return connection(
            rows, limit, MessageType.from_row, message_cursor,
            has_previous=(before if backwards else after) is not None, reverse=backwards,
        )


def message_cursor(m: Message) -> str:
    return encode_cursor(MESSAGE_CURSOR, m.seq)


def _seq(cursor: str) -> int:
    values = decode_cursor(cursor, MESSAGE_CURSOR)
    if len(values) != 1 or not isinstance(values[0], int):
        raise ValidationFailed("invalid cursor")
    return values[0]


def _messages(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Select[Message]:
    return select(Message).options(WITHOUT_RAW).where(
        Message.conversation_id == conversation_id, Message.tenant_id == tenant_id
    )


@strawberry.input
class ConversationFilter:
    channel_id: strawberry.ID | None = None
    mode: ConversationMode | None = None
    search: str | None = strawberry.field(default=None, description=(
        "Matches the contact's profile name or external id (e.g. the phone number)."
    ))
    archived: bool | None = strawberry.field(default=None, description=(
        "true: archived only; false: open only; null: both."
    ))


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _conversation_page(
    info: Info, tenant_id: uuid.UUID, limit: int, after: str | None, f: ConversationFilter | None
) -> list[Conversation]:
    # Walks ix_conversations_tenant_id_last_activity_at backwards from the cursor.
    q = select(Conversation).where(Conversation.tenant_id == tenant_id)
    async with read(info) as session:
        if f is not None:
            if f.channel_id is not None:
                channel_id = parse_id(f.channel_id, "channel")
                owned = await session.scalar(
                    select(Channel.id).where(Channel.id == channel_id, Channel.tenant_id == tenant_id)
                )
                if owned is None:
                    raise NotFound("channel")
                q = q.where(Conversation.channel_id == channel_id)
            if f.mode is not None:
                q = q.where(Conversation.mode == f.mode.value)
            if f.archived is not None:
                q = q.where(
                    Conversation.archived_at.is_not(None) if f.archived
                    else Conversation.archived_at.is_(None)
                )
            if f.search and f.search.strip():
                pattern = _like(f.search.strip()[:200])
                q = q.where(Conversation.contact_id.in_(
                    select(Contact.id).where(
                        Contact.tenant_id == tenant_id,
                        or_(Contact.profile_name.ilike(pattern, escape="\\"),
                            Contact.external_id.ilike(pattern, escape="\\")),
                    )
                ))
        if after is not None:
            at, cid = decode_time_id(after, CONVERSATION_CURSOR)
            q = q.where(tuple_(Conversation.last_activity_at, Conversation.id) < tuple_(at, cid))
        q = q.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(limit + 1)
        return list((await session.scalars(q)).all())


_PREFETCHED = frozenset({"channel", "contact", "lastMessage"})


def _node_fields(info: Info) -> set[str]:
    """The fields a conversations page asks of each node (edges { node { ... } })."""
    names: set[str] = set()

    def walk(selections: list[Any], depth: int) -> None:
        for sel in selections:
            if not isinstance(sel, SelectedField):
                walk(sel.selections, depth)  # fragments: same level
            elif depth == 2:
                names.add(sel.name)
            elif (depth, sel.name) in ((0, "edges"), (1, "node")):
                walk(sel.selections, depth + 1)

    for selected in info.selected_fields:
        walk(selected.selections, 0)
    return names


async def _prefetch(info: Info, rows: list[Conversation]) -> Related | None:
    """The kinds of related rows the page asks for (channels, contacts, last messages), each
    in one batched query through the request's DataLoaders, so nothing is read twice."""
    wanted = _node_fields(info) & _PREFETCHED
    if not wanted or not rows:
        return None
    loaders = info.context.loaders
    related = Related()

    async def channels() -> None:
        ids = list({r.channel_id for r in rows})
        found = await loaders.channel.load_many(ids)
        related.channels = {i: c for i, c in zip(ids, found, strict=True) if c is not None}

    async def contacts() -> None:
        ids = list({r.contact_id for r in rows})
        found = await loaders.contact.load_many(ids)
        related.contacts = {i: c for i, c in zip(ids, found, strict=True) if c is not None}

    async def last_messages() -> None:
        keys = [(r.id, r.last_seq) for r in rows if r.last_seq]
        found = await loaders.message_at.load_many(keys)
        related.last_messages = {k[0]: m for k, m in zip(keys, found, strict=True) if m is not None}

    loads = {"channel": channels, "contact": contacts, "lastMessage": last_messages}
    # Concurrently, as the fields' own loads would have been: three short sessions.
    await asyncio.gather(*(loads[name]() for name in wanted))
    return related


def _conversation_cursor(c: Conversation) -> str:
    return time_id_cursor(CONVERSATION_CURSOR, c.last_activity_at, c.id)


@strawberry.type
class ConversationQuery:
    @gql.field("Most recent activity first.")
    async def conversations(
        self, info: Info, first: int | None = None, after: str | None = None,
        filter: ConversationFilter | None = None,
    ) -> Connection[ConversationType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        rows = await _conversation_page(info, tenant_id, limit, after, filter)
        related = await _prefetch(info, rows[:limit])
        return connection(rows, limit, lambda r: ConversationType.from_row(r, related),
                          _conversation_cursor, has_previous=after is not None)

    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> ConversationType | None:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            row = await service.get_conversation(session, tenant_id, parse_id(id, "conversation"))
        if row is None:
            raise NotFound("conversation")
        return ConversationType.from_row(row)


@strawberry.type
class ConversationMutation:
    @gql.mutation("HUMAN stops the AI; AI hands back (the model is told).")
    async def set_conversation_mode(
        self, info: Info, id: strawberry.ID, mode: ConversationMode
    ) -> ConversationType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.set_mode(session, tenant_id, parse_id(id, "conversation"), mode.value)
        return ConversationType.from_row(row)

    @gql.mutation(
        "Reply as an operator: the conversation switches to HUMAN and the text goes out through "
        "its channel. The message is returned PENDING; MessageStatusChanged follows. WhatsApp "
        "and Instagram refuse with WINDOW_CLOSED once the 24-hour window has closed."
    )
    async def send_operator_message(
        self, info: Info, conversation_id: strawberry.ID, text: str
    ) -> MessageType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            msg = await outbox.send_operator_message(
                session, tenant_id, parse_id(conversation_id, "conversation"), text
            )
        return MessageType.from_row(msg)

    @gql.mutation("Send a FAILED outbound message again (same message).")
    async def retry_message(self, info: Info, id: strawberry.ID) -> MessageType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            msg = await outbox.retry_message(session, tenant_id, parse_id(id, "message"))
        return MessageType.from_row(msg)
