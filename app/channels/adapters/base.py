"""One interface for every channel kind: parse what the provider sends, send what we answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from app.config import Settings


@dataclass
class InboundMessage:
    """A customer's message as every adapter reports it."""

    account_id: str  # our provider account: phone_number_id, IG account id, widget public id
    provider_message_id: str
    external_id: str  # the customer, as replies address them
    type: str
    text: str | None  # the part the agent answers; None when the type is not answered
    answerable: bool
    raw: dict[str, Any]
    timestamp: datetime | None = None
    profile_name: str | None = None
    wa_id: str | None = None
    business_user_id: str | None = None
    # A reaction: the provider id of the message it reacts to, and the emoji (None: removed).
    reacts_to: str | None = None
    reaction: str | None = None


@dataclass
class StatusUpdate:
    """A provider's delivery report for one of our messages."""

    account_id: str
    provider_message_id: str
    status: str  # sent, delivered, read, failed
    error_code: str | None = None
    error_title: str | None = None
    our_message_id: str | None = None


@dataclass
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: int = 0  # echoes, malformed items, events we only log
    # WhatsApp: the business account (entry.id) each phone_number_id's changes came under.
    business_accounts: dict[str, str] = field(default_factory=dict)
    # WhatsApp: business accounts Meta reported a template change for.
    template_accounts: list[str] = field(default_factory=list)


@dataclass
class Recipient:
    external_id: str
    wa_id: str | None = None
    business_user_id: str | None = None


@dataclass
class OutboundMedia:
    """A file an operator sends (image or document), read from the media store."""

    kind: str  # image | document
    mime_type: str
    file_name: str | None
    data: bytes


@dataclass
class SendResult:
    provider_message_ids: list[str]


class SendError(Exception):
    """A provider refused or failed a send.

    `kind` decides what happens next: `retry` (transient: throughput, pair rate, 5xx),
    `window_closed` (outside the 24-hour window), `reauth` (token expired or revoked),
    `permanent` (fix the request; never retried) and `unknown` (the request left and no answer
    came back: it may have been delivered, so it is never resent blindly).
    """

    def __init__(self, kind: str, code: str | None, title: str, *, retry_after_s: float = 0):
        super().__init__(f"{kind}: {code} {title}")
        self.kind = kind
        self.code = code
        self.title = title
        self.retry_after_s = retry_after_s


class ChannelAdapter(Protocol):
    kind: str

    async def send_text(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        account_id: str,
        token: str | None,
        to: Recipient,
        text: str,
        our_message_id: str,
    ) -> SendResult: ...

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
    ) -> SendResult: ...
