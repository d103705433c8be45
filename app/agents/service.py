"""Agents: one live agent per channel. Replacing or removing it archives the conversations."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository
from app.channels import repository as channels
from app.channels.service import cache_key
from app.effects import invalidate
from app.errors import NotFound, ValidationFailed
from app.models import Agent, Channel


def _validate(name: str | None, model: str | None, credits_per_reply: int | None) -> None:
    if name is not None and not name.strip():
        raise ValidationFailed("name must not be empty")
    if model is not None and not model.strip():
        raise ValidationFailed("model must not be empty")
    if credits_per_reply is not None and not 0 <= credits_per_reply <= 1_000_000:
        raise ValidationFailed("creditsPerReply must be between 0 and 1000000")


async def retire_agent(session: AsyncSession, channel: Channel) -> Agent | None:
    agent = await repository.live_agent_for_channel(session, channel.id)
    if agent is not None:
        agent.deleted_at = func.now()
        await session.flush()
    return agent


async def create_agent(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    channel_id: uuid.UUID,
    name: str,
    model: str,
    instructions: str = "",
    prompt_id: str | None = None,
    prompt_version: str | None = None,
    credits_per_reply: int = 1,
) -> Agent:
    from app.conversations.service import archive_channel_conversations

    _validate(name, model, credits_per_reply)
    channel = await channels.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    previous = await retire_agent(session, channel)
    if previous is not None:
        # The channel's conversations belonged to the old agent: same transaction, or nothing.
        await archive_channel_conversations(session, channel, reason="agent_replaced")
    agent = Agent(
        id=uuid.uuid4(), tenant_id=tenant_id, channel_id=channel.id, name=name.strip()[:200],
        model=model.strip()[:100], instructions=instructions or "", prompt_id=prompt_id or None,
        prompt_version=prompt_version or None, credits_per_reply=credits_per_reply,
    )
    session.add(agent)
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return agent


async def update_agent(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    *,
    name: str | None = None,
    model: str | None = None,
    instructions: str | None = None,
    prompt_id: str | None = None,
    prompt_version: str | None = None,
    credits_per_reply: int | None = None,
) -> Agent:
    _validate(name, model, credits_per_reply)
    agent = await repository.get_agent(session, tenant_id, agent_id)
    if agent is None:
        raise NotFound("agent")
    if name is not None:
        agent.name = name.strip()[:200]
    if model is not None:
        agent.model = model.strip()[:100]
    if instructions is not None:
        agent.instructions = instructions
    if prompt_id is not None:
        agent.prompt_id = prompt_id or None
    if prompt_version is not None:
        agent.prompt_version = prompt_version or None
    if credits_per_reply is not None:
        agent.credits_per_reply = credits_per_reply
    await session.flush()
    channel = await session.get(Channel, agent.channel_id)
    if channel is not None:
        invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return agent


async def delete_agent(session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    from app.conversations.service import archive_channel_conversations

    agent = await repository.get_agent(session, tenant_id, agent_id)
    if agent is None:
        raise NotFound("agent")
    channel = await channels.get_channel(session, tenant_id, agent.channel_id, for_update=True)
    if channel is None:
        # The channel was deleted meanwhile, and its agent retired with it.
        raise NotFound("agent")
    await archive_channel_conversations(session, channel, reason="agent_deleted")
    agent.deleted_at = func.now()
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
