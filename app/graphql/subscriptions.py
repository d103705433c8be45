"""Live events: `conversationEvents` and `creditBalance`, fed by the process's hub.

No gaps. Every message event carries a `cursor` (a timestamp and the message id). A client
that reconnects with `after: <last cursor>` first gets, from Postgres, every message changed
since then, and then the live events. The subscription registers with the hub *before* it
reads Postgres, so an event committed in between is in its queue; live events already covered
by the replay are dropped. When the hub reports a gap (this subscriber fell behind, or Redis
had to be reconnected), the subscription replays from Postgres the same way, after telling the
client with `EventsMissed`.

`updated_at` is the start time of the transaction that wrote a row, not its commit time, so a
row can become visible with a timestamp a little older than one already delivered. Replays
therefore start REPLAY_OVERLAP before the cursor: some events repeat, none are lost. Clients
apply message events by message id (an upsert), which makes repeats harmless.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import strawberry
from sqlalchemy import select

from app.conversations.graphql import ConversationType
from app.conversations.kinds import ConversationChange
from app.conversations.nodes import MessageType
from app.errors import NotFound
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.enums import member
from app.graphql.pagination import cursor_time, decode_cursor, encode_cursor, invalid_cursor
from app.graphql.permissions import parse_id, require_tenant
from app.leads.graphql import LeadType
from app.models import Conversation, Message, Tenant
from app.models.message import WITHOUT_RAW
from app.models.states import ConversationMode, ConversationStatus
from app.notes.graphql import NoteType
from app.realtime.hub import RECEIVED_AT, RECEIVED_MONO, Gap

log = logging.getLogger("app.graphql.subscriptions")

EVENT_CURSOR = "ev"
REPLAY_OVERLAP = timedelta(seconds=60)
REPLAY_LIMIT = 500
# A tenant-wide replay is bounded by message creation time so it can use
# ix_messages_tenant_id_created_at; a status change to an older message is not replayed there.
TENANT_REPLAY_HORIZON = timedelta(days=7)
MESSAGE_EVENTS = frozenset({"MessageCreated", "MessageStatusChanged"})
NOTE_EVENTS = frozenset({"NoteAdded", "NoteDeleted"})
CONVERSATION_EVENTS = (MESSAGE_EVENTS | {"ConversationUpdated", "ConversationCreated", "Typing"}
                       | NOTE_EVENTS)
# The agent is working on a reply while an inbound message is PROCESSING; it stopped when the
# message settles.
AGENT_SETTLED = frozenset({"answered", "failed", "skipped"})
_CONVERTED = "_graphql"


@strawberry.type
class MessageCreated:
    cursor: str = strawberry.field(description="Pass as `after` when resubscribing.")
    conversation_id: strawberry.ID
    message: MessageType


@strawberry.type
class MessageStatusChanged:
    cursor: str = strawberry.field(description="Pass as `after` when resubscribing.")
    conversation_id: strawberry.ID
    message: MessageType


@strawberry.type
class ConversationUpdated:
    conversation_id: strawberry.ID
    change: ConversationChange
    mode: ConversationMode | None
    archived: bool | None
    lead_id: strawberry.ID | None = strawberry.field(description="With change LEAD: the new lead.")
    status: ConversationStatus | None = strawberry.field(default=None, description=(
        "With change STATUS, ASSIGNEE and SYNC: the status now."
    ))
    snoozed_until: datetime | None = None
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "With change STATUS, ASSIGNEE and SYNC: the assignee now (null: unassigned)."
    ))

    @gql.field("The conversation as it is now (read when asked).")
    async def conversation(self, info: Info) -> ConversationType | None:
        row = await info.context.loaders.conversation.load(uuid.UUID(self.conversation_id))
        return ConversationType.from_row(row, info.context.loaders) if row is not None else None

    @gql.field("The conversation's latest lead (read when asked).")
    async def lead(self, info: Info) -> LeadType | None:
        row = await info.context.loaders.latest_lead.load(uuid.UUID(self.conversation_id))
        return LeadType.from_row(row, info.context.loaders) if row is not None else None


@strawberry.enum(description=(
    "OVERFLOW: this subscriber fell behind and events were dropped; RECONNECT: the server's "
    "event connection was re-established; TOO_MANY: more happened since `after` than a replay "
    "carries."
))
class MissedReason(enum.StrEnum):
    OVERFLOW = "overflow"
    RECONNECT = "reconnect"
    TOO_MANY = "too_many"


@strawberry.type(description=(
    "A customer's first message opened a new conversation (its MessageCreated follows)."
))
class ConversationCreated:
    conversation_id: strawberry.ID

    @gql.field("The conversation as it is now (read when asked).")
    async def conversation(self, info: Info) -> ConversationType | None:
        row = await info.context.loaders.conversation.load(uuid.UUID(self.conversation_id))
        return ConversationType.from_row(row, info.context.loaders) if row is not None else None


@strawberry.enum
class TypingActor(enum.Enum):
    AGENT = "agent"
    OPERATOR = "operator"


@strawberry.type(description=(
    "Someone is working on a reply. AGENT: the AI took up the customer's messages (active) "
    "or settled them. OPERATOR: an operator is typing (setTyping); the signal lapses after "
    "expiresInSeconds unless repeated. Live only, never replayed."
))
class Typing:
    conversation_id: strawberry.ID
    actor: TypingActor
    active: bool
    operator_id: strawberry.ID | None
    operator_name: str | None
    expires_in_seconds: int | None


@strawberry.type(description=(
    "Live delivery was interrupted (see reason). When "
    "messagesReplayed is true the message events since then follow; refetch anything else "
    "you show (conversation modes, the conversation list)."
))
class EventsMissed:
    reason: MissedReason
    messages_replayed: bool


@strawberry.type(description="A note was added to the conversation (live only: not replayed).")
class NoteAdded:
    conversation_id: strawberry.ID
    note: NoteType


@strawberry.type(description="A note was deleted (live only: not replayed).")
class NoteDeleted:
    conversation_id: strawberry.ID
    note_id: strawberry.ID


ConversationEvent = Annotated[
    MessageCreated | MessageStatusChanged | ConversationUpdated | EventsMissed | NoteAdded
    | NoteDeleted | ConversationCreated | Typing,
    strawberry.union("ConversationEvent"),
]


def event_cursor(at: datetime, message_id: str) -> str:
    return encode_cursor(EVENT_CURSOR, at.isoformat(), message_id)


def decode_event_cursor(cursor: str) -> datetime:
    values = decode_cursor(cursor, EVENT_CURSOR)
    if not values:
        raise invalid_cursor()
    return cursor_time(values[0])


def _from_row(m: Message, since: datetime) -> MessageCreated | MessageStatusChanged:
    cursor = event_cursor(m.updated_at, str(m.id))
    cid = strawberry.ID(str(m.conversation_id))
    if m.created_at > since - REPLAY_OVERLAP:
        return MessageCreated(cursor=cursor, conversation_id=cid, message=MessageType.from_row(m))
    return MessageStatusChanged(cursor=cursor, conversation_id=cid, message=MessageType.from_row(m))


LiveEvent = (MessageCreated | MessageStatusChanged | ConversationUpdated | ConversationCreated
             | Typing | NoteAdded | NoteDeleted)


def _from_live(event: dict[str, Any]) -> LiveEvent:
    """The GraphQL object of a hub event, built once per event and shared by its subscribers."""
    cached = event.get(_CONVERTED)
    if cached is None:
        cached = event[_CONVERTED] = _convert(event)
    return cached


def _convert(event: dict[str, Any]) -> LiveEvent:
    kind = event["type"]
    cid = strawberry.ID(event["conversationId"])
    if kind == "NoteAdded":
        return NoteAdded(conversation_id=cid, note=NoteType.from_event(event["note"]))
    if kind == "NoteDeleted":
        return NoteDeleted(conversation_id=cid, note_id=strawberry.ID(event["noteId"]))
    if kind == "ConversationUpdated":
        mode = event.get("mode")
        status = event.get("status")
        snoozed = event.get("snoozedUntil")
        return ConversationUpdated(
            conversation_id=cid,
            change=member(ConversationChange, event.get("change"), ConversationChange.OTHER),
            mode=ConversationMode(mode) if mode else None, archived=event.get("archived"),
            lead_id=strawberry.ID(event["leadId"]) if event.get("leadId") else None,
            status=ConversationStatus(status) if status else None,
            snoozed_until=datetime.fromisoformat(snoozed) if snoozed else None,
            assignee_id=strawberry.ID(event["assigneeId"]) if event.get("assigneeId") else None,
        )
    if kind == "ConversationCreated":
        return ConversationCreated(conversation_id=cid)
    if kind == "Typing":
        return Typing(
            conversation_id=cid, actor=TypingActor(event["actor"]), active=bool(event["active"]),
            operator_id=strawberry.ID(event["operatorId"]) if event.get("operatorId") else None,
            operator_name=event.get("operatorName"),
            expires_in_seconds=event.get("expiresInSeconds"),
        )
    message = MessageType.from_event(event["message"])
    cursor = event_cursor(event[RECEIVED_AT], str(message.id))
    if kind == "MessageCreated":
        return MessageCreated(cursor=cursor, conversation_id=cid, message=message)
    return MessageStatusChanged(cursor=cursor, conversation_id=cid, message=message)


class _Stream:
    """One subscription's replay state: what the last replay delivered, and when it read."""

    def __init__(self, info: Info, tenant_id: uuid.UUID, conversation_id: uuid.UUID | None,
                 since: datetime) -> None:
        self.info = info
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.since = since
        self.replayed: dict[str, str] = {}  # message id -> status the last replay delivered
        self.replay_started = 0.0

    async def replay(self) -> tuple[list[ConversationEvent], bool]:
        """Events since `self.since` from Postgres; False if there were too many to replay."""
        self.replay_started = time.monotonic()
        floor = self.since - REPLAY_OVERLAP
        q = select(Message).options(WITHOUT_RAW).where(
            Message.tenant_id == self.tenant_id, Message.updated_at > floor
        )
        if self.conversation_id is not None:
            q = q.where(Message.conversation_id == self.conversation_id)
        else:
            q = q.where(Message.created_at > floor - TENANT_REPLAY_HORIZON)
        # Equal stamps (one clock tick) keep the conversation's own order: a reply never
        # replays before the message it answers.
        q = q.order_by(Message.updated_at, Message.seq, Message.id).limit(REPLAY_LIMIT + 1)
        async with self.info.context.rt.sessions() as session:
            rows = list((await session.scalars(q)).all())
            conv = None
            if self.conversation_id is not None:
                conv = await session.get(Conversation, self.conversation_id)
        if len(rows) > REPLAY_LIMIT:
            # The client was told to refetch; later gaps replay from here, not from the past.
            self.replayed = {}
            self.since = datetime.now(UTC)
            return [], False
        self.replayed = {str(m.id): m.status for m in rows}
        events: list[ConversationEvent] = [_from_row(m, self.since) for m in rows]
        if rows:
            self.since = max(self.since, rows[-1].updated_at)
        if conv is not None:
            events.append(ConversationUpdated(
                conversation_id=strawberry.ID(str(conv.id)), change=ConversationChange.SYNC,
                mode=ConversationMode(conv.mode), archived=conv.archived_at is not None,
                lead_id=None, status=ConversationStatus(conv.status),
                snoozed_until=conv.snoozed_until,
                assignee_id=strawberry.ID(str(conv.assignee_id)) if conv.assignee_id else None,
            ))
        return events, True

    def is_duplicate(self, event: dict[str, Any]) -> bool:
        if event.get("type") not in MESSAGE_EVENTS:
            return False
        # Committed before the replay read it: the replay already showed this state.
        if event.get(RECEIVED_MONO, 0.0) < self.replay_started:
            return True
        message = event.get("message") or {}
        return self.replayed.get(str(message.get("id"))) == message.get("status")

    def advance(self, event: dict[str, Any]) -> None:
        if event.get("type") in MESSAGE_EVENTS:
            self.since = max(self.since, event[RECEIVED_AT])


