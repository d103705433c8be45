"""Web chat: "sending" is delivering live. The reply is already stored; its MessageCreated
event reaches the visitor's live stream through the realtime hub."""

from __future__ import annotations

import httpx

from app.channels.adapters.base import OutboundMedia, Recipient, SendResult
from app.config import Settings


class WebChatAdapter:
    kind = "webchat"

    async def send_text(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        account_id: str,
        token: str | None,
        to: Recipient,
        text: str,
        our_message_id: str,
    ) -> SendResult:
        return SendResult([f"wc.{our_message_id}"])

    async def send_media(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        account_id: str,
        token: str | None,
        to: Recipient,
        media: list[OutboundMedia],
        caption: str,
        our_message_id: str,
    ) -> SendResult:
        # The files are kept with the message: the visitor's page loads them by signed link.
        return SendResult([f"wc.{our_message_id}"])
