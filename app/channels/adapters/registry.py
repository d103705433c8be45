"""The adapter for each channel kind, chosen from one table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.channels.adapters.base import ChannelAdapter
from app.channels.adapters.instagram import InstagramAdapter
from app.channels.adapters.webchat import WebChatAdapter
from app.channels.adapters.whatsapp import WhatsAppAdapter

ADAPTERS: dict[str, ChannelAdapter] = {
    "whatsapp": WhatsAppAdapter(),
    "instagram": InstagramAdapter(),
    "webchat": WebChatAdapter(),
}

# Kinds whose free-form replies must go out within 24 hours of the customer's last message.
WINDOWED_KINDS = frozenset({"whatsapp", "instagram"})
REPLY_WINDOW = timedelta(hours=24)


def reply_window_closes_at(kind: str, last_inbound_at: datetime | None) -> datetime | None:
    """When free-form replies stop being accepted; None where there is no window (web chat)."""
    if kind not in WINDOWED_KINDS or last_inbound_at is None:
        return None
    return last_inbound_at + REPLY_WINDOW


def window_open(kind: str, last_inbound_at: datetime | None, now: datetime | None = None) -> bool:
    if kind not in WINDOWED_KINDS:
        return True
    closes = reply_window_closes_at(kind, last_inbound_at)
    return closes is not None and (now or datetime.now(UTC)) < closes


# Instagram: a person's reply (never the agent's) may go out up to 7 days after the customer's
# last message, tagged HUMAN_AGENT (messaging_type MESSAGE_TAG).
HUMAN_AGENT_KINDS = frozenset({"instagram"})
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"


def human_agent_window_open(
    kind: str, last_inbound_at: datetime | None, now: datetime | None = None
) -> bool:
    return (kind in HUMAN_AGENT_KINDS and last_inbound_at is not None
            and (now or datetime.now(UTC)) < last_inbound_at + HUMAN_AGENT_WINDOW)


def human_agent_tag(
    kind: str, sender_role: str, last_inbound_at: datetime | None, now: datetime | None = None
) -> str | None:
    """The tag an outbound message needs: HUMAN_AGENT for a person's Instagram reply past the
    24-hour window and within 7 days; None otherwise (the agent's replies never carry it)."""
    if sender_role != "operator" or window_open(kind, last_inbound_at, now):
        return None
    return HUMAN_AGENT_TAG if human_agent_window_open(kind, last_inbound_at, now) else None


def adapter_for(kind: str) -> ChannelAdapter:
    return ADAPTERS[kind]