async def _conversation_events(
    info: Info, tenant_id: uuid.UUID, conversation_id: uuid.UUID | None, after: str | None
) -> AsyncGenerator[ConversationEvent, None]:
    stream = _Stream(info, tenant_id, conversation_id,
                     decode_event_cursor(after) if after else datetime.now(UTC))
    topic_conv = str(conversation_id) if conversation_id else None
    with info.context.hub.subscribe(str(tenant_id), topic_conv, CONVERSATION_EVENTS) as sub:
        if after is not None:
            events, complete = await stream.replay()
            if not complete:
                yield EventsMissed(reason=MissedReason.TOO_MANY, messages_replayed=False)
            for ev in events:
                yield ev
        while True:
            item = await sub.get()
            if isinstance(item, Gap):
                events, complete = await stream.replay()
                yield EventsMissed(reason=MissedReason(item.reason), messages_replayed=complete)
                for ev in events:
                    yield ev
                continue
            if stream.is_duplicate(item):
                continue
            try:
                live = _from_live(item)
            except (KeyError, TypeError, ValueError):
                log.warning("skipping a malformed %s event", item.get("type"))
                continue
            stream.advance(item)
            yield live
            agent = _agent_typing(item)
            if agent is not None:
                yield agent


def _agent_typing(event: dict[str, Any]) -> Typing | None:
    """The AI's working indicator, read off its inbound messages' status changes."""
    if event.get("type") != "MessageStatusChanged":
        return None
    message = event.get("message") or {}
    if message.get("direction") != "inbound":
        return None
    status = message.get("status")
    if status != "processing" and status not in AGENT_SETTLED:
        return None
    return Typing(
        conversation_id=strawberry.ID(event["conversationId"]), actor=TypingActor.AGENT,
        active=status == "processing", operator_id=None, operator_name=None,
        expires_in_seconds=None,
    )


