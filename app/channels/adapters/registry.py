"""The adapter for each channel kind, chosen from one table."""

from __future__ import annotations

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


def adapter_for(kind: str) -> ChannelAdapter:
    return ADAPTERS[kind]
