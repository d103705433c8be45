"""Web chat: "sending" is delivering live. The reply is already stored; its MessageCreated
event reaches the visitor's live stream through the realtime hub."""

from __future__ import annotations

import httpx

from app.channels.adapters.base import Recipient, SendResult
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
