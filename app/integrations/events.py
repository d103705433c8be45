"""Which changes become which webhook events, and what a delivery's body says. Pure functions:
the outbox (outbox.py) calls them inside the transaction of the change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    CONVERSATION_MODE_CHANGED = "conversation.mode_changed"
    CONVERSATION_HANDOFF_REQUESTED = "conversation.handoff_requested"
    LEAD_UPDATED = "lead.updated"
    LEAD_HOT = "lead.hot"
    CREDITS_LOW = "credits.low"
    CHANNEL_NEEDS_REAUTH = "channel.needs_reauth"


# Deterministic ids for events a change can cause only once (a message is received once, sent
# once): a transaction replayed after a crash, or a batch claimed twice, records them once.
_NAMESPACE = uuid.UUID("6f1d1c52-8f0e-4c59-9a43-3b0f4d1f5a10")


def once_id(subject: str, event_type: EventType) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{subject}:{event_type}")


@dataclass(frozen=True)
class WebhookEvent:
    type: EventType
    id: uuid.UUID
    data: dict[str, Any]

    def body(self, tenant_id: str, at: datetime | None = None) -> dict[str, Any]:
        """The JSON a receiver gets: the event's id (the same on every retry: deduplicate on
        it), type, time, tenant and the object."""
        return {"id": str(self.id), "type": str(self.type),
                "createdAt": (at or datetime.now(UTC)).isoformat(), "tenantId": tenant_id,
                "data": self.data}


_MESSAGE_FIELDS = ("id", "conversationId", "seq", "direction", "senderRole", "type", "text",
                   "status", "statusReason", "errorCode", "errorTitle", "createdAt")


def _message(m: dict[str, Any]) -> dict[str, Any]:
    return {"message": {k: m.get(k) for k in _MESSAGE_FIELDS}}


def from_realtime(event: dict[str, Any]) -> list[WebhookEvent]:
    """The webhook events a dashboard event stands for (the same changes, told to the tenant's
    systems instead of its screens)."""
    kind = event.get("type")
    if kind in ("MessageCreated", "MessageStatusChanged"):
        m = event.get("message") or {}
        mid, status = str(m.get("id")), m.get("status")
        out: list[WebhookEvent] = []
        if m.get("direction") == "inbound" and m.get("senderRole") == "customer" and (
            kind == "MessageCreated" or status != "received"
        ):
            # Stored by the widget (in a transaction), or taken up by a worker (the first
            # change after a webhook stored it): either way once, by its id.
            out.append(WebhookEvent(EventType.MESSAGE_RECEIVED,
                                    once_id(mid, EventType.MESSAGE_RECEIVED), _message(m)))
        if m.get("direction") == "outbound" and status == "sent":
            out.append(WebhookEvent(EventType.MESSAGE_SENT,
                                    once_id(mid, EventType.MESSAGE_SENT), _message(m)))
        if status == "failed":
            out.append(WebhookEvent(EventType.MESSAGE_FAILED,
                                    once_id(mid, EventType.MESSAGE_FAILED), _message(m)))
        return out
    if kind == "ConversationUpdated" and event.get("change") == "mode":
        return [WebhookEvent(EventType.CONVERSATION_MODE_CHANGED, uuid.uuid4(), {
            "conversation": {"id": event.get("conversationId"), "mode": event.get("mode")}})]
    if kind == "ConversationUpdated" and event.get("change") == "handoff_requested":
        # The agent handed the conversation to a person: its mode changed too.
        conversation = {"id": event.get("conversationId"), "mode": event.get("mode")}
        return [
            WebhookEvent(EventType.CONVERSATION_HANDOFF_REQUESTED, uuid.uuid4(),
                         {"conversation": conversation, "reason": event.get("reason")}),
            WebhookEvent(EventType.CONVERSATION_MODE_CHANGED, uuid.uuid4(),
                         {"conversation": conversation}),
        ]
    if kind == "ConversationUpdated" and event.get("change") == "lead":
        return [WebhookEvent(EventType.LEAD_UPDATED, uuid.uuid4(), {
            "conversation": {"id": event.get("conversationId")},
            "lead": {"id": event.get("leadId")}})]
    return []
