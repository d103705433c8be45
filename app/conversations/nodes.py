"""A conversation's contact and messages as GraphQL nodes (from ORM rows, from the plain
rows of app/conversations/pages.py, or from a published event), with their enums."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from app.conversations import pages, retry
from app.conversations.kinds import MessageKind, StatusReason, message_kind, reason_of
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.enums import of
from app.inbox.nodes import OperatorType
from app.media.graphql import AttachmentType
from app.models import Contact, Message
from app.models.states import MessageDirection, MessageStatus, SenderRole

# The states' own StrEnums (app/models/states.py), as GraphQL enums.
strawberry.enum(MessageDirection)
strawberry.enum(SenderRole)
strawberry.enum(MessageStatus, description=(
    "Inbound: RECEIVED → PROCESSING → ANSWERED, or SKIPPED / FAILED (see statusReason). "
    "Outbound: PENDING → SENT → DELIVERED → READ, or FAILED (errorCode, errorTitle) or UNKNOWN. "
    "System markers (e.g. a context reset): RECORDED."
))


@strawberry.type(name="Contact")
class ContactType:
    id: strawberry.ID
    external_id: str = strawberry.field(description="The id replies are addressed to.")
    profile_name: str | None
    wa_id: str | None = strawberry.field(description="WhatsApp only: the customer's number.")
    name: str | None = strawberry.field(default=None, description=(
        "The name the tenant's team gave the contact (updateContact); the provider's profile "
        "name never overwrites it."
    ))
    notes: str | None = strawberry.field(default=None, description=(
        "The team's notes on the contact (updateContact): never sent, never shown to the model."
    ))

    @gql.field("name, else profileName, else externalId: what to call the contact.")
    def display_name(self) -> str:
        return self.name or self.profile_name or self.external_id

    @classmethod
    def from_row(cls, row: Contact) -> ContactType:
        return cls(id=strawberry.ID(str(row.id)), external_id=row.external_id,
                   profile_name=row.profile_name, wa_id=row.wa_id, name=row.name,
                   notes=row.notes)

    @classmethod
    def from_record(cls, r: pages.Row) -> ContactType:
        return cls(id=strawberry.ID(str(r["id"])), external_id=r["external_id"],
                   profile_name=r["profile_name"], wa_id=r["wa_id"], name=r["name"],
                   notes=r["notes"])


# Message types that never carry a file.
TEXT_TYPES = frozenset({"text", "interactive", "button", "location", "contacts", "reaction",
                        "context_reset", "postback"})


@strawberry.type(name="Message")
class MessageType:
    id: strawberry.ID
    conversation_id: strawberry.ID
    seq: int = strawberry.field(description="Position in the conversation, from 1.")
    direction: MessageDirection
    sender_role: SenderRole
    type: MessageKind
    raw_type: str = strawberry.field(description=(
        "The type as stored: the provider's name for it (e.g. what an OTHER type is)."
    ))
    text: str | None
    status: MessageStatus
    status_reason: StatusReason | None = strawberry.field(description=(
        "Why a message was skipped or failed (see StatusReason)."
    ))
    error_code: str | None = strawberry.field(description="The provider's error code.")
    error_title: str | None
    provider_message_id: str | None
    created_at: datetime
    reason: strawberry.Private[str | None] = None
    operator_pk: strawberry.Private[uuid.UUID | None] = None

    @gql.field("Who wrote an OPERATOR message (null when it was sent with a key without an "
               "operator).")
    async def operator(self, info: Info) -> OperatorType | None:
        if self.operator_pk is None:
            return None
        row = await info.context.loaders.operator.load(self.operator_pk)
        return OperatorType.from_row(row) if row is not None else None
    reaction: str | None = strawberry.field(default=None, description=(
        "The customer's reaction (an emoji) to this message; null when none or removed."))

    @gql.field("The files the message carries (photos, voice notes, documents), in order.")
    async def attachments(self, info: Info) -> list[AttachmentType]:
        if self.type in TEXT_TYPES:
            return []  # no query for the messages that cannot carry files
        rows = await info.context.loaders.attachments.load(uuid.UUID(str(self.id)))
        return [AttachmentType.from_row(a, info.context.rt.settings) for a in rows]

    @gql.field(
        "retryMessage may retry it: a FAILED outbound message, or a FAILED inbound one whose "
        "model call failed (statusReason model_error, model_unreachable, model_failed, "
        "model_empty, breaker_open)."
    )
    def retryable(self) -> bool:
        return retry.is_retryable(self.direction.value, self.status.value, self.reason)

    @classmethod
    def from_row(cls, m: Message) -> MessageType:
        return cls(
            id=strawberry.ID(str(m.id)), conversation_id=strawberry.ID(str(m.conversation_id)),
            seq=m.seq, direction=of(MessageDirection, m.direction),
            sender_role=of(SenderRole, m.sender_role), type=message_kind(m.type),
            raw_type=m.type, text=m.text, status=of(MessageStatus, m.status),
            status_reason=reason_of(m.status_reason), reason=m.status_reason,
            error_code=m.error_code, error_title=m.error_title,
            provider_message_id=m.provider_message_id, created_at=m.created_at,
            operator_pk=m.operator_id,
            reaction=(m.meta or {}).get("reaction"),
        )

    @classmethod
    def from_record(cls, r: pages.Row) -> MessageType:
        return cls(
            id=strawberry.ID(str(r["id"])),
            conversation_id=strawberry.ID(str(r["conversation_id"])), seq=r["seq"],
            direction=of(MessageDirection, r["direction"]), sender_role=of(SenderRole, r["sender_role"]),
            type=message_kind(r["type"]), raw_type=r["type"], text=r["text"],
            status=of(MessageStatus, r["status"]), status_reason=reason_of(r["status_reason"]),
            reason=r["status_reason"], error_code=r["error_code"],
            error_title=r["error_title"], provider_message_id=r["provider_message_id"],
            created_at=r["created_at"], operator_pk=r["operator_id"],
            reaction=r.get("reaction"),
        )

    @classmethod
    def from_event(cls, m: dict[str, Any]) -> MessageType:
        """From the payload of app/conversations/events.py (published after commit)."""
        return cls(
            id=strawberry.ID(m["id"]), conversation_id=strawberry.ID(m["conversationId"]),
            seq=m["seq"], direction=of(MessageDirection, m["direction"]),
            sender_role=of(SenderRole, m["senderRole"]), type=message_kind(m.get("type")),
            raw_type=m.get("type") or "text", text=m.get("text"),
            status=of(MessageStatus, m["status"]), status_reason=reason_of(m.get("statusReason")),
            reason=m.get("statusReason"), error_code=m.get("errorCode"),
            error_title=m.get("errorTitle"), provider_message_id=m.get("providerMessageId"),
            created_at=datetime.fromisoformat(m["createdAt"]),
            operator_pk=uuid.UUID(m["operatorId"]) if m.get("operatorId") else None,
        )
