"""Channels: connect, update and remove business accounts. Tokens are encrypted at rest."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import repository
from app.channels.verification import VerifiedAccount
from app.config import Settings
from app.crypto import decrypt_token, encrypt_token
from app.effects import invalidate
from app.errors import (
    BadUserInput,
    ChannelVerificationFailed,
    Conflict,
    NotFound,
    ValidationFailed,
)
from app.integrations import outbox
from app.integrations.events import EventType, WebhookEvent
from app.models import Channel
from app.models.channel import CHANNEL_KINDS, CHANNEL_STATUSES
from app.models.states import ChannelStatus


def cache_key(kind: str, provider_account_id: str) -> str:
    return f"mca:chan:{kind}:{provider_account_id}"


def channel_token(channel: Channel, settings: Settings) -> str | None:
    if channel.access_token_encrypted is None:
        return None
    return decrypt_token(channel.access_token_encrypted, settings.required("app_encryption_key"))


MAX_DISPLAY_NAME_CHARS = 200
MAX_ACCESS_TOKEN_CHARS = 4096
# Meta's phone number ids and Instagram account ids are numbers; anything else could point
# the ownership lookup at another Graph path (`me`, `../`).
MAX_META_ACCOUNT_DIGITS = 32


def check_access_token(access_token: str) -> None:
    if len(access_token) > MAX_ACCESS_TOKEN_CHARS:
        raise BadUserInput(f"accessToken must be at most {MAX_ACCESS_TOKEN_CHARS} characters")
    # It travels in an Authorization header: a line break or a space would split or end it.
    if not (access_token.isascii() and access_token.isprintable()) or " " in access_token:
        raise BadUserInput("accessToken must be printable ASCII without spaces")


def check_display_name(display_name: str) -> None:
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise BadUserInput(f"displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters")


def check_connection(kind: str, provider_account_id: str, access_token: str | None) -> None:
    """The input of a connection, before Meta is asked about it."""
    if kind not in CHANNEL_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(CHANNEL_KINDS)}")
    if len(provider_account_id) > 128:
        raise BadUserInput("providerAccountId must be at most 128 characters")
    if kind == "webchat":
        return
    if not provider_account_id.strip():
        raise ValidationFailed("providerAccountId is required")
    if not access_token:
        raise ValidationFailed("accessToken is required for WhatsApp and Instagram channels")
    if not (provider_account_id.isascii() and provider_account_id.isdigit()
            and len(provider_account_id) <= MAX_META_ACCOUNT_DIGITS):
        raise BadUserInput(
            "providerAccountId must be the numeric WhatsApp phone number id or Instagram account id"
        )
    check_access_token(access_token)


def _require_verified(kind: str, account: str, verified: VerifiedAccount | None) -> VerifiedAccount:
    # The one gate every path that stores a Meta token goes through (GraphQL, seeds, tests).
    if verified is None or verified.kind != kind or verified.account_id != account:
        raise ChannelVerificationFailed(
            "channel verification failed: the access token was not verified for this account"
        )
    return verified


def account_id_for(kind: str, provider_account_id: str | None) -> str:
    """The account id a new channel will have: a web widget's public id is ours to choose
    (unguessable, safe to put in a page)."""
    account = (provider_account_id or "").strip()
    if not account and kind.lower() == "webchat":
        return "wc_" + secrets.token_urlsafe(12)
    return account


async def create_channel(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    *,
    kind: str,
    provider_account_id: str | None,
    access_token: str | None,
    display_name: str = "",
    options: dict[str, Any] | None = None,
    verified: VerifiedAccount | None = None,
) -> Channel:
    """`verified`: Meta's answer for this token and account (see verification.py); required
    for WhatsApp and Instagram, whose token is only stored once it proved it owns the account."""
    kind = kind.lower()
    account = account_id_for(kind, provider_account_id)
    check_connection(kind, account, access_token)
    check_display_name(display_name or "")
    stored = dict(options or {})
    if kind != "webchat":
        proof = _require_verified(kind, account, verified)
        stored["account"] = proof.as_settings()
        display_name = display_name or proof.name
    elif access_token:
        raise ValidationFailed("accessToken applies to WhatsApp and Instagram channels only")
    channel = Channel(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        provider_account_id=account,
        display_name=display_name or "",
        access_token_encrypted=(
            encrypt_token(access_token, settings.required("app_encryption_key"))
            if access_token else None
        ),
        status=ChannelStatus.ACTIVE,
        settings=stored,
    )
    session.add(channel)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("this provider account is already connected") from None
    invalidate(session, cache_key(kind, account))
    return channel


async def update_channel(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    channel_id: uuid.UUID,
    *,
    display_name: str | None = None,
    access_token: str | None = None,
    status: str | None = None,
    options: dict[str, Any] | None = None,
    verified: VerifiedAccount | None = None,
) -> Channel:
    """A new `access_token` needs `verified`, as on create: a token of another business
    must not take over the channel's number either."""
    channel = await repository.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    if display_name is not None:
        check_display_name(display_name)
        channel.display_name = display_name
    if access_token:
        if channel.kind == "webchat":
            raise ValidationFailed("accessToken applies to WhatsApp and Instagram channels only")
        check_access_token(access_token)
        proof = _require_verified(channel.kind, channel.provider_account_id, verified)
        channel.access_token_encrypted = encrypt_token(access_token, settings.required("app_encryption_key"))
        channel.settings = {**channel.settings, "account": proof.as_settings()}
        # A new token is the fix for needs_reauth.
        if channel.status == ChannelStatus.NEEDS_REAUTH:
            channel.status = ChannelStatus.ACTIVE
    if status is not None:
        if status not in CHANNEL_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(CHANNEL_STATUSES)}")
        channel.status = status
    if options is not None:
        channel.settings = {**channel.settings, **options}
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return channel


async def mark_needs_reauth(session: AsyncSession, channel_id: uuid.UUID) -> Channel | None:
    channel = await session.get(Channel, channel_id)
    if channel is not None and channel.status != ChannelStatus.NEEDS_REAUTH:
        channel.status = ChannelStatus.NEEDS_REAUTH
        await session.flush()
        invalidate(session, cache_key(channel.kind, channel.provider_account_id))
        outbox.record(session, channel.tenant_id, WebhookEvent(
            EventType.CHANNEL_NEEDS_REAUTH, uuid.uuid4(),
            {"channel": {"id": str(channel.id), "kind": channel.kind,
                         "providerAccountId": channel.provider_account_id,
                         "displayName": channel.display_name}}))
    return channel
