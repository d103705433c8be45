"""Agents: one live agent per channel. Replacing or removing it archives the conversations."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository
from app.channels import repository as channels
from app.channels.service import cache_key
from app.config import Settings
from app.effects import invalidate
from app.errors import BadUserInput, NotFound, ValidationFailed
from app.models import Agent, Channel

MAX_NAME_CHARS = 200
# About 5,000 tokens: a long system prompt, not a document sent with every reply.
MAX_INSTRUCTIONS_CHARS = 20_000
MAX_PROMPT_ID_CHARS = 200
MAX_PROMPT_VERSION_CHARS = 50
MAX_CREDITS_PER_REPLY = 1_000_000


def _check_length(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise BadUserInput(f"{field} must be at most {limit} characters")


def _validate(
    settings: Settings, *, name: str | None, model: str | None, instructions: str | None,
    prompt_id: str | None, prompt_version: str | None, credits_per_reply: int | None,
) -> None:
    """What a tenant may set: the platform pays for every model call, so the price of a reply
    and the model it runs on are the operator's to bound (MIN_CREDITS_PER_REPLY, AGENT_MODELS)."""
    if name is not None and not name.strip():
        raise ValidationFailed("name must not be empty")
    _check_length("name", name, MAX_NAME_CHARS)
    if model is not None and model.strip() not in settings.allowed_models:
        raise BadUserInput(f"model must be one of: {', '.join(settings.allowed_models)}")
    _check_length("instructions", instructions, MAX_INSTRUCTIONS_CHARS)
    _check_length("promptId", prompt_id, MAX_PROMPT_ID_CHARS)
    _check_length("promptVersion", prompt_version, MAX_PROMPT_VERSION_CHARS)
    low = settings.min_credits_per_reply
    if credits_per_reply is not None and not low <= credits_per_reply <= MAX_CREDITS_PER_REPLY:
        raise BadUserInput(f"creditsPerReply must be between {low} and {MAX_CREDITS_PER_REPLY}")


async def retire_agent(session: AsyncSession, channel: Channel) -> Agent | None:
    agent = await repository.live_agent_for_channel(session, channel.id)
    if agent is not None:
        agent.deleted_at = func.now()
        await session.flush()
    return agent


async def create_agent(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    *,
    channel_id: uuid.UUID,
    name: str,
    model: str,
    instructions: str = "",
    prompt_id: str | None = None,
    prompt_version: str | None = None,
    credits_per_reply: int | None = None,
) -> Agent:
    """`credits_per_reply`: the platform's minimum when not given."""
    from app.conversations.service import archive_channel_conversations

    _validate(settings, name=name, model=model, instructions=instructions, prompt_id=prompt_id,
              prompt_version=prompt_version, credits_per_reply=credits_per_reply)
    channel = await channels.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    previous = await retire_agent(session, channel)
    if previous is not None:
        # The channel's conversations belonged to the old agent: same transaction, or nothing.
        await archive_channel_conversations(session, channel, reason="agent_replaced")
    agent = Agent(
        id=uuid.uuid4(), tenant_id=tenant_id, channel_id=channel.id, name=name.strip(),
        model=model.strip(), instructions=instructions or "", prompt_id=prompt_id or None,
        prompt_version=prompt_version or None,
        credits_per_reply=(
            settings.min_credits_per_reply if credits_per_reply is None else credits_per_reply
        ),
    )
    session.add(agent)
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return agent


async def update_agent(
    session: AsyncSession,
    settings: Settings,
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
    _validate(settings, name=name, model=model, instructions=instructions, prompt_id=prompt_id,
              prompt_version=prompt_version, credits_per_reply=credits_per_reply)
    agent = await repository.get_agent(session, tenant_id, agent_id)
    if agent is None:
        raise NotFound("agent")
    if name is not None:
        agent.name = name.strip()
    if model is not None:
        agent.model = model.strip()
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
    assert channel is not None
    await archive_channel_conversations(session, channel, reason="agent_deleted")
    agent.deleted_at = func.now()
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
