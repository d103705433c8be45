"""Refreshing a channel's copy of its templates from Meta, and learning its business account.

Meta is asked with no transaction open; the answer is stored in a short one. The same
functions serve the API (`templates(refresh: true)`, `refreshTemplates`) and the worker's jobs
(`refresh_templates` after a template status webhook, `learn_business_account` after a
webhook named the number's business account).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.channels.service import cache_key, channel_token
from app.channels.verification import verify_business_account
from app.db import transaction
from app.effects import flush_committed, invalidate, take
from app.errors import ChannelVerificationFailed, DomainError, NotFound
from app.models import Channel
from app.runtime import Runtime
from app.templates import graph, service

log = logging.getLogger("app.templates.refresh")

REFRESH_JOB = "refresh_templates"
LEARN_JOB = "learn_business_account"


def _token(rt: Runtime, channel: Channel) -> str:
    try:
        token = channel_token(channel, rt.settings)
    except ValueError as exc:
        raise ChannelVerificationFailed(f"the channel's token cannot be read: {exc}") from None
    if not token:
        raise ChannelVerificationFailed("the channel has no access token")
    return token


async def refresh(rt: Runtime, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> int:
    """Meta's current list replaces the copy; the number of templates listed."""
    async with rt.sessions() as session:
        channel = await session.get(Channel, channel_id)
    if channel is None or channel.tenant_id != tenant_id or channel.deleted_at is not None:
        raise NotFound("channel")
    service.whatsapp_channel(channel)
    waba = service.requires_business_account(channel)
    listed = await graph.list_templates(rt.http, rt.settings, waba, _token(rt, channel))
    async with transaction(rt.sessions) as session:
        fresh = await session.get(Channel, channel_id, with_for_update=True)
        if fresh is None or fresh.deleted_at is not None:
            raise NotFound("channel")
        return await service.store_templates(session, fresh, listed)


async def set_business_account(rt: Runtime, channel_id: uuid.UUID, waba_id: str) -> bool:
    """Store `waba_id` on the channel once Meta confirmed, to its token, that the business
    account holds the number. False when the channel is gone or already knows it."""
    async with rt.sessions() as session:
        channel = await session.get(Channel, channel_id)
    if channel is None or channel.deleted_at is not None or channel.kind != "whatsapp":
        return False
    if service.business_account_id(channel) == waba_id:
        return False
    await verify_business_account(
        rt.http, rt.settings, waba_id, channel.provider_account_id, _token(rt, channel)
    )
    async with transaction(rt.sessions) as session:
        fresh = await session.get(Channel, channel_id, with_for_update=True)
        if fresh is None or fresh.deleted_at is not None:
            return False
        fresh.settings = {**fresh.settings, "waba_id": waba_id}
        invalidate(session, cache_key(fresh.kind, fresh.provider_account_id))
    await flush_committed(take(session), rt.redis)
    return True


async def refresh_templates(ctx: dict[str, Any], channel_id: str) -> str:
    """Job: a template status webhook arrived for the channel's business account."""
    rt: Runtime = ctx["rt"]
    cid = uuid.UUID(channel_id)
    async with rt.sessions() as session:
        channel = await session.get(Channel, cid)
    if channel is None:
        return "gone"
    try:
        count = await refresh(rt, channel.tenant_id, cid)
    except DomainError as exc:
        log.warning("templates not refreshed: %s", exc.message)
        return "failed"
    return f"listed {count}"


async def learn_business_account(ctx: dict[str, Any], channel_id: str, waba_id: str) -> str:
    """Job: a webhook named the business account of a number whose channel did not know it."""
    rt: Runtime = ctx["rt"]
    try:
        learned = await set_business_account(rt, uuid.UUID(channel_id), waba_id)
    except DomainError as exc:
        log.warning("business account %s not stored: %s", waba_id, exc.message)
        return "refused"
    if not learned:
        return "unchanged"
    await refresh_templates(ctx, channel_id)
    return "learned"