NOTICE_EVENTS = frozenset({"TenantNotice"})


@strawberry.type(description=(
    "Something about the tenant's account an operator should know, e.g. kind "
    "webhook_endpoint_disabled: an event webhook endpoint failed for too long and was "
    "switched off (endpointId)."
))
class Notice:
    kind: str
    message: str
    at: datetime
    endpoint_id: strawberry.ID | None


async def _balance(info: Info, tenant_id: uuid.UUID) -> int:
    async with info.context.rt.sessions() as session:
        balance = await session.scalar(select(Tenant.credit_balance).where(Tenant.id == tenant_id))
    return int(balance or 0)


@strawberry.type
class Subscription:
    @gql.subscription(
        "Message and conversation events of one conversation, or of every conversation of the "
        "tenant when conversationId is omitted. `after`: the cursor of the last event seen; "
        "what happened since is replayed first."
    )
    async def conversation_events(
        self, info: Info, conversation_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        tenant_id = await require_tenant(info)
        conv_id = None
        if conversation_id is not None:
            conv_id = parse_id(conversation_id, "conversation")
            async with info.context.rt.sessions() as session:
                owned = await session.scalar(select(Conversation.id).where(
                    Conversation.id == conv_id, Conversation.tenant_id == tenant_id))
            if owned is None:
                raise NotFound("conversation")
        if after is not None:
            decode_event_cursor(after)  # refuse a bad cursor before anything is delivered
        async for event in _conversation_events(info, tenant_id, conv_id, after):
            yield event

    @gql.subscription("Notices about the tenant's account, as they happen (live only).")
    async def notices(self, info: Info) -> AsyncGenerator[Notice, None]:
        tenant_id = await require_tenant(info)
        with info.context.hub.subscribe(str(tenant_id), None, NOTICE_EVENTS) as sub:
            while True:
                item = await sub.get()
                if isinstance(item, Gap):
                    continue
                try:
                    yield Notice(
                        kind=str(item["kind"]), message=str(item["message"]),
                        at=datetime.fromisoformat(item["at"]),
                        endpoint_id=strawberry.ID(item["endpointId"])
                        if item.get("endpointId") else None,
                    )
                except (KeyError, TypeError, ValueError):
                    log.warning("skipping a malformed notice")

    @gql.subscription("The tenant's credit balance: now, then on every change.")
    async def credit_balance(self, info: Info) -> AsyncGenerator[int, None]:
        tenant_id = await require_tenant(info)
        with info.context.hub.subscribe(str(tenant_id), None, frozenset({"CreditBalance"})) as sub:
            yield await _balance(info, tenant_id)
            while True:
                item = await sub.get()
                if isinstance(item, Gap):
                    yield await _balance(info, tenant_id)
                elif isinstance(item.get("balance"), int):
                    yield item["balance"]
