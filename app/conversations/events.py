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
        "operatorId": str(m.operator_id) if m.operator_id else None,
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


def conversation_created(first: Message) -> dict[str, Any]:
    """A customer's first message opened a conversation (the inbox's "new conversation")."""
    return {"type": "ConversationCreated", "conversationId": str(first.conversation_id)}


def conversation_reopened(m: Message) -> dict[str, Any]:
    """A customer message reopened a resolved or snoozed conversation."""
    return {"type": "ConversationUpdated", "conversationId": str(m.conversation_id),
            "change": "status", "status": "open", "snoozedUntil": None}


def conversation_status(c: Conversation, change: str) -> dict[str, Any]:
    """An inbox change (change: status or assignee), with the conversation's inbox fields."""
    return {
        "type": "ConversationUpdated",
        "conversationId": str(c.id),
        "change": change,
        "mode": c.mode,
        "archived": c.archived_at is not None,
        "status": c.status,
        "snoozedUntil": c.snoozed_until.isoformat() if c.snoozed_until else None,
        "assigneeId": str(c.assignee_id) if c.assignee_id else None,
    }
