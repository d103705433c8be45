"""A conversation's contact and messages as GraphQL nodes (from ORM rows, from the plain
rows of app/conversations/pages.py, or from a published event), with their enums."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.conversations import pages, retry
from app.graphql import fields as gql
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

    @classmethod
    def from_row(cls, row: Contact) -> ContactType:
        return cls(id=strawberry.ID(str(row.id)), external_id=row.external_id,
                   profile_name=row.profile_name, wa_id=row.wa_id)

    @classmethod
    def from_record(cls, r: pages.Row) -> ContactType:
        return cls(id=strawberry.ID(str(r["id"])), external_id=r["external_id"],
                   profile_name=r["profile_name"], wa_id=r["wa_id"])


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

    @gql.field(
        "retryMessage may retry it: a FAILED outbound message, or a FAILED inbound one whose "
        "model call failed (statusReason model_error, model_unreachable, model_failed, "
        "model_empty, breaker_open)."
    )
    def retryable(self) -> bool:
        return retry.is_retryable(self.direction.value, self.status.value, self.status_reason)

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
    def from_record(cls, r: pages.Row) -> MessageType:
        return cls(
            id=strawberry.ID(str(r["id"])),
            conversation_id=strawberry.ID(str(r["conversation_id"])), seq=r["seq"],
            direction=MessageDirection(r["direction"]), sender_role=SenderRole(r["sender_role"]),
            type=r["type"], text=r["text"], status=MessageStatus(r["status"]),
            status_reason=r["status_reason"], error_code=r["error_code"],
            error_title=r["error_title"], provider_message_id=r["provider_message_id"],
            created_at=r["created_at"],
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
