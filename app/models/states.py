"""Every state a row moves through, one StrEnum each: the models' check constraints, the
statements' parameters, the services and the GraphQL enums all use these.

A member is its value (`MessageStatus.ANSWERED == "answered"`), so rows read as plain strings
compare equal to members, and members bind as plain text parameters. Hand-written statements
that name a state in their SQL text (a partial index's predicate must be a literal to be used)
spell the value; tests/unit/test_states.py checks every such literal against these enums.
"""

from __future__ import annotations

from enum import StrEnum


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    SYSTEM = "system"


class SenderRole(StrEnum):
    CUSTOMER = "customer"
    AI = "ai"
    OPERATOR = "operator"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    """Inbound: received → processing → answered, or skipped / failed. Outbound (the delivery
    states): pending → sent → delivered → read, or failed / unknown. System markers: recorded."""

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


INBOUND_STATUSES = (
    MessageStatus.RECEIVED, MessageStatus.PROCESSING, MessageStatus.ANSWERED,
    MessageStatus.SKIPPED, MessageStatus.FAILED,
)
# An outbound message's delivery: what the send and the provider's status webhooks move it to.
OUTBOUND_STATUSES = (
    MessageStatus.PENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ,
    MessageStatus.FAILED, MessageStatus.UNKNOWN,
)
SYSTEM_STATUSES = (MessageStatus.RECORDED,)


class ConversationMode(StrEnum):
    AI = "ai"
    HUMAN = "human"


class ConversationStatus(StrEnum):
    """The team inbox's status of a conversation (app/inbox/)."""

    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class ChannelKind(StrEnum):
    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    WEBCHAT = "webchat"


class ChannelStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"


class ReservationState(StrEnum):
    """Credits held for a batch: reserved → committed (the reply went out) or released."""

    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"


def sql_list(values: tuple[StrEnum, ...] | type[StrEnum]) -> str:
    """`('a', 'b')`: the values as a SQL list, for a check constraint."""
    return "(" + ", ".join(f"'{v.value}'" for v in values) + ")"
