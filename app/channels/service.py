"""Channels: connect, update and remove business accounts. Tokens are encrypted at rest."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import repository
from app.config import Settings
from app.crypto import decrypt_token, encrypt_token
from app.effects import invalidate
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import Channel
from app.models.channel import CHANNEL_KINDS, CHANNEL_STATUSES


def cache_key(kind: str, provider_account_id: str) -> str:
    return f"mca:chan:{kind}:{provider_account_id}"


def channel_token(channel: Channel, settings: Settings) -> str | None:
    if channel.access_token_encrypted is None:
        return None
    return decrypt_token(channel.access_token_encrypted, settings.required("app_encryption_key"))


def _validate(kind: str, provider_account_id: str, access_token: str | None) -> None:
    if kind not in CHANNEL_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(CHANNEL_KINDS)}")
    if kind != "webchat" and not provider_account_id.strip():
        raise ValidationFailed("providerAccountId is required")
    if kind != "webchat" and not access_token:
        raise ValidationFailed("accessToken is required for WhatsApp and Instagram channels")
    if len(provider_account_id) > 128:
        raise ValidationFailed("providerAccountId is too long")


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
) -> Channel:
    kind = kind.lower()
    # A web widget's public id is ours to choose: unguessable, safe to put in a page.
    account = (provider_account_id or "").strip() or (
        "wc_" + secrets.token_urlsafe(12) if kind == "webchat" else ""
    )
    _validate(kind, account, access_token)
    channel = Channel(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        provider_account_id=account,
        display_name=(display_name or "")[:200],
        access_token_encrypted=(
            encrypt_token(access_token, settings.required("app_encryption_key"))
            if access_token else None
        ),
        status="active",
        settings=options or {},
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
) -> Channel:
    channel = await repository.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    if display_name is not None:
        channel.display_name = display_name[:200]
    if access_token:
        channel.access_token_encrypted = encrypt_token(
            access_token, settings.required("app_encryption_key")
        )
        # A new token is the fix for needs_reauth.
        if channel.status == "needs_reauth":
            channel.status = "active"
    if status is not None:
        if status not in CHANNEL_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(CHANNEL_STATUSES)}")
        channel.status = status
    if options is not None:
        channel.settings = {**channel.settings, **options}
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return channel


async def delete_channel(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    from app.agents.service import retire_agent
    from app.conversations.service import archive_channel_conversations

    channel = await repository.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    await archive_channel_conversations(session, channel, reason="channel_deleted")
    await retire_agent(session, channel)
    channel.deleted_at = func.now()
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))


async def mark_needs_reauth(session: AsyncSession, channel_id: uuid.UUID) -> Channel | None:
    channel = await session.get(Channel, channel_id)
    if channel is not None and channel.status != "needs_reauth":
        channel.status = "needs_reauth"
        await session.flush()
        invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return channel
