"""Event payloads published on Redis after commit and delivered to GraphQL subscriptions."""

from __future__ import annotations

from typing import Any

from app.models import Conversation, Message


def message_dict(m: Message) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "conversationId": str(m.conversation_id),
        "seq": m.seq,
        "direction": m.direction,
        "senderRole": m.sender_role,
        "type": m.type,
        "text": m.text,
        "status": m.status,
        "statusReason": m.status_reason,
        "errorCode": m.error_code,
        "errorTitle": m.error_title,
        "providerMessageId": m.provider_message_id,
        "createdAt": m.created_at.isoformat() if m.created_at else None,
    }


def message_created(m: Message) -> dict[str, Any]:
    return {"type": "MessageCreated", "conversationId": str(m.conversation_id),
            "message": message_dict(m)}


def message_status_changed(m: Message) -> dict[str, Any]:
    return {"type": "MessageStatusChanged", "conversationId": str(m.conversation_id),
            "message": message_dict(m)}


def conversation_updated(c: Conversation, change: str) -> dict[str, Any]:
    return {
        "type": "ConversationUpdated",
        "conversationId": str(c.id),
        "change": change,
        "mode": c.mode,
        "archived": c.archived_at is not None,
    }
